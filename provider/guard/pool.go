package guard

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Rule IDs of the node pool family.
const (
	RulePoolExceedsPodRange           = "POOL_EXCEEDS_POD_RANGE"
	RulePoolMaxPodsAboveNodeBlock     = "POOL_MAX_PODS_ABOVE_NODE_BLOCK"
	RulePoolMaxPodsAboveInstanceLimit = "POOL_MAX_PODS_ABOVE_INSTANCE_LIMIT"
	RulePoolPrefixNeedsNitro          = "POOL_PREFIX_NEEDS_NITRO"
	RulePoolMaxPodsAboveRecommended   = "POOL_MAX_PODS_ABOVE_RECOMMENDED"
)

var storyPodIPs = Story{
	Name: "pod IP range exhausted, half the pods Pending (Love Holidays, GKE)",
	URL:  "https://deploy.live/blog/when-gke-ran-out-of-ip-addresses/", // loveholidays' engineering blog
}

var _ = register(
	Rule{
		ID: RulePoolExceedsPodRange, Family: "pool", Severity: Error, Waivable: true,
		Checks: "the pool's max_size, with every other pool on the same pod range or subnets grown to its max_size, fits the pod addresses",
		Story:  storyPodIPs,
	},
	Rule{
		ID: RulePoolMaxPodsAboveNodeBlock, Family: "pool", Severity: Error, Waivable: false,
		Checks: "in node_cidr mode an explicit node_cidr_mask_size gives every node at least max_pods_per_node + 2 addresses",
		Story:  storyPodIPs,
	},
	Rule{
		ID: RulePoolMaxPodsAboveInstanceLimit, Family: "pool", Severity: Error, Waivable: false,
		Checks: "in vpc_cni modes max_pods_per_node is at most what the instance type's ENIs on the default network card can address " +
			"(ENIs × (IPv4 per ENI − 1) + 2, × 16 with prefixes), the figures of AWS's eni-max-pods.txt and max-pods-calculator.sh",
		Story: storyPodIPs,
	},
	Rule{
		ID: RulePoolPrefixNeedsNitro, Family: "pool", Severity: Error, Waivable: false,
		Checks: "in vpc_cni_prefix mode every instance type is built on Nitro (the VPC CNI assigns prefixes nowhere else and falls back to one address per pod)",
		Story:  storyPodIPs,
	},
	Rule{
		ID: RulePoolMaxPodsAboveRecommended, Family: "pool", Severity: Warning, Waivable: false,
		Checks: "in vpc_cni modes max_pods_per_node is at most EKS's recommended maximum for the instance type (110 up to 30 vCPUs, 250 above)",
		Story:  storyPodIPs,
	},
)

// NodePool is the sizing of a k8sguard_node_pool.
type NodePool struct {
	Name           string
	Mode           string // ModeNodeCIDR, ModeVPCCNI or ModeVPCCNIPrefix
	MaxPodsPerNode int64
	MaxSize        int64
	// node_cidr mode only.
	PodCIDR          string
	NodeCIDRMaskSize int // 0: DefaultNodeCIDRMaskSize
	// Cloud holds what the provider read from AWS at plan; nil when the
	// checks run without it (terraform validate), which skips the rules
	// that need it.
	Cloud *PoolCloudFacts
}

// PoolCloudFacts is what AWS says about the pool's surroundings.
type PoolCloudFacts struct {
	// CurrentSize is the pool's node count now (0 when it is new).
	CurrentSize int64
	// InstanceTypes are the pool's instance types (vpc_cni modes).
	InstanceTypes []InstanceNetwork
	// Subnets and FreeSubnetIPs: the pool's subnets and the sum of their
	// AvailableIpAddressCount (vpc_cni modes).
	Subnets       []string
	FreeSubnetIPs int64
	// Siblings are the other node groups drawing on the same addresses: the
	// same pod range (node_cidr) or any of the same subnets (vpc_cni).
	Siblings []SiblingPool
}

