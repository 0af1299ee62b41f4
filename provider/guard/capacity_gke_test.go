package guard

import "testing"

// gkeNodeBlocks is GKE's published table of the node CIDR block per
// maximum Pods per node ("Optimizing IP address allocation",
// https://cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr,
// "CIDR ranges for Standard clusters"): 8 → /28 up to 65–110 → /24. GKE
// accepts 8 to 256 Pods per node; above 110 the page gives the rule
// instead of rows ("the block always contains at least twice as many
// addresses as the maximum number of Pods per node"), which makes 111–128
// a /24 and 129–256 a /23.
var gkeNodeBlocks = []struct {
	lo, hi int64
	mask   int
}{
	{8, 8, 28}, {9, 16, 27}, {17, 32, 26}, {33, 64, 25}, {65, 110, 24},
	{111, 128, 24}, {129, 256, 23}, // the rule, past the rows
}

// TestDefaultNodeCIDRMaskSizeAgreesWithGKE is differential against GKE's
// published table, over every maximum it accepts (8 to 256) and the ones
// below it: those get GKE's smallest block, /28. A smaller block is not
// what GKE does for any node pool, and for one pod a /31 would not even
// hold the pod and the block's network and broadcast addresses, which
// POOL_MAX_PODS_ABOVE_NODE_BLOCK asks of an explicit block.
func TestDefaultNodeCIDRMaskSizeAgreesWithGKE(t *testing.T) {
	for maxPods := int64(1); maxPods <= 256; maxPods++ {
		row := max(maxPods, gkeNodeBlocks[0].lo)
		want := -1
		for _, b := range gkeNodeBlocks {
			if b.lo <= row && row <= b.hi {
				want = b.mask
			}
		}
		got, err := DefaultNodeCIDRMaskSize(maxPods)
		if err != nil || got != want {
			t.Errorf("DefaultNodeCIDRMaskSize(%d) = /%d, %v; GKE's table: /%d", maxPods, got, err, want)
		}
		if block := int64(1) << (32 - got); block < maxPods+2 {
			t.Errorf("max pods %d: the default /%d block (%d addresses) cannot hold the pods, the network and the broadcast address", maxPods, got, block)
		}
	}
}
