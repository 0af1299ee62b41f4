package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/k8sguard/k8sguard/provider/guard"
)

var _ function.Function = (*podCIDRMaxNodesFunction)(nil)

// NewPodCIDRMaxNodesFunction is provider::k8sguard::pod_cidr_max_nodes.
func NewPodCIDRMaxNodesFunction() function.Function { return &podCIDRMaxNodesFunction{} }

type podCIDRMaxNodesFunction struct{}

func (f *podCIDRMaxNodesFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "pod_cidr_max_nodes"
}

func (f *podCIDRMaxNodesFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "Nodes a pod IP range holds at a given max pods per node",
		MarkdownDescription: "Returns how many nodes `pod_cidr` can hold when every node takes a block of it sized for " +
			"`max_pods_per_node` (the smallest block holding twice the pods, and /28 at the least: 110 → /24, 64 → /25, 32 → /26, 16 → /27, 8 or fewer → /28), " +
			"as GKE sizes a node pool's blocks. A /16 at 110 pods holds 256 nodes. kube-controller-manager's node IPAM gives every node " +
			"the same `--node-cidr-mask-size` (default /24 for IPv4) whatever `maxPods` is: on such a cluster use the " +
			"`k8sguard_pod_ip_capacity` data source with `node_cidr_mask_size` set to the flag's value. No API calls.",
		Parameters: []function.Parameter{
			function.StringParameter{Name: "pod_cidr", MarkdownDescription: "The IPv4 pod range, for example `10.64.0.0/16`."},
			function.Int64Parameter{Name: "max_pods_per_node", MarkdownDescription: "The kubelet's `maxPods`, at least 1."},
		},
		Return: function.Int64Return{},
	}
}

func (f *podCIDRMaxNodesFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var cidr string
	var maxPods int64
	resp.Error = function.ConcatFuncErrors(resp.Error, req.Arguments.Get(ctx, &cidr, &maxPods))
	if resp.Error != nil {
		return
	}
	if maxPods < 1 {
		resp.Error = function.NewArgumentFuncError(1, "max_pods_per_node must be at least 1")
		return
	}
	if _, err := guard.ParsePodCIDR(cidr); err != nil {
		resp.Error = function.NewArgumentFuncError(0, err.Error())
		return
	}
	c, err := guard.NodeCIDR(cidr, maxPods, 0)
	if err != nil {
		resp.Error = function.NewArgumentFuncError(1, err.Error())
		return
	}
	resp.Error = function.ConcatFuncErrors(resp.Error, resp.Result.Set(ctx, c.MaxNodes))
}