// SiblingPool is another node group of the cluster.
type SiblingPool struct {
	Name          string
	PodIPsPerNode int64 // addresses one of its nodes takes (vpc_cni modes)
	// NodeCIDRMaskSize is its node block (node_cidr mode); 0 when unknown
	// (a pool k8sguard did not make), which counts as the pool's own.
	NodeCIDRMaskSize int
	CurrentSize      int64
	MaxSize          int64
	// Foreign: not made by k8sguard, sized at its instance type's maximum.
	Foreign bool
}

// PoolCapacity is what the provider exports about a pool's sizing.
type PoolCapacity struct {
	NodeCIDRMaskSize int   // node_cidr mode
	PodIPsPerNode    int64 // addresses one node takes
	// MaxNodesByPodIPs is how many nodes this pool can have while every
	// sibling grows to its max_size; -1 when unknown (no cloud facts).
	MaxNodesByPodIPs int64
}

// Headroom is how many nodes the pool could add beyond max_size; -1 unknown.
func (c PoolCapacity) Headroom(maxSize int64) int64 {
	if c.MaxNodesByPodIPs < 0 {
		return -1
	}
	return c.MaxNodesByPodIPs - maxSize
}

// CheckNodePool sizes the pool and runs the pool rules. Errors in the
// inputs themselves (a malformed CIDR) come back as err, not findings.
func CheckNodePool(p NodePool) (PoolCapacity, []Finding, error) {
	if p.Mode == ModeNodeCIDR {
		return checkNodeCIDRPool(p)
	}
	return checkVPCPool(p)
}

func checkNodeCIDRPool(p NodePool) (PoolCapacity, []Finding, error) {
	out := PoolCapacity{MaxNodesByPodIPs: -1}
	if p.PodCIDR == "" {
		return out, nil, fmt.Errorf("pod_ip_mode %q needs pod_cidr, the range node blocks are cut from", ModeNodeCIDR)
	}
	c, err := NodeCIDR(p.PodCIDR, p.MaxPodsPerNode, p.NodeCIDRMaskSize)
	if err != nil {
		return out, nil, err
	}
	out.NodeCIDRMaskSize, out.PodIPsPerNode = c.NodeCIDRMaskSize, c.PodIPsPerNode
	var fs []Finding
	if p.NodeCIDRMaskSize != 0 && c.PodIPsPerNode < p.MaxPodsPerNode+2 {
		fs = append(fs, finding(RulePoolMaxPodsAboveNodeBlock, Path{"max_pods_per_node"},
			"max_pods_per_node %d needs %d addresses per node (pods + network + broadcast), but a /%d node block holds %d: "+
				"pods beyond %d on a node never get an address. Use node_cidr_mask_size /%d or shorter, or omit it for the 2× default.",
			p.MaxPodsPerNode, p.MaxPodsPerNode+2, c.NodeCIDRMaskSize, c.PodIPsPerNode, c.PodIPsPerNode-2,
			32-bitsFor(p.MaxPodsPerNode+2)))
	}

	// Every node of every pool on this range takes one block, of its own
	// pool's size: counted here in blocks of ours.
	var siblingNodes int64
	var held []string
	if p.Cloud != nil {
		for _, s := range sortedSiblings(p.Cloud.Siblings) {
			blocks := siblingBlocks(s, c.NodeCIDRMaskSize)
			// Saturate: past the range is past it (and no sum overflows).
			siblingNodes = min(siblingNodes+min(blocks, c.MaxNodes+1), c.MaxNodes+1)
			if s.NodeCIDRMaskSize == 0 || s.NodeCIDRMaskSize == c.NodeCIDRMaskSize {
				held = append(held, fmt.Sprintf("%s (%d)", s.Name, s.MaxSize))
			} else {
				held = append(held, fmt.Sprintf("%s (%d of /%d, the room of %d of /%d)", s.Name, s.MaxSize, s.NodeCIDRMaskSize, blocks, c.NodeCIDRMaskSize))
			}
		}
	}
	fit := max(c.MaxNodes-siblingNodes, 0)
	if p.Cloud != nil {
		out.MaxNodesByPodIPs = fit
	}
	if p.MaxSize > fit {
		msg := fmt.Sprintf("max_size %d needs %d node blocks of /%d, but %s holds %d (2^(%d-%d))",
			p.MaxSize, p.MaxSize, c.NodeCIDRMaskSize, c.PodCIDR, c.MaxNodes, c.NodeCIDRMaskSize, c.PodCIDR.Bits())
		if len(held) > 0 {
			msg += fmt.Sprintf(" and the other pools on it hold %d at their max_size: %s", siblingNodes, strings.Join(held, ", "))
		}
		msg += fmt.Sprintf(": at most %d nodes fit in this pool, the rest would get no pod CIDR and their pods stay Pending. "+
			"Use a larger pod_cidr, a lower max_pods_per_node (smaller blocks) or a lower max_size.", fit)
		fs = append(fs, finding(RulePoolExceedsPodRange, Path{"max_size"}, "%s", msg))
	}
	return out, fs, nil
}

