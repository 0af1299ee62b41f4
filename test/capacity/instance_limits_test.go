package capacity

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

const podIPStory = " Prevents: pod IP range exhausted, half the pods Pending (Love Holidays, GKE)."

// TestInstanceLimitsAtPlan: terraform plan against moto's instance data
// refuses max pods the instance type's default network card cannot
// address (p5.48xlarge holds 100, not the 3,138 of all its 64 ENIs;
// c6in.32xlarge 394, not 786), accepts c6in.32xlarge at exactly 394 with
// EKS's 250 recommendation as a warning, and refuses prefix delegation on
// a Xen type.
func TestInstanceLimitsAtPlan(t *testing.T) {
	tg := fixture.Moto(t)
	cluster := fixture.Unique("limits")
	subnets := tg.Network(t, "10.30.0.0/16", "10.30.0.0/20")
	tg.Cluster(t, cluster, subnets)
	opts := tg.Terraform(t, "test/capacity/testdata/instance_limits", map[string]any{
		"cluster_name": cluster, "subnet_ids": subnets, "instance_type": "m6i.large", "max_pods_per_node": 20, "pod_ip_mode": "vpc_cni",
	})
	terraform.InitContext(t, context.Background(), opts)
	plan := func(instanceType string, maxPods int, mode string) *terraform.Options {
		o := *opts
		o.Vars = map[string]any{}
		for k, v := range opts.Vars {
			o.Vars[k] = v
		}
		o.Vars["instance_type"], o.Vars["max_pods_per_node"], o.Vars["pod_ip_mode"] = instanceType, maxPods, mode
		return &o
	}

	refused := []struct {
		name, instanceType, mode string
		maxPods                  int
		want                     string
	}{
		{
			name: "p5.48xlarge at 150 pods", instanceType: "p5.48xlarge", maxPods: 150, mode: "vpc_cni",
			want: `[POOL_MAX_PODS_ABOVE_INSTANCE_LIMIT] max_pods_per_node 150 is above the 100 pods p5.48xlarge can address in vpc_cni mode ` +
				`(2 ENIs × (50 IPv4 per ENI − 1) + 2): the kubelet would admit pods the CNI cannot give an address. ` +
				`Lower max_pods_per_node to 100 or use a larger instance type or pod_ip_mode = "vpc_cni_prefix".` + podIPStory,
		},
		{
			name: "c6in.32xlarge at 500 pods", instanceType: "c6in.32xlarge", maxPods: 500, mode: "vpc_cni",
			want: `[POOL_MAX_PODS_ABOVE_INSTANCE_LIMIT] max_pods_per_node 500 is above the 394 pods c6in.32xlarge can address in vpc_cni mode ` +
				`(8 ENIs × (50 IPv4 per ENI − 1) + 2): the kubelet would admit pods the CNI cannot give an address. ` +
				`Lower max_pods_per_node to 394 or use a larger instance type or pod_ip_mode = "vpc_cni_prefix".` + podIPStory,
		},
		{
			name: "prefix delegation on t2.large", instanceType: "t2.large", maxPods: 30, mode: "vpc_cni_prefix",
			want: `[POOL_PREFIX_NEEDS_NITRO] pod_ip_mode "vpc_cni_prefix" needs a Nitro instance type, but t2.large is not one (hypervisor xen): ` +
				`the VPC CNI assigns it no prefixes and falls back to one address per pod, 35 pods at most (3 ENIs × (12 IPv4 per ENI − 1) + 2). ` +
				`Use pod_ip_mode = "vpc_cni" with max_pods_per_node at most 35, or a Nitro instance type.` + podIPStory,
		},
	}
	for _, c := range refused {
		t.Run(c.name+" is refused", func(t *testing.T) {
			got := infra.ExpectPlanError(t, plan(c.instanceType, c.maxPods, c.mode), regexp.QuoteMeta(c.want))
			t.Logf("refused: %s", got)
		})
	}

	t.Run("c6in.32xlarge at 394 pods plans, with EKS's recommendation as a warning", func(t *testing.T) {
		out, err := infra.PlanE(t, context.Background(), plan("c6in.32xlarge", 394, "vpc_cni"))
		if err != nil {
			t.Fatalf("terraform plan failed: %v\n%s", err, out)
		}
		flat := infra.Unwrap(out)
		warning := `[POOL_MAX_PODS_ABOVE_RECOMMENDED] max_pods_per_node 394 is above the 250 pods EKS recommends for c6in.32xlarge ` +
			`(128 vCPUs; max-pods-calculator.sh: 110 up to 30 vCPUs, 250 above). ` +
			`Lower max_pods_per_node to 250 unless the nodes were load-tested at this density.` + podIPStory
		if !strings.Contains(flat, "Warning: "+warning) {
			t.Errorf("plan does not warn %q:\n%s", warning, out)
		}
		// 392 pod IPs on card 0's 8 ENIs of 49, no warm ENI left: 400.
		if !strings.Contains(flat, "pod_ips_per_node = 400") {
			t.Errorf("plan does not show pod_ips_per_node = 400:\n%s", out)
		}
		t.Logf("c6in.32xlarge at 394 pods: plan succeeds, pod_ips_per_node = 400, warning %s", excerpt(flat, "[POOL_MAX_PODS_ABOVE_RECOMMENDED]", " Prevents:"))
	})

	// A node group k8sguard did not make is charged at its instance type's
	// vpc_cni maximum, with the same card-0 count: a p5.48xlarge node at 100
	// pods takes 98 pod IPs + 2 ENIs = 100 addresses (all 64 ENIs would
	// make it 3,200, more than the subnet has for two nodes).
	t.Run("a foreign p5.48xlarge node group is charged card 0's addresses", func(t *testing.T) {
		ctx := context.Background()
		legacy := fixture.Unique("gpu")
		if _, err := tg.EKS.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
			ClusterName: aws.String(cluster), NodegroupName: aws.String(legacy), NodeRole: aws.String("arn:aws:iam::123456789012:role/nodes"),
			Subnets: subnets, InstanceTypes: []string{"p5.48xlarge"},
			ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(1), DesiredSize: aws.Int32(1), MaxSize: aws.Int32(3)},
		}); err != nil {
			t.Fatalf("create the foreign node group: %v", err)
		}
		t.Cleanup(func() {
			_, _ = tg.EKS.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(legacy)})
		})
		free := tg.FreeIPs(t, subnets)
		// Our pool: m6i.large at 20 pods takes 18 + 2 ENIs + a warm ENI of 10 = 30.
		want := (free - 2*100) / 30
		out, err := infra.PlanE(t, ctx, plan("m6i.large", 20, "vpc_cni"))
		if err != nil {
			t.Fatalf("terraform plan failed: %v\n%s", err, out)
		}
		if line := fmt.Sprintf("max_nodes_by_pod_ips = %d", want); !strings.Contains(infra.Unwrap(out), line) {
			t.Fatalf("plan does not show %s ((%d free − 2 nodes × 100) / 30):\n%s", line, free, out)
		}
		t.Logf("foreign %s (p5.48xlarge, 1 → 3 nodes) charged 2 × 100 addresses: max_nodes_by_pod_ips = %d of %d free", legacy, want, free)
	})
}
