package guard

import (
	"math"
	"strings"
	"testing"
)

// diagnosticTexts renders findings as their diagnostic strings.
func diagnosticTexts(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path.String()+": "+f.String())
	}
	return out
}

// checkPool runs CheckNodePool on a pool it must be able to size and
// compares the findings with want.
func checkPool(t *testing.T, pool NodePool, want []string) PoolCapacity {
	t.Helper()
	got, fs, err := CheckNodePool(pool)
	if err != nil {
		t.Fatal(err)
	}
	expectDiagnosticTexts(t, fs, want)
	return got
}

func expectDiagnosticTexts(t *testing.T, fs []Finding, want []string) {
	t.Helper()
	got := diagnosticTexts(fs)
	if len(got) != len(want) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("finding %d:\n got: %s\nwant: %s", i, got[i], want[i])
		}
	}
}

const podIPStory = " Prevents: pod IP range exhausted, half the pods Pending (Love Holidays, GKE)."

func TestCheckNodePoolNodeCIDRMode(t *testing.T) {
	cases := []struct {
		name         string
		pool         NodePool
		wantMaxNodes int64
		want         []string
	}{
		{
			name: "17 nodes on a /20 of /24 blocks",
			pool: NodePool{Name: "general", Mode: ModeNodeCIDR, MaxPodsPerNode: 110, MaxSize: 17, PodCIDR: "10.64.0.0/20", NodeCIDRMaskSize: 24},
			want: []string{"max_size: [POOL_EXCEEDS_POD_RANGE] max_size 17 needs 17 node blocks of /24, but 10.64.0.0/20 holds 16 (2^(24-20)): " +
				"at most 16 nodes fit in this pool, the rest would get no pod CIDR and their pods stay Pending. " +
				"Use a larger pod_cidr, a lower max_pods_per_node (smaller blocks) or a lower max_size." + podIPStory},
			wantMaxNodes: -1,
		},
		{
			name:         "16 nodes fit exactly",
			pool:         NodePool{Name: "general", Mode: ModeNodeCIDR, MaxPodsPerNode: 110, MaxSize: 16, PodCIDR: "10.64.0.0/20"},
			wantMaxNodes: -1,
		},
		{
			name: "siblings on the same range hold blocks",
			pool: NodePool{Name: "general", Mode: ModeNodeCIDR, MaxPodsPerNode: 110, MaxSize: 10, PodCIDR: "10.64.0.0/20",
				Cloud: &PoolCloudFacts{Siblings: []SiblingPool{{Name: "gpu", MaxSize: 4}, {Name: "batch", MaxSize: 3}}}},
			want: []string{"max_size: [POOL_EXCEEDS_POD_RANGE] max_size 10 needs 10 node blocks of /24, but 10.64.0.0/20 holds 16 (2^(24-20)) " +
				"and the other pools on it hold 7 at their max_size: batch (3), gpu (4): " +
				"at most 9 nodes fit in this pool, the rest would get no pod CIDR and their pods stay Pending. " +
				"Use a larger pod_cidr, a lower max_pods_per_node (smaller blocks) or a lower max_size." + podIPStory},
			wantMaxNodes: 9,
		},
		{
			// 200 nodes of /24 are the room of 3,200 /28 blocks: 4,096 − 3,200.
			name: "a sibling with larger blocks holds more of ours",
			pool: NodePool{Name: "small", Mode: ModeNodeCIDR, MaxPodsPerNode: 8, MaxSize: 1000, PodCIDR: "10.64.0.0/16",
				Cloud: &PoolCloudFacts{Siblings: []SiblingPool{{Name: "general", MaxSize: 200, NodeCIDRMaskSize: 24}}}},
			want: []string{"max_size: [POOL_EXCEEDS_POD_RANGE] max_size 1000 needs 1000 node blocks of /28, but 10.64.0.0/16 holds 4096 (2^(28-16)) " +
				"and the other pools on it hold 3200 at their max_size: general (200 of /24, the room of 3200 of /28): " +
				"at most 896 nodes fit in this pool, the rest would get no pod CIDR and their pods stay Pending. " +
				"Use a larger pod_cidr, a lower max_pods_per_node (smaller blocks) or a lower max_size." + podIPStory},
			wantMaxNodes: 896,
		},
		{
			// 5 nodes of /28 pack into one /24; 7 siblings' blocks of ours and 1: 16 − 1 − 3.
			name: "siblings with smaller blocks pack into ours",
			pool: NodePool{Name: "general", Mode: ModeNodeCIDR, MaxPodsPerNode: 110, MaxSize: 12, PodCIDR: "10.64.0.0/20",
				Cloud: &PoolCloudFacts{Siblings: []SiblingPool{{Name: "edge", MaxSize: 5, NodeCIDRMaskSize: 28}, {Name: "gpu", MaxSize: 3, NodeCIDRMaskSize: 24}}}},
			wantMaxNodes: 12,
		},
		{
			name: "a sibling larger than the range saturates",
			pool: NodePool{Name: "general", Mode: ModeNodeCIDR, MaxPodsPerNode: 110, MaxSize: 1, PodCIDR: "10.64.0.0/20",
				Cloud: &PoolCloudFacts{Siblings: []SiblingPool{{Name: "huge", MaxSize: 1 << 30, NodeCIDRMaskSize: 1}, {Name: "more", MaxSize: 1 << 30, NodeCIDRMaskSize: 1}}}},
			want: []string{"max_size: [POOL_EXCEEDS_POD_RANGE] max_size 1 needs 1 node blocks of /24, but 10.64.0.0/20 holds 16 (2^(24-20)) " +
				"and the other pools on it hold 17 at their max_size: huge (1073741824 of /1, the room of 9007199254740992 of /24), " +
				"more (1073741824 of /1, the room of 9007199254740992 of /24): " +
				"at most 0 nodes fit in this pool, the rest would get no pod CIDR and their pods stay Pending. " +
				"Use a larger pod_cidr, a lower max_pods_per_node (smaller blocks) or a lower max_size." + podIPStory},
			wantMaxNodes: 0,
		},
		{
			name: "explicit block too small for max pods",
			pool: NodePool{Name: "general", Mode: ModeNodeCIDR, MaxPodsPerNode: 110, MaxSize: 3, PodCIDR: "10.64.0.0/16", NodeCIDRMaskSize: 26},
			want: []string{"max_pods_per_node: [POOL_MAX_PODS_ABOVE_NODE_BLOCK] max_pods_per_node 110 needs 112 addresses per node (pods + network + broadcast), " +
				"but a /26 node block holds 64: pods beyond 62 on a node never get an address. " +
				"Use node_cidr_mask_size /25 or shorter, or omit it for the 2× default." + podIPStory},
			wantMaxNodes: -1,
		},
		{
			name:         "explicit block exactly max pods + 2",
			pool:         NodePool{Name: "general", Mode: ModeNodeCIDR, MaxPodsPerNode: 62, MaxSize: 3, PodCIDR: "10.64.0.0/16", NodeCIDRMaskSize: 26},
			wantMaxNodes: -1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := checkPool(t, c.pool, c.want)
			if got.MaxNodesByPodIPs != c.wantMaxNodes {
				t.Errorf("MaxNodesByPodIPs = %d, want %d", got.MaxNodesByPodIPs, c.wantMaxNodes)
			}
		})
	}
}