// siblingBlocks is the room a sibling's nodes take on the range at its
// max_size, in node blocks of /ours: a larger block is 2^(ours - its) of
// ours, smaller ones pack 2^(its - ours) to one of ours.
func siblingBlocks(s SiblingPool, ours int) int64 {
	its := s.NodeCIDRMaskSize
	switch {
	case its == 0 || its == ours:
		return s.MaxSize
	case its < ours:
		if ours-its >= 32 || s.MaxSize > math.MaxInt64>>(ours-its) {
			return math.MaxInt64
		}
		return s.MaxSize << (ours - its)
	default:
		return ceilDiv(s.MaxSize, int64(1)<<(its-ours))
	}
}

func checkVPCPool(p NodePool) (PoolCapacity, []Finding, error) {
	out := PoolCapacity{MaxNodesByPodIPs: -1}
	if p.Mode != ModeVPCCNI && p.Mode != ModeVPCCNIPrefix {
		return out, nil, fmt.Errorf("pod_ip_mode %q is not one of %v", p.Mode, PodIPModes)
	}
	if p.MaxPodsPerNode < 1 {
		return out, nil, fmt.Errorf("max_pods_per_node must be at least 1, got %d", p.MaxPodsPerNode)
	}
	if p.Cloud == nil {
		return out, nil, nil // everything here depends on the instance types and subnets
	}
	if len(p.Cloud.InstanceTypes) == 0 {
		return out, nil, fmt.Errorf("no instance type information for node pool %s", p.Name)
	}
	fs, err := checkInstanceTypes(p, &out)
	if err != nil || HasErrors(fs) {
		return out, fs, err
	}

	// The addresses the siblings on our subnets will still take.
	var siblingNeed int64
	var held []string
	for _, s := range sortedSiblings(p.Cloud.Siblings) {
		growth := max(s.MaxSize-s.CurrentSize, 0)
		if growth == 0 {
			continue
		}
		siblingNeed += growth * s.PodIPsPerNode
		how := ""
		if s.Foreign {
			how = ", not k8sguard-made: at its instance type's maximum"
		}
		held = append(held, fmt.Sprintf("%s (%d nodes × %d%s)", s.Name, growth, s.PodIPsPerNode, how))
	}
	spare := p.Cloud.FreeSubnetIPs - siblingNeed
	out.MaxNodesByPodIPs = p.Cloud.CurrentSize + max(spare, 0)/out.PodIPsPerNode
	if p.MaxSize > out.MaxNodesByPodIPs {
		growth := max(p.MaxSize-p.Cloud.CurrentSize, 0)
		msg := fmt.Sprintf("max_size %d would take %d more addresses (%d nodes × %d per node at max_pods_per_node %d), "+
			"but subnets %s have %d free",
			p.MaxSize, growth*out.PodIPsPerNode, growth, out.PodIPsPerNode, p.MaxPodsPerNode,
			strings.Join(p.Cloud.Subnets, ", "), p.Cloud.FreeSubnetIPs)
		if len(held) > 0 {
			msg += fmt.Sprintf(" and the other pools on them take %d growing to their max_size: %s", siblingNeed, strings.Join(held, ", "))
		}
		msg += fmt.Sprintf(": at most %d nodes fit in this pool, the rest would start without pod addresses. "+
			"Lower max_size or max_pods_per_node, use prefix delegation, or add subnets.", out.MaxNodesByPodIPs)
		fs = append(fs, finding(RulePoolExceedsPodRange, Path{"max_size"}, "%s", msg))
	}
	return out, fs, nil
}

