package aws_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"github.com/k8sguard/k8sguard/test/infra"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
)

const nodePoolFixture = "test/aws/testdata/node_pool"

func TestNodePool_Moto(t *testing.T) { testNodePool(t, fixture.Moto(t)) }

func TestNodePool_RealAWS(t *testing.T) { testNodePool(t, fixture.RealAWS(t)) }

// Two /25 subnets hold 2 × 123 addresses. A foreign node group "legacy"
// (m6i.large, 1 node, max 3) can grow by 2 nodes × 30 addresses (29 pods at
// the ENI limit: 27 pod IPs + 3 ENIs). Our pool at 20 pods per node on
// m6i.large takes 18 + 2 ENIs + a warm ENI of 10 = 30 addresses per node:
// (246 − 60) / 30 = 6 nodes fit, so max_size 7 is refused at plan.
func testNodePool(t *testing.T, tg *fixture.Target) {
	ctx := context.Background()
	env := tg.RequireEnv(t, "K8SGUARD_AWS_EKS_CLUSTER", "K8SGUARD_AWS_SUBNET_IDS", "K8SGUARD_AWS_NODE_ROLE_ARN")
	cluster, roleARN := env["K8SGUARD_AWS_EKS_CLUSTER"], env["K8SGUARD_AWS_NODE_ROLE_ARN"]
	var subnets []string
	if tg.Name == "moto" {
		cluster, roleARN = fixture.Unique("prod"), "arn:aws:iam::123456789012:role/nodes"
		subnets = tg.Network(t, "10.20.0.0/16", "10.20.0.0/25", "10.20.0.128/25")
		tg.Cluster(t, cluster, subnets)
	} else {
		subnets = strings.Split(env["K8SGUARD_AWS_SUBNET_IDS"], ",")
	}
	free := tg.FreeIPs(t, subnets)
	t.Logf("cluster %s, subnets %v with %d free addresses", cluster, subnets, free)

	legacy := fixture.Unique("legacy")
	if _, err := tg.EKS.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName: aws.String(cluster), NodegroupName: aws.String(legacy), NodeRole: aws.String(roleARN),
		Subnets: subnets[:1], InstanceTypes: []string{"m6i.large"},
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(1), DesiredSize: aws.Int32(1), MaxSize: aws.Int32(3)},
	}); err != nil {
		t.Fatalf("create the foreign node group: %v", err)
	}
	t.Cleanup(func() {
		_, _ = tg.EKS.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(legacy)})
	})

	const perNode, legacyGrowth = 30, 2 * 30
	fit := (free - legacyGrowth) / perNode
	name := fixture.Unique("general")
	opts := tg.Terraform(t, nodePoolFixture, map[string]any{
		"cluster_name": cluster, "node_role_arn": roleARN, "subnet_ids": subnets, "name": name,
		"max_size": fit + 1, "max_pods_per_node": 20,
	})
	terraform.InitContext(t, context.Background(), opts)

	t.Run("max_size beyond the subnets given the sibling is refused", func(t *testing.T) {
		got := infra.ExpectPlanError(t, opts, fmt.Sprintf(`\[POOL_EXCEEDS_POD_RANGE\] max_size %d would take %d more addresses \(%d nodes × 30 per node at max_pods_per_node 20\), `+
			`but subnets %s have %d free and the other pools on them take 60 growing to their max_size: `+
			`%s \(2 nodes × 30, not k8sguard-made: at its instance type's maximum\): at most %d nodes fit in this pool`,
			fit+1, (fit+1)*perNode, fit+1, strings.Join(subnets, ", "), free, legacy, fit))
		t.Logf("refused: %s", got)
	})
	if t.Failed() {
		return
	}

	opts.Vars["max_size"] = fit
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.ApplyContext(t, context.Background(), opts)
	for out, want := range map[string]string{"pod_ips_per_node": "30", "max_nodes_by_pod_ips": fmt.Sprint(fit), "pod_ip_headroom": "0"} {
		if got := terraform.OutputContext(t, context.Background(), opts, out); got != want {
			t.Errorf("output %s = %s, want %s", out, got, want)
		}
	}
	g := describeNodegroup(t, tg, cluster, name)
	if g.Tags["k8sguard:max-pods-per-node"] != "20" || g.Tags["k8sguard:subnet-ips-per-node"] != "30" || g.Tags["team"] != "platform" {
		t.Errorf("node group tags %v: want the sizing the guard checked and the user's tags", g.Tags)
	}
	if g.Labels["workload"] != "general" || len(g.Taints) != 1 || aws.ToInt32(g.ScalingConfig.MaxSize) != int32(fit) {
		t.Errorf("labels %v taints %v scaling %+v", g.Labels, g.Taints, g.ScalingConfig)
	}
	ltID := terraform.OutputContext(t, context.Background(), opts, "launch_template_id")
	if g.LaunchTemplate == nil || aws.ToString(g.LaunchTemplate.Id) != ltID {
		t.Fatalf("node group launch template %+v, want %s", g.LaunchTemplate, ltID)
	}
	ud := launchTemplateUserData(t, tg, ltID)
	if !strings.Contains(ud, "kind: NodeConfig") || !strings.Contains(ud, "maxPods: 20") {
		t.Errorf("launch template user data does not set the kubelet's maxPods to 20:\n%s", ud)
	}
	t.Logf("created node group %s (max_size %d, 30 addresses per node, headroom 0) with launch template %s setting maxPods: 20", name, fit, ltID)
	infra.ExpectNoChanges(t, opts, "right after create")

	importInto(t, opts, "k8sguard_node_pool.general", cluster+":"+name)
	infra.ExpectNoChanges(t, opts, "after import by cluster_name:name")

	// An autoscaler raises the node count: not drift.
	if _, err := tg.EKS.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{
		ClusterName: aws.String(cluster), NodegroupName: aws.String(name),
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(1), DesiredSize: aws.Int32(4), MaxSize: aws.Int32(int32(fit))},
	}); err != nil {
		t.Fatal(err)
	}
	infra.ExpectNoChanges(t, opts, "after an autoscaler set desired_size to 4")
	t.Logf("desired_size 2 → 4 by an autoscaler: plan shows no changes")

	opts.Vars["max_size"] = fit - 1
	opts.Vars["labels"] = map[string]string{"workload": "batch"}
	terraform.ApplyContext(t, context.Background(), opts)
	g = describeNodegroup(t, tg, cluster, name)
	if aws.ToInt32(g.ScalingConfig.MaxSize) != int32(fit-1) || g.Labels["workload"] != "batch" || aws.ToInt32(g.ScalingConfig.DesiredSize) != 4 {
		t.Errorf("after update: scaling %+v labels %v; want max %d, desired still 4, workload=batch", g.ScalingConfig, g.Labels, fit-1)
	}
	// Re-sized at this apply: 4 nodes now (moto does not take addresses
	// for them, AWS does; either way the free count says).
	wantMax := 4 + (tg.FreeIPs(t, subnets)-legacyGrowth)/perNode
	if got := terraform.OutputContext(t, context.Background(), opts, "pod_ip_headroom"); got != fmt.Sprint(wantMax-(fit-1)) {
		t.Errorf("pod_ip_headroom = %s after the update, want %d (4 nodes + free addresses for %d more, minus max_size %d)", got, wantMax-(fit-1), wantMax-4, fit-1)
	}
	t.Logf("updated in place: max_size %d, labels workload=batch, the autoscaler's desired_size 4 kept", fit-1)

	terraform.DestroyContext(t, context.Background(), opts)
	if _, err := tg.EKS.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)}); err == nil {
		t.Errorf("node group %s still exists after destroy", name)
	}
	if out, err := tg.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{ltID}}); err == nil && len(out.LaunchTemplates) > 0 {
		t.Errorf("launch template %s still exists after destroy", ltID)
	}
}

func describeNodegroup(t *testing.T, tg *fixture.Target, cluster, name string) *ekstypes.Nodegroup {
	t.Helper()
	out, err := tg.EKS.DescribeNodegroup(context.Background(), &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeNodegroup %s/%s: %v", cluster, name, err)
	}
	return out.Nodegroup
}

func launchTemplateUserData(t *testing.T, tg *fixture.Target, id string) string {
	t.Helper()
	out, err := tg.EC2.DescribeLaunchTemplateVersions(context.Background(), &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"$Default"}})
	if err != nil || len(out.LaunchTemplateVersions) == 0 {
		t.Fatalf("launch template %s: %v", id, err)
	}
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.LaunchTemplateVersions[0].LaunchTemplateData.UserData))
	if err != nil {
		t.Fatalf("user data is not base64: %v", err)
	}
	return string(b)
}