func TestCheckNodePoolNodeCIDRInputErrors(t *testing.T) {
	for pool, want := range map[NodePool]string{
		{Mode: ModeNodeCIDR, MaxPodsPerNode: 110, MaxSize: 3}:                         `pod_ip_mode "node_cidr" needs pod_cidr`,
		{Mode: ModeNodeCIDR, MaxPodsPerNode: 110, MaxSize: 3, PodCIDR: "10.0.0.0/8x"}: `pod CIDR "10.0.0.0/8x" is not a CIDR block`,
		{Mode: "overlay", MaxPodsPerNode: 110, MaxSize: 3}:                            `pod_ip_mode "overlay" is not one of [node_cidr vpc_cni vpc_cni_prefix]`,
	} {
		if _, _, err := CheckNodePool(pool); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: err = %v, want %q", pool, err, want)
		}
	}
}

func TestCheckNodePoolVPCCNIMode(t *testing.T) {
	facts := func(free int64, siblings ...SiblingPool) *PoolCloudFacts {
		return &PoolCloudFacts{InstanceTypes: []InstanceNetwork{m6iXLarge}, Subnets: []string{"subnet-a", "subnet-b"}, FreeSubnetIPs: free, Siblings: siblings}
	}
	cases := []struct {
		name         string
		pool         NodePool
		wantPerNode  int64
		wantMaxNodes int64
		want         []string
	}{
		{
			name:        "without cloud facts nothing is decided",
			pool:        NodePool{Name: "general", Mode: ModeVPCCNI, MaxPodsPerNode: 58, MaxSize: 60},
			wantPerNode: 0, wantMaxNodes: -1,
		},
		{
			// 60 addresses per node (56 pods + 4 ENIs); 1800 free → 30 nodes.
			name:        "fits",
			pool:        NodePool{Name: "general", Mode: ModeVPCCNI, MaxPodsPerNode: 58, MaxSize: 30, Cloud: facts(1800)},
			wantPerNode: 60, wantMaxNodes: 30,
		},
		{
			// batch grows by 5 nodes × 30 = 150: 1650 left → 27 nodes.
			name: "a sibling's growth takes addresses",
			pool: NodePool{Name: "general", Mode: ModeVPCCNI, MaxPodsPerNode: 58, MaxSize: 30,
				Cloud: facts(1800, SiblingPool{Name: "batch", PodIPsPerNode: 30, CurrentSize: 1, MaxSize: 6})},
			wantPerNode: 60, wantMaxNodes: 27,
			want: []string{"max_size: [POOL_EXCEEDS_POD_RANGE] max_size 30 would take 1800 more addresses (30 nodes × 60 per node at max_pods_per_node 58), " +
				"but subnets subnet-a, subnet-b have 1800 free and the other pools on them take 150 growing to their max_size: batch (5 nodes × 30): " +
				"at most 27 nodes fit in this pool, the rest would start without pod addresses. " +
				"Lower max_size or max_pods_per_node, use prefix delegation, or add subnets." + podIPStory},
		},
		{
			// The pool already runs 10 nodes (their addresses are taken already).
			name: "current nodes count as already placed; foreign siblings are named",
			pool: NodePool{Name: "general", Mode: ModeVPCCNI, MaxPodsPerNode: 58, MaxSize: 20,
				Cloud: &PoolCloudFacts{CurrentSize: 10, InstanceTypes: []InstanceNetwork{m6iXLarge}, Subnets: []string{"subnet-a"}, FreeSubnetIPs: 500,
					Siblings: []SiblingPool{{Name: "legacy", PodIPsPerNode: 30, CurrentSize: 2, MaxSize: 4, Foreign: true}}}},
			wantPerNode: 60, wantMaxNodes: 17,
			want: []string{"max_size: [POOL_EXCEEDS_POD_RANGE] max_size 20 would take 600 more addresses (10 nodes × 60 per node at max_pods_per_node 58), " +
				"but subnets subnet-a have 500 free and the other pools on them take 60 growing to their max_size: " +
				"legacy (2 nodes × 30, not k8sguard-made: at its instance type's maximum): " +
				"at most 17 nodes fit in this pool, the rest would start without pod addresses. " +
				"Lower max_size or max_pods_per_node, use prefix delegation, or add subnets." + podIPStory},
		},
		{
			name: "max pods above the ENI limit",
			pool: NodePool{Name: "general", Mode: ModeVPCCNI, MaxPodsPerNode: 58, MaxSize: 3,
				Cloud: &PoolCloudFacts{InstanceTypes: []InstanceNetwork{m6iXLarge, m6iLarge}, FreeSubnetIPs: 1000}},
			wantPerNode: 60, wantMaxNodes: -1,
			want: []string{"instance_types[1]: [POOL_MAX_PODS_ABOVE_INSTANCE_LIMIT] max_pods_per_node 58 is above the 29 pods m6i.large can address in vpc_cni mode " +
				"(3 ENIs × (10 IPv4 per ENI − 1) + 2): the kubelet would admit pods the CNI cannot give an address. " +
				"Lower max_pods_per_node to 29 or use a larger instance type or pod_ip_mode = \"vpc_cni_prefix\"." + podIPStory},
		},
		{
			// 110 pods with prefixes on m6i.large: 8 prefixes + 1 ENI = 129.
			name:        "prefix mode lifts the ENI limit",
			pool:        NodePool{Name: "general", Mode: ModeVPCCNIPrefix, MaxPodsPerNode: 110, MaxSize: 7, Cloud: &PoolCloudFacts{InstanceTypes: []InstanceNetwork{m6iLarge}, FreeSubnetIPs: 1000}},
			wantPerNode: 129, wantMaxNodes: 7,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := checkPool(t, c.pool, c.want)
			if got.PodIPsPerNode != c.wantPerNode || got.MaxNodesByPodIPs != c.wantMaxNodes {
				t.Errorf("got %d per node, %d max nodes; want %d, %d", got.PodIPsPerNode, got.MaxNodesByPodIPs, c.wantPerNode, c.wantMaxNodes)
			}
		})
	}
}

