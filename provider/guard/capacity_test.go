package guard

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDefaultNodeCIDRMaskSizeHoldsTwiceThePods(t *testing.T) {
	// GKE's published sizing table, plus the edges of the 2× rule.
	cases := []struct {
		maxPods int64
		want    int
	}{
		{110, 24}, {64, 25}, {32, 26}, {16, 27}, {8, 28},
		{128, 24}, // 256 = 2×128 exactly: still /24
		{129, 23}, // 258 > 256: the next block up
		{65, 24}, {250, 23},
	}
	for _, c := range cases {
		got, err := DefaultNodeCIDRMaskSize(c.maxPods)
		if err != nil || got != c.want {
			t.Errorf("DefaultNodeCIDRMaskSize(%d) = /%d, %v; want /%d", c.maxPods, got, err, c.want)
		}
		if block := int64(1) << (32 - got); block < 2*c.maxPods || block >= 4*c.maxPods {
			t.Errorf("max pods %d: block of %d is not the smallest holding twice the pods", c.maxPods, block)
		}
	}
	if _, err := DefaultNodeCIDRMaskSize(0); err == nil {
		t.Error("max pods 0 accepted")
	}
}

func TestNodeCIDRCapacity(t *testing.T) {
	cases := []struct {
		name          string
		cidr          string
		maxPods       int64
		mask          int
		wantMask      int
		wantPerNode   int64
		wantMaxNodes  int64
		wantErrSubstr string
	}{
		{name: "Love Holidays: /16 at 110 pods is 256 nodes", cidr: "10.0.0.0/16", maxPods: 110, wantMask: 24, wantPerNode: 256, wantMaxNodes: 256},
		{name: "/20 with /24 blocks is 16 nodes", cidr: "10.64.0.0/20", maxPods: 110, mask: 24, wantMask: 24, wantPerNode: 256, wantMaxNodes: 16},
		{name: "/20 at the default for 110 is 16 nodes", cidr: "10.64.0.0/20", maxPods: 110, wantMask: 24, wantPerNode: 256, wantMaxNodes: 16},
		{name: "fewer pods, smaller blocks: /16 at 32 pods", cidr: "10.0.0.0/16", maxPods: 32, wantMask: 26, wantPerNode: 64, wantMaxNodes: 1024},
		{name: "/14 at 8 pods", cidr: "10.0.0.0/14", maxPods: 8, wantMask: 28, wantPerNode: 16, wantMaxNodes: 16384},
		{name: "block as big as the range", cidr: "10.0.0.0/24", maxPods: 110, wantMask: 24, wantPerNode: 256, wantMaxNodes: 1},
		{name: "block bigger than the range holds no node", cidr: "10.0.0.0/25", maxPods: 110, wantMask: 24, wantPerNode: 256, wantMaxNodes: 0},
		{name: "malformed", cidr: "10.0.0.0/33", maxPods: 110, wantErrSubstr: `pod CIDR "10.0.0.0/33" is not a CIDR block`},
		{name: "not a CIDR", cidr: "10.0.0.0", maxPods: 110, wantErrSubstr: `pod CIDR "10.0.0.0" is not a CIDR block`},
		{name: "host bits", cidr: "10.64.1.0/20", maxPods: 110, wantErrSubstr: "has host bits set: did you mean 10.64.0.0/20?"},
		{name: "IPv6", cidr: "fd00::/48", maxPods: 110, wantErrSubstr: "is not IPv4"},
		{name: "bad mask", cidr: "10.0.0.0/16", maxPods: 110, mask: 33, wantErrSubstr: "/33 is not an IPv4 mask"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NodeCIDR(c.cidr, c.maxPods, c.mask)
			if c.wantErrSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErrSubstr) {
					t.Fatalf("err = %v, want it to contain %q", err, c.wantErrSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.NodeCIDRMaskSize != c.wantMask || got.PodIPsPerNode != c.wantPerNode || got.MaxNodes != c.wantMaxNodes {
				t.Fatalf("got mask /%d, %d per node, %d nodes; want /%d, %d, %d",
					got.NodeCIDRMaskSize, got.PodIPsPerNode, got.MaxNodes, c.wantMask, c.wantPerNode, c.wantMaxNodes)
			}
		})
	}
}

