package guard

import (
	"fmt"
	"math/bits"
	"net/netip"
)

// Pod IP modes: how a node's pods get their addresses.
const (
	// ModeNodeCIDR: kube-controller-manager node IPAM, GKE, Calico-style
	// overlays. Every node takes a whole block of the pod range.
	ModeNodeCIDR = "node_cidr"
	// ModeVPCCNI: the Amazon VPC CNI, pods take secondary IPs of the
	// node's ENIs from the subnet.
	ModeVPCCNI = "vpc_cni"
	// ModeVPCCNIPrefix: the VPC CNI with prefix delegation, pods take
	// addresses from /28 prefixes assigned to the ENIs.
	ModeVPCCNIPrefix = "vpc_cni_prefix"
)

// PodIPModes lists the modes, for validators and docs.
var PodIPModes = []string{ModeNodeCIDR, ModeVPCCNI, ModeVPCCNIPrefix}

// hostNetworkPods is the "+ 2" of the VPC CNI's max-pods formula: aws-node
// and kube-proxy run on the host network and use the node's own address.
const hostNetworkPods = 2

// prefixSize is the number of addresses in one delegated /28 prefix.
const prefixSize = 16

// DefaultNodeCIDRMaskSize is the node block GKE picks for a node pool's
// maxPods: the largest mask whose block holds at least twice the pods
// (110 → /24, 64 → /25, 32 → /26, 16 → /27, 8 → /28), and never smaller
// than GKE's smallest block, /28 (GKE takes 8 pods per node at least).
// Twice, so addresses freed by terminating pods are not reused at once.
// kube-controller-manager does not size by maxPods: every node gets its
// --node-cidr-mask-size (default /24), which users of such clusters pass
// explicitly.
func DefaultNodeCIDRMaskSize(maxPods int64) (int, error) {
	if maxPods < 1 {
		return 0, fmt.Errorf("max pods per node must be at least 1, got %d", maxPods)
	}
	if maxPods > 1<<30 {
		return 0, fmt.Errorf("max pods per node %d does not fit an IPv4 node block", maxPods)
	}
	// Host bits: the smallest h with 2^h >= 2*maxPods.
	h := bits.Len64(uint64(2*maxPods - 1))
	return min(32-h, SmallestDefaultNodeCIDRMask), nil
}

// SmallestDefaultNodeCIDRMask is GKE's smallest node block, for 8 pods or
// fewer: a /31 for one pod would not hold it beside the block's network
// and broadcast addresses.
const SmallestDefaultNodeCIDRMask = 28

// NodeCIDRCapacity is how many nodes a pod range holds in node_cidr mode.
type NodeCIDRCapacity struct {
	PodCIDR          netip.Prefix
	NodeCIDRMaskSize int
	// PodIPsPerNode is the size of one node block, 2^(32-mask).
	PodIPsPerNode int64
	// MaxNodes is the number of node blocks in the range, 2^(mask-prefix).
	MaxNodes int64
}