// TestCheckNodePoolInstanceTypesAsAWSCountsThem: the per-instance-type
// rules with AWS's own figures (eni-max-pods.txt, max-pods-calculator.sh).
func TestCheckNodePoolInstanceTypesAsAWSCountsThem(t *testing.T) {
	cloud := func(types ...InstanceNetwork) *PoolCloudFacts {
		return &PoolCloudFacts{InstanceTypes: types, Subnets: []string{"subnet-a"}, FreeSubnetIPs: 100000}
	}
	cases := []struct {
		name        string
		pool        NodePool
		wantPerNode int64
		want        []string
	}{
		{
			// All 64 ENIs would give 3138; the CNI uses card 0's 2.
			name: "p5.48xlarge at 150 pods: card 0 holds 100",
			pool: NodePool{Name: "gpu", Mode: ModeVPCCNI, MaxPodsPerNode: 150, MaxSize: 2, Cloud: cloud(p5x48)},
			want: []string{"instance_types[0]: [POOL_MAX_PODS_ABOVE_INSTANCE_LIMIT] max_pods_per_node 150 is above the 100 pods p5.48xlarge can address in vpc_cni mode " +
				"(2 ENIs × (50 IPv4 per ENI − 1) + 2): the kubelet would admit pods the CNI cannot give an address. " +
				"Lower max_pods_per_node to 100 or use a larger instance type or pod_ip_mode = \"vpc_cni_prefix\"." + podIPStory},
		},
		{
			// 392 pod IPs on 8 ENIs of 49, no warm ENI left: 400 per node.
			name:        "c6in.32xlarge at its 394: accepted, above EKS's 250",
			pool:        NodePool{Name: "net", Mode: ModeVPCCNI, MaxPodsPerNode: 394, MaxSize: 2, Cloud: cloud(c6in32)},
			wantPerNode: 392 + 8,
			want: []string{"instance_types[0]: [POOL_MAX_PODS_ABOVE_RECOMMENDED] max_pods_per_node 394 is above the 250 pods EKS recommends for c6in.32xlarge " +
				"(128 vCPUs; max-pods-calculator.sh: 110 up to 30 vCPUs, 250 above). " +
				"Lower max_pods_per_node to 250 unless the nodes were load-tested at this density." + podIPStory},
		},
		{
			name: "c6in.32xlarge at 500",
			pool: NodePool{Name: "net", Mode: ModeVPCCNI, MaxPodsPerNode: 500, MaxSize: 2, Cloud: cloud(c6in32)},
			want: []string{"instance_types[0]: [POOL_MAX_PODS_ABOVE_INSTANCE_LIMIT] max_pods_per_node 500 is above the 394 pods c6in.32xlarge can address in vpc_cni mode " +
				"(8 ENIs × (50 IPv4 per ENI − 1) + 2): the kubelet would admit pods the CNI cannot give an address. " +
				"Lower max_pods_per_node to 394 or use a larger instance type or pod_ip_mode = \"vpc_cni_prefix\"." + podIPStory},
		},
		{
			name: "prefix mode on a Xen type",
			pool: NodePool{Name: "old", Mode: ModeVPCCNIPrefix, MaxPodsPerNode: 30, MaxSize: 2, Cloud: cloud(m6iLarge, t2Large)},
			// m6i.large still sizes the pool: 28 pod IPs → 2 prefixes + 1 warm, on one ENI.
			wantPerNode: 3*16 + 1,
			want: []string{"instance_types[1]: [POOL_PREFIX_NEEDS_NITRO] pod_ip_mode \"vpc_cni_prefix\" needs a Nitro instance type, but t2.large is not one (hypervisor xen): " +
				"the VPC CNI assigns it no prefixes and falls back to one address per pod, 35 pods at most (3 ENIs × (12 IPv4 per ENI − 1) + 2). " +
				"Use pod_ip_mode = \"vpc_cni\" with max_pods_per_node at most 35, or a Nitro instance type." + podIPStory},
		},
		{
			name: "prefix mode on a type that reports no hypervisor and is not bare metal",
			pool: NodePool{Name: "odd", Mode: ModeVPCCNIPrefix, MaxPodsPerNode: 30, MaxSize: 2, Cloud: cloud(InstanceNetwork{InstanceType: "x.large", MaxENIs: 2, IPv4PerENI: 10, VCPUs: 2})},
			want: []string{"instance_types[0]: [POOL_PREFIX_NEEDS_NITRO] pod_ip_mode \"vpc_cni_prefix\" needs a Nitro instance type, but x.large is not one (hypervisor unknown): " +
				"the VPC CNI assigns it no prefixes and falls back to one address per pod, 20 pods at most (2 ENIs × (10 IPv4 per ENI − 1) + 2). " +
				"Use pod_ip_mode = \"vpc_cni\" with max_pods_per_node at most 20, or a Nitro instance type." + podIPStory},
		},
		{
			// Bare metal is Nitro: prefixes, 110 pods → 7 + 1 warm prefixes on one ENI.
			name:        "prefix mode on bare metal",
			pool:        NodePool{Name: "metal", Mode: ModeVPCCNIPrefix, MaxPodsPerNode: 110, MaxSize: 2, Cloud: cloud(c5Metal)},
			wantPerNode: 8*16 + 1,
		},
		{
			name:        "prefix mode at 120 pods on a 2-vCPU type: above EKS's 110",
			pool:        NodePool{Name: "dense", Mode: ModeVPCCNIPrefix, MaxPodsPerNode: 120, MaxSize: 2, Cloud: cloud(m6iLarge)},
			wantPerNode: 9*16 + 1, // 118 pod IPs → 8 prefixes + 1 warm: 9, the 9 slots of one ENI
			want: []string{"instance_types[0]: [POOL_MAX_PODS_ABOVE_RECOMMENDED] max_pods_per_node 120 is above the 110 pods EKS recommends for m6i.large " +
				"(2 vCPUs; max-pods-calculator.sh: 110 up to 30 vCPUs, 250 above). " +
				"Lower max_pods_per_node to 110 unless the nodes were load-tested at this density." + podIPStory},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := checkPool(t, c.pool, c.want)
			if got.PodIPsPerNode != c.wantPerNode {
				t.Errorf("got %d addresses per node, want %d", got.PodIPsPerNode, c.wantPerNode)
			}
		})
	}
}