// checkInstanceTypes runs the per-instance-type rules of the VPC CNI modes
// and sets out.PodIPsPerNode to what the hungriest type takes: the pool
// must fit whichever type the node group launches.
func checkInstanceTypes(p NodePool, out *PoolCapacity) ([]Finding, error) {
	var fs []Finding
	for i, it := range p.Cloud.InstanceTypes {
		at := Path{"instance_types", i}
		if p.Mode == ModeVPCCNIPrefix && !it.PrefixDelegationSupported() {
			fs = append(fs, finding(RulePoolPrefixNeedsNitro, at,
				"pod_ip_mode \"vpc_cni_prefix\" needs a Nitro instance type, but %s is not one (hypervisor %s): the VPC CNI "+
					"assigns it no prefixes and falls back to one address per pod, %d pods at most (%d ENIs × (%d IPv4 per ENI − 1) + 2). "+
					"Use pod_ip_mode = \"vpc_cni\" with max_pods_per_node at most %d, or a Nitro instance type.",
				it.InstanceType, hypervisorName(it), it.MaxPods(), it.PodENIs(), it.IPv4PerENI, it.MaxPods()))
			continue
		}
		limit := it.LimitFor(p.Mode)
		if p.MaxPodsPerNode > limit {
			hint := "use a larger instance type"
			if p.Mode == ModeVPCCNI {
				hint += " or pod_ip_mode = \"vpc_cni_prefix\""
			}
			fs = append(fs, finding(RulePoolMaxPodsAboveInstanceLimit, at,
				"max_pods_per_node %d is above the %d pods %s can address in %s mode (%d ENIs × (%d IPv4 per ENI − 1)%s + 2): "+
					"the kubelet would admit pods the CNI cannot give an address. Lower max_pods_per_node to %d or %s.",
				p.MaxPodsPerNode, limit, it.InstanceType, p.Mode, it.PodENIs(), it.IPv4PerENI, prefixFactor(p.Mode), limit, hint))
			continue
		}
		if c := it.RecommendedCap(); c > 0 && p.MaxPodsPerNode > c {
			fs = append(fs, finding(RulePoolMaxPodsAboveRecommended, at,
				"max_pods_per_node %d is above the %d pods EKS recommends for %s (%d vCPUs; max-pods-calculator.sh: %d up to %d vCPUs, %d above). "+
					"Lower max_pods_per_node to %d unless the nodes were load-tested at this density.",
				p.MaxPodsPerNode, c, it.InstanceType, it.VCPUs, RecommendedMaxPodsSmall, recommendedMaxPodsSmallMaxCPUs, RecommendedMaxPodsLarge, c))
		}
		ips, err := IPsPerNode(p.Mode, p.MaxPodsPerNode, it)
		if err != nil {
			return nil, err
		}
		out.PodIPsPerNode = max(out.PodIPsPerNode, ips)
	}
	return fs, nil
}

// hypervisorName is how a finding names the type's hypervisor.
func hypervisorName(it InstanceNetwork) string {
	if it.Hypervisor == "" {
		return "unknown"
	}
	return it.Hypervisor
}

func prefixFactor(mode string) string {
	if mode == ModeVPCCNIPrefix {
		return " × 16"
	}
	return ""
}

// bitsFor is the number of host bits a block of n addresses needs.
func bitsFor(n int64) int {
	b := 0
	for int64(1)<<b < n {
		b++
	}
	return b
}

func sortedSiblings(in []SiblingPool) []SiblingPool {
	out := append([]SiblingPool(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