// Network figures as moto 5.2.1's copy of DescribeInstanceTypes reports them.
var (
	m6iLarge  = InstanceNetwork{InstanceType: "m6i.large", MaxENIs: 3, IPv4PerENI: 10, Hypervisor: HypervisorNitro, VCPUs: 2}
	m6iXLarge = InstanceNetwork{InstanceType: "m6i.xlarge", MaxENIs: 4, IPv4PerENI: 15, Hypervisor: HypervisorNitro, VCPUs: 4}
	t3Medium  = InstanceNetwork{InstanceType: "t3.medium", MaxENIs: 3, IPv4PerENI: 6, Hypervisor: HypervisorNitro, VCPUs: 2}
	t2Large   = InstanceNetwork{InstanceType: "t2.large", MaxENIs: 3, IPv4PerENI: 12, Hypervisor: HypervisorXen, VCPUs: 2,
		NetworkCards: []NetworkCard{{Index: 0, MaxENIs: 3}}}
	c5Metal = InstanceNetwork{InstanceType: "c5.metal", MaxENIs: 15, IPv4PerENI: 50, BareMetal: true, VCPUs: 96,
		NetworkCards: []NetworkCard{{Index: 0, MaxENIs: 15}}}
	// Multi-card types: ENIs on every card, pods only on card 0's.
	p5x48   = multiCard("p5.48xlarge", 32, 2, 50, 192)
	c6in32  = multiCard("c6in.32xlarge", 2, 8, 50, 128)
	trn1x32 = multiCard("trn1.32xlarge", 8, 5, 50, 128)
	p4dx24  = multiCard("p4d.24xlarge", 4, 15, 50, 96)
)

// multiCard is a Nitro type with cards network cards of enisPerCard ENIs each.
func multiCard(name string, cards int, enisPerCard, ipv4PerENI, vcpus int64) InstanceNetwork {
	n := InstanceNetwork{InstanceType: name, MaxENIs: int64(cards) * enisPerCard, IPv4PerENI: ipv4PerENI, Hypervisor: HypervisorNitro, VCPUs: vcpus}
	for i := 0; i < cards; i++ {
		n.NetworkCards = append(n.NetworkCards, NetworkCard{Index: i, MaxENIs: enisPerCard})
	}
	return n
}

func TestVPCCNIMaxPodsMatchesTheENIFormula(t *testing.T) {
	// The values of AWS's eni-max-pods.txt (card 0's ENIs for multi-card types:
	// p5.48xlarge is 2 × 49 + 2 = 100, not 64 × 49 + 2 = 3138).
	for _, c := range []struct {
		n    InstanceNetwork
		want int64
	}{
		{m6iLarge, 29}, {m6iXLarge, 58}, {t3Medium, 17}, {t2Large, 35}, {c5Metal, 737},
		{p5x48, 100}, {c6in32, 394}, {trn1x32, 247}, {p4dx24, 737},
	} {
		if got := c.n.MaxPods(); got != c.want {
			t.Errorf("%s MaxPods = %d, want %d", c.n.InstanceType, got, c.want)
		}
	}
	if got := m6iLarge.MaxPodsWithPrefixes(); got != 434 {
		t.Errorf("m6i.large with prefixes = %d, want 3×9×16+2 = 434", got)
	}
}