func TestNewPoolRulesAreCatalogued(t *testing.T) {
	for id, want := range map[string]Rule{
		RulePoolPrefixNeedsNitro:        {Severity: Error, Waivable: false},
		RulePoolMaxPodsAboveRecommended: {Severity: Warning, Waivable: false},
	} {
		r, ok := Lookup(id)
		if !ok || r.Family != "pool" || r.Severity != want.Severity || r.Waivable != want.Waivable || r.Story != storyPodIPs || r.Checks == "" {
			t.Errorf("%s: catalogued as %+v (found %v)", id, r, ok)
		}
	}
	_, fs, err := CheckNodePool(NodePool{Name: "old", Mode: ModeVPCCNIPrefix, MaxPodsPerNode: 30, MaxSize: 1,
		Cloud: &PoolCloudFacts{InstanceTypes: []InstanceNetwork{t2Large}, FreeSubnetIPs: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	out := ApplyWaivers(fs, map[string]string{RulePoolPrefixNeedsNitro: "we know"}, nil, "waivers")
	if !HasErrors(out) || out[0].RuleID != RuleWaiverInvalid {
		t.Fatalf("a waiver of POOL_PREFIX_NEEDS_NITRO was accepted: %+v", out)
	}
}

func TestPoolExceedsPodRangeCanBeWaived(t *testing.T) {
	_, fs, err := CheckNodePool(NodePool{Mode: ModeNodeCIDR, MaxPodsPerNode: 110, MaxSize: 17, PodCIDR: "10.64.0.0/20"})
	if err != nil {
		t.Fatal(err)
	}
	out := ApplyWaivers(fs, map[string]string{RulePoolExceedsPodRange: "the 17th node is a spare we never scale to"}, nil, "waivers")
	if HasErrors(out) || len(out) != 1 || out[0].Severity != Warning {
		t.Fatalf("waived finding = %+v", out)
	}
	out = ApplyWaivers(fs, map[string]string{RulePoolMaxPodsAboveNodeBlock: "no"}, nil, "waivers")
	if !HasErrors(out) || out[0].RuleID != RuleWaiverInvalid {
		t.Fatalf("waiver of a non-waivable rule accepted: %+v", out)
	}
}

func TestSiblingBlocksSaturatesInsteadOfOverflowing(t *testing.T) {
	if got := siblingBlocks(SiblingPool{MaxSize: 1 << 40, NodeCIDRMaskSize: 1}, 32); got != math.MaxInt64 {
		t.Errorf("2^40 nodes of /1 in /32 blocks = %d, want MaxInt64", got)
	}
	if got := siblingBlocks(SiblingPool{MaxSize: 17, NodeCIDRMaskSize: 28}, 24); got != 2 {
		t.Errorf("17 nodes of /28 in /24 blocks = %d, want 2 (16 pack in one)", got)
	}
}
