// Package capacity reproduces the Love Holidays pod IP exhaustion on a real
// kube-controller-manager and shows k8sguard predicting and refusing it.
package capacity

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/gruntwork-io/terratest/modules/terraform"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

const (
	podCIDR  = "10.64.0.0/20"
	nodeMask = 24
	maxPods  = 110 // the kubelet default: GKE's /24 per node
	nodes    = 17  // one more than the range holds
)

// TestPodIPExhaustionReproducedAndPrevented: a /20 pod range cut into /24
// node blocks holds 16 nodes. The 17th node registered with the real node
// IPAM controller gets no pod CIDR (event CIDRNotAvailable), so a kubelet
// there could never start a pod; the data source says 16; a node pool of
// max_size 17 on that range fails terraform plan with POOL_EXCEEDS_POD_RANGE.
func TestPodIPExhaustionReproducedAndPrevented(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{ClusterCIDR: podCIDR, NodeCIDRMaskSize: nodeMask})
	t.Logf("control plane up: kube-controller-manager --allocate-node-cidrs --cluster-cidr=%s --node-cidr-mask-size=%d", podCIDR, nodeMask)
	ctx := context.Background()

	var allocated map[string]string
	var starved string
	t.Run("the 17th node gets no pod CIDR", func(t *testing.T) {
		for i := 0; i < nodes; i++ {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%02d", i)}}
			if _, err := cp.Clientset.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
				t.Fatalf("register %s: %v", n.Name, err)
			}
		}
		t.Logf("registered %d Node objects node-00 … node-%02d", nodes, nodes-1)

		// Wait until every node is either given a block or reported starved.
		var event *corev1.Event
		deadline := time.Now().Add(60 * time.Second)
		for {
			allocated = map[string]string{}
			list, err := cp.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var without []string
			for _, n := range list.Items {
				if n.Spec.PodCIDR != "" {
					allocated[n.Name] = n.Spec.PodCIDR
				} else {
					without = append(without, n.Name)
				}
			}
			event = nil
			if len(without) == 1 {
				starved = without[0]
				event = cidrNotAvailable(t, cp, starved)
			}
			if len(allocated) == nodes-1 && event != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 60s: %d nodes with a pod CIDR, without: %v, CIDRNotAvailable event seen: %v", len(allocated), without, event != nil)
			}
			time.Sleep(250 * time.Millisecond)
		}

		names := make([]string, 0, len(allocated))
		for n := range allocated {
			names = append(names, n)
		}
		sort.Strings(names)
		rng := netip.MustParsePrefix(podCIDR)
		seen := map[string]string{}
		var lines []string
		for _, n := range names {
			c := netip.MustParsePrefix(allocated[n])
			if c.Bits() != nodeMask || !rng.Contains(c.Addr()) {
				t.Errorf("%s got %s, not a /%d of %s", n, c, nodeMask, podCIDR)
			}
			if other, dup := seen[c.String()]; dup {
				t.Errorf("%s and %s share %s", n, other, c)
			}
			seen[c.String()] = n
			lines = append(lines, fmt.Sprintf("%s=%s", n, c))
		}
		t.Logf("%d nodes got a pod CIDR: %s", len(allocated), strings.Join(lines, " "))
		t.Logf("%s got none: event %s on Node/%s: %q", starved, event.Reason, starved, event.Message)
	})
	if t.Failed() {
		return
	}

	t.Run("k8sguard_pod_ip_capacity says 16", func(t *testing.T) {
		vars := map[string]any{"pod_cidr": podCIDR, "node_cidr_mask_size": nodeMask, "max_pods_per_node": maxPods}
		opts := infra.Terraform(t, "test/capacity/testdata/capacity", vars)
		defer terraform.DestroyContext(t, context.Background(), opts)
		terraform.InitAndApplyContext(t, context.Background(), opts)
		got := terraform.OutputContext(t, context.Background(), opts, "max_nodes")
		byFunction := terraform.OutputContext(t, context.Background(), opts, "max_nodes_by_function")
		t.Logf("data.k8sguard_pod_ip_capacity: max_nodes = %s; provider::k8sguard::pod_cidr_max_nodes(%q, %d) = %s; the controller-manager allocated %d",
			got, podCIDR, maxPods, byFunction, len(allocated))
		if got != fmt.Sprint(len(allocated)) || got != "16" || byFunction != "16" {
			t.Fatalf("max_nodes = %s, function = %s, want 16 = the blocks the controller-manager handed out (%d)", got, byFunction, len(allocated))
		}
	})

	t.Run("a node pool of max_size 17 fails terraform plan", func(t *testing.T) {
		opts := infra.Terraform(t, "test/capacity/testdata/pool", map[string]any{
			"pod_cidr": podCIDR, "node_cidr_mask_size": nodeMask, "max_pods_per_node": maxPods, "max_size": nodes,
			"cluster_name": "ipam", "subnet_ids": []string{"subnet-00000000"},
		})
		out, err := infra.InitAndPlanE(t, context.Background(), opts)
		if err == nil {
			t.Fatalf("terraform plan of max_size %d succeeded:\n%s", nodes, out)
		}
		msg := infra.Unwrap(out)
		want := regexp.MustCompile(`\[POOL_EXCEEDS_POD_RANGE\] max_size 17 needs 17 node blocks of /24, but 10\.64\.0\.0/20 holds 16 \(2\^\(24-20\)\): at most 16 nodes fit in this pool`)
		if !want.MatchString(msg) {
			t.Fatalf("plan failed without POOL_EXCEEDS_POD_RANGE:\n%s", out)
		}
		t.Logf("terraform plan refused max_size = %d: %s", nodes, excerpt(msg, "[POOL_EXCEEDS_POD_RANGE]", "Prevents:"))
	})

	t.Run("max_size 16 plans against moto", func(t *testing.T) {
		tg := fixture.Moto(t)
		subnets := tg.Network(t, "10.0.0.0/16", "10.0.1.0/24")
		tg.Cluster(t, "ipam", subnets)
		opts := tg.Terraform(t, "test/capacity/testdata/pool", map[string]any{
			"pod_cidr": podCIDR, "node_cidr_mask_size": nodeMask, "max_pods_per_node": maxPods, "max_size": nodes - 1,
			"cluster_name": "ipam", "subnet_ids": subnets,
		})
		out := terraform.InitAndPlanContext(t, context.Background(), opts)
		if !strings.Contains(infra.Unwrap(out), "max_nodes_by_pod_ips = 16") {
			t.Fatalf("plan does not show max_nodes_by_pod_ips = 16:\n%s", out)
		}
		t.Logf("terraform plan of max_size = %d succeeds: max_nodes_by_pod_ips = 16, pod_ip_headroom = 0", nodes-1)
	})

	// A pool of larger blocks on the same range (tagged as a k8sguard pool
	// with /22 blocks, max 2 nodes) holds the room of 8 of our /24 blocks.
	t.Run("a sibling pool of /22 blocks leaves room for 8 /24 nodes", func(t *testing.T) {
		tg := fixture.Moto(t)
		subnets := tg.Network(t, "10.0.0.0/16", "10.0.1.0/24")
		tg.Cluster(t, "ipam", subnets)
		if _, err := tg.EKS.CreateNodegroup(context.Background(), &eks.CreateNodegroupInput{
			ClusterName: aws.String("ipam"), NodegroupName: aws.String("wide"), NodeRole: aws.String("arn:aws:iam::123456789012:role/nodes"),
			Subnets: subnets, InstanceTypes: []string{"m6i.large"},
			ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(1), DesiredSize: aws.Int32(1), MaxSize: aws.Int32(2)},
			Tags: map[string]string{"k8sguard:managed-by": "k8sguard_node_pool", "k8sguard:pod-ip-mode": "node_cidr",
				"k8sguard:pod-cidr": podCIDR, "k8sguard:node-cidr-mask-size": "22"},
		}); err != nil {
			t.Fatalf("create the sibling node group: %v", err)
		}
		opts := tg.Terraform(t, "test/capacity/testdata/pool", map[string]any{
			"pod_cidr": podCIDR, "node_cidr_mask_size": nodeMask, "max_pods_per_node": maxPods, "max_size": 9,
			"cluster_name": "ipam", "subnet_ids": subnets,
		})
		out, err := infra.InitAndPlanE(t, context.Background(), opts)
		want := "max_size 9 needs 9 node blocks of /24, but 10.64.0.0/20 holds 16 (2^(24-20)) and the other pools on it hold 8 at their max_size: " +
			"wide (2 of /22, the room of 8 of /24): at most 8 nodes fit in this pool"
		if err == nil || !strings.Contains(infra.Unwrap(out), want) {
			t.Fatalf("plan of max_size 9 beside a /22 pool of 2: want %q, got err %v:\n%s", want, err, out)
		}
		t.Logf("terraform plan refused max_size = 9 beside the /22 pool: %s", excerpt(infra.Unwrap(out), "[POOL_EXCEEDS_POD_RANGE]", "Prevents:"))
	})
}

// cidrNotAvailable returns the node IPAM controller's event on the node.
func cidrNotAvailable(t *testing.T, cp *infra.ControlPlane, node string) *corev1.Event {
	t.Helper()
	evs, err := cp.Clientset.CoreV1().Events("").List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + node + ",reason=CIDRNotAvailable",
	})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	if len(evs.Items) == 0 {
		return nil
	}
	return &evs.Items[0]
}

func excerpt(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return s
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return strings.TrimSpace(s[:j])
	}
	return s
}