// ParsePodCIDR parses an IPv4 pod range in canonical form (no host bits).
func ParsePodCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("pod CIDR %q is not a CIDR block like 10.64.0.0/16: %v", s, err)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("pod CIDR %q is not IPv4: only IPv4 pod ranges are sized", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("pod CIDR %q has host bits set: did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// NodeCIDR sizes podCIDR for nodes running maxPods pods, with the explicit
// node block mask (0 picks DefaultNodeCIDRMaskSize). It does not judge
// whether the block is big enough for maxPods: CheckNodeBlock does.
func NodeCIDR(podCIDR string, maxPods int64, maskSize int) (NodeCIDRCapacity, error) {
	p, err := ParsePodCIDR(podCIDR)
	if err != nil {
		return NodeCIDRCapacity{}, err
	}
	if maskSize == 0 {
		if maskSize, err = DefaultNodeCIDRMaskSize(maxPods); err != nil {
			return NodeCIDRCapacity{}, err
		}
	}
	if maskSize < 1 || maskSize > 32 {
		return NodeCIDRCapacity{}, fmt.Errorf("node CIDR mask size /%d is not an IPv4 mask (1 to 32)", maskSize)
	}
	c := NodeCIDRCapacity{PodCIDR: p, NodeCIDRMaskSize: maskSize, PodIPsPerNode: int64(1) << (32 - maskSize)}
	if maskSize >= p.Bits() {
		c.MaxNodes = int64(1) << (maskSize - p.Bits())
	}
	return c, nil
}

// InstanceNetwork is what DescribeInstanceTypes reports about an instance
// type that bounds its pods.
type InstanceNetwork struct {
	InstanceType string
	// MaxENIs is NetworkInfo.MaximumNetworkInterfaces: the ENIs of every
	// network card together. Pods get only the default card's (PodENIs).
	MaxENIs int64
	// NetworkCards and DefaultNetworkCardIndex: NetworkInfo's per-card ENI
	// limits and the card the primary ENI is on.
	NetworkCards            []NetworkCard
	DefaultNetworkCardIndex int
	IPv4PerENI              int64  // NetworkInfo.Ipv4AddressesPerInterface
	Hypervisor              string // "nitro", "xen", or "" (bare metal reports none)
	BareMetal               bool
	VCPUs                   int64 // VCpuInfo.DefaultVCpus
}

// NetworkCard is one entry of NetworkInfo.NetworkCards.
type NetworkCard struct {
	Index   int   // NetworkCardIndex
	MaxENIs int64 // MaximumNetworkInterfaces of this card
}

// Hypervisors DescribeInstanceTypes reports.
const (
	HypervisorNitro = "nitro"
	HypervisorXen   = "xen"
)

// EKS's recommended max pods (max-pods-calculator.sh in
// awslabs/amazon-eks-ami): at most 110 pods on instance types with up to
// 30 vCPUs, 250 above; Kubernetes itself is tested to 110 pods per node.
const (
	RecommendedMaxPodsSmall        = 110
	RecommendedMaxPodsLarge        = 250
	recommendedMaxPodsSmallMaxCPUs = 30
)

// PodENIs is the number of ENIs the VPC CNI gives pods: those of the
// default network card. ipamd attaches ENIs to that card only, so the ENIs
// of the other cards (p5.48xlarge has 32 cards of 2) never carry a pod; AWS's
// eni-max-pods.txt and max-pods-calculator.sh count the same way. Without
// card data it is MaxENIs.
func (n InstanceNetwork) PodENIs() int64 {
	for _, c := range n.NetworkCards {
		if c.Index == n.DefaultNetworkCardIndex {
			return c.MaxENIs
		}
	}
	return n.MaxENIs
}

// PrefixDelegationSupported reports whether the VPC CNI assigns /28
// prefixes on this type: only on the Nitro system (hypervisor nitro, or
// bare metal, which is Nitro and reports no hypervisor). Elsewhere ipamd
// logs a warning and falls back to one secondary IP per pod.
func (n InstanceNetwork) PrefixDelegationSupported() bool {
	return n.Hypervisor == HypervisorNitro || n.BareMetal
}

// MaxPods is the VPC CNI's limit: ENIs × (IPv4 per ENI − 1) + 2, with the
// default network card's ENIs (the figure of AWS's eni-max-pods.txt).
func (n InstanceNetwork) MaxPods() int64 {
	return n.PodENIs()*(n.IPv4PerENI-1) + hostNetworkPods
}

// MaxPodsWithPrefixes is the limit with prefix delegation, where every
// secondary-address slot holds a /28: ENIs × (IPv4 per ENI − 1) × 16 + 2.
// It holds only where PrefixDelegationSupported.
func (n InstanceNetwork) MaxPodsWithPrefixes() int64 {
	return n.PodENIs()*(n.IPv4PerENI-1)*prefixSize + hostNetworkPods
}

// LimitFor is the max-pods limit of the instance type in mode, as
// max-pods-calculator.sh --show-max-allowed computes it: prefix mode on a
// type without prefix delegation gets the secondary-IP limit the CNI falls
// back to.
func (n InstanceNetwork) LimitFor(mode string) int64 {
	if mode == ModeVPCCNIPrefix && n.PrefixDelegationSupported() {
		return n.MaxPodsWithPrefixes()
	}
	return n.MaxPods()
}

// RecommendedCap is EKS's recommended ceiling on max pods for the type's
// vCPUs (110 up to 30 vCPUs, 250 above), or 0 when the vCPUs are unknown.
func (n InstanceNetwork) RecommendedCap() int64 {
	switch {
	case n.VCPUs <= 0:
		return 0
	case n.VCPUs > recommendedMaxPodsSmallMaxCPUs:
		return RecommendedMaxPodsLarge
	default:
		return RecommendedMaxPodsSmall
	}
}

// RecommendedMaxPods is max-pods-calculator.sh's answer without
// --show-max-allowed: the limit in mode, capped by RecommendedCap.
func (n InstanceNetwork) RecommendedMaxPods(mode string) int64 {
	limit := n.LimitFor(mode)
	if c := n.RecommendedCap(); c > 0 {
		return min(limit, c)
	}
	return limit
}

func (n InstanceNetwork) validate() error {
	if n.PodENIs() < 1 || n.IPv4PerENI < 2 {
		return fmt.Errorf("instance type %s: %d ENIs with %d IPv4 addresses each cannot host pods", n.InstanceType, n.PodENIs(), n.IPv4PerENI)
	}
	return nil
}

// VPCCNIIPsPerNode is how many subnet addresses one node takes in vpc_cni
// mode at maxPods. With the CNI's default WARM_ENI_TARGET=1, ipamd fills
// every ENI it attaches with all its secondary IPs, and attaches ENIs until
// a whole ENI's worth of secondary IPs is free: the maxPods − 2 pods'
// addresses need ceil(pods / (IPv4 per ENI − 1)) ENIs, one more is warm, up
// to the ENIs the instance has, and each attached ENI holds all its IPv4
// addresses (its primary too). This is the table of the CNI's
// docs/eni-and-ip-target.md: a t3.small with 5 pods holds 3 ENIs and 9
// secondary IPs; a p3dn.24xlarge with 3 pods holds 2 ENIs and 98.
func VPCCNIIPsPerNode(maxPods int64, n InstanceNetwork) (int64, error) {
	if err := n.validate(); err != nil {
		return 0, err
	}
	if maxPods < 1 {
		return 0, fmt.Errorf("max pods per node must be at least 1, got %d", maxPods)
	}
	if maxPods > n.MaxPods() {
		return 0, fmt.Errorf("%d pods exceed the %d %s can address in vpc_cni mode", maxPods, n.MaxPods(), n.InstanceType)
	}
	return vpcCNIAttachedENIs(max(maxPods-hostNetworkPods, 0), n) * n.IPv4PerENI, nil
}

// vpcCNIAttachedENIs is how many ENIs ipamd keeps attached (WARM_ENI_TARGET=1)
// while pods pods use secondary IPs: the ENIs they fill, and one whole ENI
// of free addresses, up to the instance's pod ENIs.
func vpcCNIAttachedENIs(pods int64, n InstanceNetwork) int64 {
	return min(n.PodENIs(), ceilDiv(pods, n.IPv4PerENI-1)+1)
}

// VPCCNIPrefixIPsPerNode is how many subnet addresses one node takes with
// prefix delegation: whole /28 prefixes for the pods (maxPods − 2), one
// primary IP per ENI carrying them, and one warm prefix (the CNI's default
// WARM_PREFIX_TARGET=1) when a slot is free for it.
func VPCCNIPrefixIPsPerNode(maxPods int64, n InstanceNetwork) (int64, error) {
	if err := n.validate(); err != nil {
		return 0, err
	}
	if maxPods < 1 {
		return 0, fmt.Errorf("max pods per node must be at least 1, got %d", maxPods)
	}
	if maxPods > n.MaxPodsWithPrefixes() {
		return 0, fmt.Errorf("%d pods exceed the %d %s can address in vpc_cni_prefix mode", maxPods, n.MaxPodsWithPrefixes(), n.InstanceType)
	}
	podIPs := max(maxPods-hostNetworkPods, 0)
	prefixes := ceilDiv(podIPs, prefixSize)
	slots := n.PodENIs() * (n.IPv4PerENI - 1)
	if prefixes < slots {
		prefixes++ // the warm prefix: a whole one free (the only one with no pods)
	}
	enis := max(ceilDiv(prefixes, n.IPv4PerENI-1), 1)
	return prefixes*prefixSize + enis, nil
}

// IPsPerNode dispatches on the VPC modes.
func IPsPerNode(mode string, maxPods int64, n InstanceNetwork) (int64, error) {
	switch mode {
	case ModeVPCCNI:
		return VPCCNIIPsPerNode(maxPods, n)
	case ModeVPCCNIPrefix:
		if !n.PrefixDelegationSupported() {
			return VPCCNIIPsPerNode(maxPods, n) // what the CNI falls back to
		}
		return VPCCNIPrefixIPsPerNode(maxPods, n)
	default:
		return 0, fmt.Errorf("pod IP mode %q does not take addresses from subnets", mode)
	}
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