func TestPodENIsAreTheDefaultNetworkCards(t *testing.T) {
	cases := []struct {
		name string
		n    InstanceNetwork
		want int64
	}{
		{"no card data: MaximumNetworkInterfaces", m6iLarge, 3},
		{"one card", t2Large, 3},
		{"card 0 of 32", p5x48, 2},
		{"default card 1", InstanceNetwork{MaxENIs: 7, DefaultNetworkCardIndex: 1, NetworkCards: []NetworkCard{{0, 4}, {1, 3}}}, 3},
		{"default card not listed: MaximumNetworkInterfaces", InstanceNetwork{MaxENIs: 7, DefaultNetworkCardIndex: 2, NetworkCards: []NetworkCard{{0, 4}, {1, 3}}}, 7},
	}
	for _, c := range cases {
		if got := c.n.PodENIs(); got != c.want {
			t.Errorf("%s: PodENIs = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestPrefixFiguresFollowMaxPodsCalculator: max-pods-calculator.sh with
// --cni-prefix-delegation-enabled (CNI ≥ 1.9). Max allowed: on Nitro
// ENIs × ((IPv4 − 1) × 16) + 2, elsewhere ENIs × (IPv4 − 1) + 2; recommended:
// that, capped at 110 with up to 30 vCPUs and 250 above.
func TestPrefixFiguresFollowMaxPodsCalculator(t *testing.T) {
	cases := []struct {
		n                    InstanceNetwork
		wantMax, wantRecomm  int64
		wantPrefixDelegation bool
	}{
		{t2Large, 35, 35, false},    // xen: 3 × 11 + 2
		{t3Medium, 242, 110, true},  // 3 × (5 × 16) + 2; 2 vCPUs
		{m6iLarge, 434, 110, true},  // 3 × (9 × 16) + 2
		{p5x48, 1570, 250, true},    // 2 × (49 × 16) + 2; 192 vCPUs
		{c6in32, 6274, 250, true},   // 8 × (49 × 16) + 2
		{trn1x32, 3922, 250, true},  // 5 × (49 × 16) + 2
		{p4dx24, 11762, 250, true},  // 15 × (49 × 16) + 2
		{c5Metal, 11762, 250, true}, // bare metal: see below
	}
	for _, c := range cases {
		n := c.n
		if got := n.PrefixDelegationSupported(); got != c.wantPrefixDelegation {
			t.Errorf("%s: PrefixDelegationSupported = %v", n.InstanceType, got)
		}
		if got := n.LimitFor(ModeVPCCNIPrefix); got != c.wantMax {
			t.Errorf("%s: prefix limit %d, want %d", n.InstanceType, got, c.wantMax)
		}
		if got := n.RecommendedMaxPods(ModeVPCCNIPrefix); got != c.wantRecomm {
			t.Errorf("%s: recommended %d, want %d", n.InstanceType, got, c.wantRecomm)
		}
	}
	// The calculator tests Hypervisor == "nitro" only, so for bare metal
	// (no hypervisor) it answers the secondary-IP 737; the VPC CNI itself
	// (ipamd's IsPrefixDelegationSupported: nitro or bare metal) assigns
	// prefixes there, and k8sguard follows the CNI. The recommended 250 agrees.
	if got := c5Metal.RecommendedMaxPods(ModeVPCCNI); got != 250 {
		t.Errorf("c5.metal recommended in vpc_cni mode %d, want min(737, 250)", got)
	}
	if got := (InstanceNetwork{MaxENIs: 3, IPv4PerENI: 10}).RecommendedCap(); got != 0 {
		t.Errorf("unknown vCPUs: cap %d, want none", got)
	}
	for vcpus, want := range map[int64]int64{1: 110, 30: 110, 31: 250, 192: 250} {
		if got := (InstanceNetwork{VCPUs: vcpus}).RecommendedCap(); got != want {
			t.Errorf("%d vCPUs: cap %d, want %d", vcpus, got, want)
		}
	}
}

func TestVPCCNIIPsPerNode(t *testing.T) {
	runIPsPerNode(t, VPCCNIIPsPerNode, []ipsPerNodeCase{
		// 56 pod IPs on 4 ENIs (14 each) fill the instance: no warm ENI left.
		{name: "m6i.xlarge at its limit", maxPods: 58, n: m6iXLarge, want: 56 + 4},
		// 27 pod IPs on 3 ENIs (9 each): full, no warm ENI.
		{name: "m6i.large at its limit", maxPods: 29, n: m6iLarge, want: 27 + 3},
		// 18 pod IPs on 2 ENIs, the third ENI is warm with 10 addresses.
		{name: "m6i.large at 20 pods keeps a warm ENI", maxPods: 20, n: m6iLarge, want: 18 + 2 + 10},
		// 10 pod IPs: the first ENI is full and the second holds one, so
		// its 8 free secondaries are not a whole ENI's worth: a third is
		// attached, and every attached ENI holds all its addresses.
		{name: "a partly used ENI holds all its addresses", maxPods: 12, n: m6iLarge, want: 3 * 10},
		// Host-network pods only: the primary ENI with all its secondaries
		// free is the warm ENI.
		{name: "only host-network pods", maxPods: 2, n: m6iLarge, want: 10},
		{name: "above the ENI limit", maxPods: 30, n: m6iLarge, wantErr: "30 pods exceed the 29 m6i.large can address in vpc_cni mode"},
		// Multi-card: only card 0's 2 ENIs carry pods, so both full is the end.
		{name: "p5.48xlarge at its limit fills card 0", maxPods: 100, n: p5x48, want: 98 + 2},
		{name: "p5.48xlarge at 50 pods keeps card 0's second ENI warm", maxPods: 50, n: p5x48, want: 2 * 50},
		{name: "p5.48xlarge beyond card 0", maxPods: 101, n: p5x48, wantErr: "101 pods exceed the 100 p5.48xlarge can address in vpc_cni mode"},
		{name: "zero pods", maxPods: 0, n: m6iLarge, wantErr: "at least 1"},
		{name: "no ENIs", maxPods: 10, n: InstanceNetwork{InstanceType: "x.y"}, wantErr: "cannot host pods"},
	})
}

// TestVPCCNIIPsPerNodeAgreesWithTheCNIsTable checks the WARM_ENI_TARGET=1
// rows of the VPC CNI's own table (aws/amazon-vpc-cni-k8s,
// docs/eni-and-ip-target.md): attached ENIs and secondary IPs for a number
// of pods. A node takes its attached ENIs' secondary IPs plus each ENI's
// primary address; the table's pods are the ones with secondary IPs, so
// max pods is that plus the two host-network pods.
func TestVPCCNIIPsPerNodeAgreesWithTheCNIsTable(t *testing.T) {
	t3Small := InstanceNetwork{InstanceType: "t3.small", MaxENIs: 3, IPv4PerENI: 4}
	p3dn := InstanceNetwork{InstanceType: "p3dn.24xlarge", MaxENIs: 15, IPv4PerENI: 50}
	for _, row := range []struct {
		n                      InstanceNetwork
		pods, enis, secondarys int64
	}{
		{t3Small, 0, 1, 3}, {t3Small, 5, 3, 9}, {t3Small, 9, 3, 9},
		{p3dn, 0, 1, 49}, {p3dn, 3, 2, 98}, {p3dn, 95, 3, 147},
	} {
		got, err := VPCCNIIPsPerNode(row.pods+hostNetworkPods, row.n)
		if want := row.secondarys + row.enis; err != nil || got != want {
			t.Errorf("%s with %d pods: %d addresses, %v; the CNI's table says %d ENIs and %d secondary IPs, %d addresses",
				row.n.InstanceType, row.pods, got, err, row.enis, row.secondarys, want)
		}
	}

	// The rule the table follows (WARM_ENI_TARGET=1: ipamd attaches ENIs,
	// each filled with its IPv4 per ENI − 1 secondary IPs, until a whole
	// ENI's worth is free, up to the instance's ENIs), over generated
	// instance shapes and every max pods they take.
	r := rand.New(rand.NewPCG(3, 7))
	for range 300 {
		n := InstanceNetwork{InstanceType: "gen.x", MaxENIs: 1 + r.Int64N(15), IPv4PerENI: 2 + r.Int64N(49)}
		secondaries := n.IPv4PerENI - 1
		for maxPods := int64(1); maxPods <= n.MaxPods(); maxPods++ {
			pods := max(maxPods-hostNetworkPods, 0)
			enis := int64(1)
			for enis*secondaries-pods < secondaries && enis < n.MaxENIs {
				enis++
			}
			got, err := VPCCNIIPsPerNode(maxPods, n)
			if want := enis * n.IPv4PerENI; err != nil || got != want {
				t.Fatalf("%d ENIs × %d IPv4 at %d max pods: %d addresses, %v; %d ENIs hold %d", n.MaxENIs, n.IPv4PerENI, maxPods, got, err, enis, want)
			}
		}
	}
}

// TestVPCCNIPrefixIPsPerNodeAgreesWithTheCNIsTable checks the
// WARM_PREFIX_TARGET=1 rows of the VPC CNI's own prefix table
// (aws/amazon-vpc-cni-k8s, docs/prefix-and-ip-target.md) for t3.small:
// attached /28 prefixes and ENIs for a number of pods. A node takes its
// prefixes' addresses plus each ENI's primary address; max pods is the
// table's pods plus the two host-network pods. (The table's p3dn.24xlarge
// rows attach ENIs that carry no prefix, which the CNI's prefix docs do not
// explain and WARM_PREFIX_TARGET does not ask for; they are left out.)
func TestVPCCNIPrefixIPsPerNodeAgreesWithTheCNIsTable(t *testing.T) {
	t3Small := InstanceNetwork{InstanceType: "t3.small", MaxENIs: 3, IPv4PerENI: 4, Hypervisor: HypervisorNitro}
	for _, row := range []struct {
		pods, enis, prefixes int64
	}{
		{0, 1, 1}, {5, 1, 2}, {16, 1, 2}, {17, 1, 3}, {58, 2, 5},
	} {
		got, err := VPCCNIPrefixIPsPerNode(row.pods+hostNetworkPods, t3Small)
		if want := row.prefixes*prefixSize + row.enis; err != nil || got != want {
			t.Errorf("t3.small with %d pods: %d addresses, %v; the CNI's table says %d prefixes on %d ENIs, %d addresses",
				row.pods, got, err, row.prefixes, row.enis, want)
		}
	}

	// The rule the table follows, over generated instance shapes and
	// every pod count they take: ipamd attaches prefixes until a whole
	// one is free (WARM_PREFIX_TARGET=1), up to the ENIs' slots, and
	// ENIs until the prefixes fit, each ENI holding IPv4 per ENI − 1.
	r := rand.New(rand.NewPCG(9, 9))
	for range 300 {
		n := InstanceNetwork{InstanceType: "gen.x", MaxENIs: 1 + r.Int64N(15), IPv4PerENI: 2 + r.Int64N(49), Hypervisor: HypervisorNitro}
		slotsPerENI := n.IPv4PerENI - 1
		for maxPods := int64(1); maxPods <= n.MaxPodsWithPrefixes(); maxPods++ {
			pods := max(maxPods-hostNetworkPods, 0)
			prefixes := int64(1)
			for prefixes*prefixSize-pods < prefixSize && prefixes < n.MaxENIs*slotsPerENI {
				prefixes++
			}
			enis := (prefixes + slotsPerENI - 1) / slotsPerENI
			got, err := VPCCNIPrefixIPsPerNode(maxPods, n)
			if want := prefixes*prefixSize + enis; err != nil || got != want {
				t.Fatalf("%d ENIs × %d IPv4 at %d max pods: %d addresses, %v; %d prefixes on %d ENIs are %d",
					n.MaxENIs, n.IPv4PerENI, maxPods, got, err, prefixes, enis, want)
			}
		}
	}
}

func TestVPCCNIPrefixIPsPerNodeRoundsToWholePrefixes(t *testing.T) {
	runIPsPerNode(t, VPCCNIPrefixIPsPerNode, []ipsPerNodeCase{
		// 108 pod IPs → 7 prefixes (112), + 1 warm = 8 prefixes on one ENI.
		{name: "110 pods", maxPods: 110, n: m6iLarge, want: 8*16 + 1},
		// 16 pod IPs fit one prefix exactly; the warm one makes two.
		{name: "exactly one prefix", maxPods: 18, n: m6iLarge, want: 2*16 + 1},
		// 17 pod IPs need a second prefix: rounding up, then the warm one.
		{name: "one over a prefix rounds up", maxPods: 19, n: m6iLarge, want: 3*16 + 1},
		// 250 pods: 248 IPs → 16 prefixes + 1 warm = 17 → 2 ENIs (9 slots each).
		{name: "250 pods spill to a second ENI", maxPods: 250, n: m6iLarge, want: 17*16 + 2},
		// All 27 slots used: no room for a warm prefix.
		{name: "every slot used, no warm prefix", maxPods: 434, n: m6iLarge, want: 27*16 + 3},
		{name: "above the prefix limit", maxPods: 435, n: m6iLarge, wantErr: "435 pods exceed the 434 m6i.large can address in vpc_cni_prefix mode"},
	})
}

// ipsPerNodeCase is one row of the IPs-per-node tables: the pod IPs a node
// with maxPods pods on instance n takes from the subnet, or the error.
type ipsPerNodeCase struct {
	name    string
	maxPods int64
	n       InstanceNetwork
	want    int64
	wantErr string
}

// runIPsPerNode runs one table against ipsPerNode (one of the pod IP modes).
func runIPsPerNode(t *testing.T, ipsPerNode func(int64, InstanceNetwork) (int64, error), cases []ipsPerNodeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ipsPerNode(c.maxPods, c.n)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %d, %v; want %d", got, err, c.want)
			}
		})
	}
}
