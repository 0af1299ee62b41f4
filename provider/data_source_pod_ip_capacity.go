package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/k8sguard/k8sguard/provider/guard"
)

var _ datasource.DataSource = (*podIPCapacityDataSource)(nil)

// NewPodIPCapacityDataSource is k8sguard_pod_ip_capacity: how many nodes a
// pod range holds in node_cidr mode. Pure arithmetic, no cloud calls.
func NewPodIPCapacityDataSource() datasource.DataSource { return &podIPCapacityDataSource{} }

type podIPCapacityDataSource struct{}

type podIPCapacityModel struct {
	ID               types.String `tfsdk:"id"`
	PodCIDR          types.String `tfsdk:"pod_cidr"`
	MaxPodsPerNode   types.Int64  `tfsdk:"max_pods_per_node"`
	NodeCIDRMaskSize types.Int64  `tfsdk:"node_cidr_mask_size"`
	ReservedNodes    types.Int64  `tfsdk:"reserved_nodes"`
	PodIPsPerNode    types.Int64  `tfsdk:"pod_ips_per_node"`
	MaxNodes         types.Int64  `tfsdk:"max_nodes"`
}

func (d *podIPCapacityDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_pod_ip_capacity"
}

func (d *podIPCapacityDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "How many nodes a pod IP range can hold when every node takes a block of it (kube-controller-manager " +
			"node IPAM, GKE, Calico-style overlays): the arithmetic that ran out for Love Holidays, where a /16 at 110 pods " +
			"per node holds only 256 nodes. Makes no API calls, so it works in any configuration.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`<pod_cidr>/<node_cidr_mask_size>`."},
			"pod_cidr": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "The cluster's IPv4 pod range (kube-controller-manager `--cluster-cidr`), for example `10.64.0.0/16`.",
			},
			"max_pods_per_node": schema.Int64Attribute{
				Required:            true,
				MarkdownDescription: "The kubelet's `maxPods`. Decides the default node block: the smallest holding twice the pods, and /28 at the least, as GKE sizes them (110 → /24, 64 → /25, 32 → /26, 16 → /27, 8 or fewer → /28).",
				Validators:          []validator.Int64{int64validator.Between(1, 1<<20)},
			},
			"node_cidr_mask_size": schema.Int64Attribute{
				Optional:   true,
				Computed:   true,
				Validators: []validator.Int64{int64validator.Between(1, 32)},
				MarkdownDescription: "The node block's mask (kube-controller-manager `--node-cidr-mask-size`). Default: from `max_pods_per_node` " +
					"as above, as GKE sizes node pools; kube-controller-manager uses its flag for every node (default /24 whatever " +
					"`maxPods` is), so on a self-managed cluster set this to the flag's value. An explicit block must hold `max_pods_per_node + 2` addresses (rule `POOL_MAX_PODS_ABOVE_NODE_BLOCK`).",
			},
			"reserved_nodes": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "Node blocks to keep free (other pools, upgrades that surge nodes); subtracted from `max_nodes`. Default 0.",
				Validators:          []validator.Int64{int64validator.AtLeast(0)},
			},
			"pod_ips_per_node": schema.Int64Attribute{Computed: true, MarkdownDescription: "Addresses in one node block, `2^(32 - node_cidr_mask_size)`."},
			"max_nodes": schema.Int64Attribute{
				Computed:            true,
				MarkdownDescription: "Nodes the range can hold: `2^(node_cidr_mask_size - prefix length) - reserved_nodes`. A node beyond it gets no pod CIDR and its pods stay Pending.",
			},
		},
	}
}

func (d *podIPCapacityDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m podIPCapacityModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	mask := int(m.NodeCIDRMaskSize.ValueInt64()) // 0 when null: the default
	c, err := guard.NodeCIDR(m.PodCIDR.ValueString(), m.MaxPodsPerNode.ValueInt64(), mask)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("pod_cidr"), "Invalid pod range", err.Error())
		return
	}
	// The node-block rule is the same one k8sguard_node_pool runs.
	_, findings, err := guard.CheckNodePool(guard.NodePool{
		Mode: guard.ModeNodeCIDR, PodCIDR: m.PodCIDR.ValueString(), MaxPodsPerNode: m.MaxPodsPerNode.ValueInt64(), NodeCIDRMaskSize: mask,
	})
	if err != nil {
		resp.Diagnostics.AddError("Cannot size the pod range", err.Error())
		return
	}
	addFindings(&resp.Diagnostics, findings)
	if resp.Diagnostics.HasError() {
		return
	}
	reserved := m.ReservedNodes.ValueInt64()
	if reserved > c.MaxNodes {
		resp.Diagnostics.AddAttributeError(path.Root("reserved_nodes"), "More reserved nodes than the range holds",
			fmt.Sprintf("reserved_nodes %d is more than the %d node blocks of /%d in %s.", reserved, c.MaxNodes, c.NodeCIDRMaskSize, c.PodCIDR))
		return
	}
	m.ID = types.StringValue(fmt.Sprintf("%s/%d", c.PodCIDR, c.NodeCIDRMaskSize))
	m.NodeCIDRMaskSize = types.Int64Value(int64(c.NodeCIDRMaskSize))
	m.PodIPsPerNode = types.Int64Value(c.PodIPsPerNode)
	m.MaxNodes = types.Int64Value(c.MaxNodes - reserved)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
