package provider

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/k8sguard/k8sguard/provider/cloud"
	"github.com/k8sguard/k8sguard/provider/guard"
)

var (
	_ resource.ResourceWithConfigure      = (*nodePoolResource)(nil)
	_ resource.ResourceWithValidateConfig = (*nodePoolResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*nodePoolResource)(nil)
	_ resource.ResourceWithImportState    = (*nodePoolResource)(nil)
)

// Tags k8sguard puts on the node group and its launch template: the sizing
// the guard checked, read back when another pool sizes itself against this one.
const (
	tagManagedBy       = "k8sguard:managed-by"
	tagPodIPMode       = "k8sguard:pod-ip-mode"
	tagMaxPodsPerNode  = "k8sguard:max-pods-per-node"
	tagSubnetIPsByNode = "k8sguard:subnet-ips-per-node"
	tagPodCIDR         = "k8sguard:pod-cidr"
	tagNodeCIDRMask    = "k8sguard:node-cidr-mask-size"
	managedByNodePool  = "k8sguard_node_pool"
)

// eksDefaultInstanceType is what EKS launches for a managed node group that
// names no instance type anywhere.
const eksDefaultInstanceType = "t3.medium"

// NewNodePoolResource is k8sguard_node_pool: an EKS managed node group that
// cannot outgrow its pod IPs.
func NewNodePoolResource() resource.Resource {
	return &nodePoolResource{resourceBase{typeSuffix: "_node_pool"}}
}

type nodePoolResource struct{ resourceBase }

type nodePoolModel struct {
	ID                    types.String `tfsdk:"id"`
	ARN                   types.String `tfsdk:"arn"`
	ClusterName           types.String `tfsdk:"cluster_name"`
	Name                  types.String `tfsdk:"name"`
	NodeRoleARN           types.String `tfsdk:"node_role_arn"`
	SubnetIDs             types.List   `tfsdk:"subnet_ids"`
	InstanceTypes         types.List   `tfsdk:"instance_types"`
	MinSize               types.Int64  `tfsdk:"min_size"`
	DesiredSize           types.Int64  `tfsdk:"desired_size"`
	MaxSize               types.Int64  `tfsdk:"max_size"`
	MaxPodsPerNode        types.Int64  `tfsdk:"max_pods_per_node"`
	PodIPMode             types.String `tfsdk:"pod_ip_mode"`
	PodCIDR               types.String `tfsdk:"pod_cidr"`
	NodeCIDRMaskSize      types.Int64  `tfsdk:"node_cidr_mask_size"`
	Labels                types.Map    `tfsdk:"labels"`
	Taints                []taintModel `tfsdk:"taint"`
	Tags                  types.Map    `tfsdk:"tags"`
	Waivers               types.Map    `tfsdk:"waivers"`
	Findings              types.List   `tfsdk:"findings"`
	LaunchTemplateID      types.String `tfsdk:"launch_template_id"`
	LaunchTemplateVersion types.Int64  `tfsdk:"launch_template_version"`
	PodIPsPerNode         types.Int64  `tfsdk:"pod_ips_per_node"`
	MaxNodesByPodIPs      types.Int64  `tfsdk:"max_nodes_by_pod_ips"`
	PodIPHeadroom         types.Int64  `tfsdk:"pod_ip_headroom"`
}

type taintModel struct {
	Key    types.String `tfsdk:"key"`
	Value  types.String `tfsdk:"value"`
	Effect types.String `tfsdk:"effect"`
}

func (r *nodePoolResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	computedInt := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "An EKS managed node group that cannot outgrow its pod IPs. At plan it reads the subnets' free " +
			"addresses and the cluster's other node groups and refuses (`POOL_EXCEEDS_POD_RANGE`) a `max_size` whose growth, " +
			"together with the other pools growing to their `max_size`, would exhaust the addresses: the failure that left half " +
			"of Love Holidays' pods Pending. The node group gets a launch template whose user data sets the kubelet's `maxPods`, " +
			"so nodes run with the sizing the guard checked; both carry that sizing as `k8sguard:*` tags. " +
			"Changes of `desired_size` made by an autoscaler are not drift.",
		Attributes: map[string]schema.Attribute{
			"id":  schema.StringAttribute{Computed: true, MarkdownDescription: "`cluster_name:name`, also the import ID.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"arn": schema.StringAttribute{Computed: true, MarkdownDescription: "The node group's ARN.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"cluster_name": schema.StringAttribute{
				Required: true, PlanModifiers: replace, MarkdownDescription: "The EKS cluster the node group belongs to.",
			},
			"name": schema.StringAttribute{
				Required: true, PlanModifiers: replace, MarkdownDescription: "The node group's name; the launch template is `k8sguard-<cluster_name>-<name>`.",
				Validators: []validator.String{stringvalidator.LengthBetween(1, 63)},
			},
			"node_role_arn": schema.StringAttribute{Required: true, PlanModifiers: replace, MarkdownDescription: "IAM role the nodes run as."},
			"subnet_ids": schema.ListAttribute{
				ElementType: types.StringType, Required: true,
				PlanModifiers:       []planmodifier.List{listplanmodifier.RequiresReplace()},
				Validators:          []validator.List{listvalidator.SizeAtLeast(1), listvalidator.UniqueValues()},
				MarkdownDescription: "Subnets the nodes (and, with the VPC CNI, their pods) take addresses from.",
			},
			"instance_types": schema.ListAttribute{
				ElementType: types.StringType, Required: true,
				PlanModifiers:       []planmodifier.List{listplanmodifier.RequiresReplace()},
				Validators:          []validator.List{listvalidator.SizeAtLeast(1), listvalidator.UniqueValues()},
				MarkdownDescription: "Instance types. With the VPC CNI every one must address `max_pods_per_node` pods (`POOL_MAX_PODS_ABOVE_INSTANCE_LIMIT`); the pool is sized for the type that takes the most addresses.",
			},
			"min_size": schema.Int64Attribute{Required: true, Validators: []validator.Int64{int64validator.AtLeast(0)}, MarkdownDescription: "Fewest nodes."},
			"desired_size": schema.Int64Attribute{
				Required: true, Validators: []validator.Int64{int64validator.AtLeast(0)},
				MarkdownDescription: "Nodes at creation. Later changes made by an autoscaler are not drift; changing this value sets the size once.",
			},
			"max_size": schema.Int64Attribute{
				Required: true, Validators: []validator.Int64{int64validator.AtLeast(1)},
				MarkdownDescription: "Most nodes. Checked against the pod addresses, counting every other pool on the same range or subnets at its own `max_size` (`POOL_EXCEEDS_POD_RANGE`).",
			},
			"max_pods_per_node": schema.Int64Attribute{
				Required: true, Validators: []validator.Int64{int64validator.Between(1, 1000)},
				MarkdownDescription: "The kubelet's `maxPods`, written into the launch template's user data (an AL2023 `NodeConfig`).",
			},
			"pod_ip_mode": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(guard.ModeVPCCNI),
				Validators: []validator.String{stringvalidator.OneOf(guard.PodIPModes...)},
				MarkdownDescription: "Where pods get addresses: `vpc_cni` (secondary IPs from the subnets: `max_pods_per_node` + one primary IP per ENI " +
					"+ a warm ENI per node), `vpc_cni_prefix` (prefix delegation: whole /28 prefixes plus a warm one), or `node_cidr` " +
					"(every node takes a block of `pod_cidr`, kube-controller-manager IPAM or an overlay). Default `vpc_cni`.",
			},
			"pod_cidr": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "`node_cidr` mode only: the cluster's IPv4 pod range (kube-controller-manager `--cluster-cidr`).",
			},
			"node_cidr_mask_size": schema.Int64Attribute{
				Optional: true, Computed: true, Validators: []validator.Int64{int64validator.Between(1, 32)},
				MarkdownDescription: "`node_cidr` mode only: the node block mask (`--node-cidr-mask-size`). Default: the smallest block holding " +
					"twice `max_pods_per_node` (110 → /24). An explicit block must hold `max_pods_per_node + 2` (`POOL_MAX_PODS_ABOVE_NODE_BLOCK`).",
			},
			"labels":   schema.MapAttribute{ElementType: types.StringType, Optional: true, MarkdownDescription: "Kubernetes labels of the nodes."},
			"tags":     schema.MapAttribute{ElementType: types.StringType, Optional: true, MarkdownDescription: "AWS tags of the node group and its launch template (`k8sguard:*` keys are reserved)."},
			"waivers":  waiversAttribute(),
			"findings": findingsAttribute(),
			"launch_template_id": schema.StringAttribute{
				Computed: true, MarkdownDescription: "The launch template k8sguard made for the node group.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"launch_template_version": computedInt("The launch template version the node group runs; a new one is made when `max_pods_per_node` or the sizing changes."),
			"pod_ips_per_node":        computedInt("Addresses one node takes: its node block (`node_cidr`) or its subnet addresses (VPC CNI modes)."),
			"max_nodes_by_pod_ips":    computedInt("Nodes this pool could have while every other pool on the same addresses grows to its `max_size`."),
			"pod_ip_headroom":         computedInt("`max_nodes_by_pod_ips - max_size`: nodes the pool could still add."),
		},
		Blocks: map[string]schema.Block{
			"taint": schema.ListNestedBlock{
				MarkdownDescription: "Kubernetes taints of the nodes.",
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"key":   schema.StringAttribute{Required: true, MarkdownDescription: "Taint key."},
					"value": schema.StringAttribute{Optional: true, MarkdownDescription: "Taint value."},
					"effect": schema.StringAttribute{
						Required: true, MarkdownDescription: "`NO_SCHEDULE`, `NO_EXECUTE` or `PREFER_NO_SCHEDULE`.",
						Validators: []validator.String{stringvalidator.OneOf("NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE")},
					},
				}},
			},
		},
	}
}

// sizingKnown reports whether every input of the pool rules is known
// (node_cidr_mask_size is checked on the configuration: in the plan it is
// unknown until the rules compute its default).
func (m *nodePoolModel) sizingKnown() bool {
	return !m.MaxPodsPerNode.IsUnknown() && !m.MaxSize.IsUnknown() && !m.PodIPMode.IsUnknown() &&
		!m.PodCIDR.IsUnknown() && !m.InstanceTypes.IsUnknown() &&
		!m.SubnetIDs.IsUnknown() && !m.ClusterName.IsUnknown() && !m.Name.IsUnknown() && !m.Waivers.IsUnknown()
}

func (m *nodePoolModel) mode() string {
	if m.PodIPMode.IsNull() || m.PodIPMode.IsUnknown() {
		return guard.ModeVPCCNI
	}
	return m.PodIPMode.ValueString()
}

func (m *nodePoolModel) guardPool(explicitMask types.Int64) guard.NodePool {
	return guard.NodePool{
		Name: m.Name.ValueString(), Mode: m.mode(), MaxPodsPerNode: m.MaxPodsPerNode.ValueInt64(), MaxSize: m.MaxSize.ValueInt64(),
		PodCIDR: m.PodCIDR.ValueString(), NodeCIDRMaskSize: int(explicitMask.ValueInt64()),
	}
}

// ValidateConfig runs what needs no AWS: the mode's inputs, the size order
// and, in node_cidr mode, the pod range against this pool alone. Only
// errors are reported here; plan reports everything (with warnings) once.
func (r *nodePoolResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m nodePoolModel
	// Terraform validates module configurations with their inputs unknown:
	// a `dynamic "taint"` block is then an unknown list the model cannot
	// hold. Leave such configurations to ModifyPlan, where values are known.
	if diags := req.Config.Get(ctx, &m); diags.HasError() {
		return
	}
	mode := m.mode()
	if !m.PodIPMode.IsUnknown() {
		if mode == guard.ModeNodeCIDR && m.PodCIDR.IsNull() {
			resp.Diagnostics.AddAttributeError(path.Root("pod_cidr"), "pod_cidr is required in node_cidr mode",
				"pod_ip_mode = \"node_cidr\" cuts a block per node from pod_cidr: set it to the cluster's --cluster-cidr.")
		}
		if mode != guard.ModeNodeCIDR {
			for _, a := range []struct {
				name string
				null bool
			}{{"pod_cidr", m.PodCIDR.IsNull()}, {"node_cidr_mask_size", m.NodeCIDRMaskSize.IsNull()}} {
				if !a.null {
					resp.Diagnostics.AddAttributeError(path.Root(a.name), a.name+" only applies in node_cidr mode",
						fmt.Sprintf("pod_ip_mode %q takes pod addresses from the subnets; remove %s or set pod_ip_mode = \"node_cidr\".", mode, a.name))
				}
			}
		}
	}
	minS, desired, maxS := m.MinSize, m.DesiredSize, m.MaxSize
	if !minS.IsUnknown() && !desired.IsUnknown() && !maxS.IsUnknown() && !minS.IsNull() && !desired.IsNull() && !maxS.IsNull() {
		if minS.ValueInt64() > desired.ValueInt64() || desired.ValueInt64() > maxS.ValueInt64() {
			resp.Diagnostics.AddAttributeError(path.Root("desired_size"), "Node pool sizes out of order",
				fmt.Sprintf("need min_size <= desired_size <= max_size, got %d, %d, %d", minS.ValueInt64(), desired.ValueInt64(), maxS.ValueInt64()))
		}
	}
	if resp.Diagnostics.HasError() || !m.sizingKnown() || m.NodeCIDRMaskSize.IsUnknown() || mode != guard.ModeNodeCIDR {
		return
	}
	_, findings, err := guard.CheckNodePool(m.guardPool(m.NodeCIDRMaskSize))
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("pod_cidr"), "Cannot size the node pool", err.Error())
		return
	}
	reportErrors(ctx, findings, m.Waivers, &resp.Diagnostics)
}

func (r *nodePoolResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan, config nodePoolModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *nodePoolModel
	if !req.State.Raw.IsNull() {
		state = &nodePoolModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		// An autoscaler's desired_size is not drift: keep it unless the
		// configuration itself changed.
		if !config.DesiredSize.IsUnknown() && state.DesiredSize.Equal(config.DesiredSize) {
			plan.DesiredSize = state.DesiredSize
		}
		if launchTemplateInputsEqual(state, &plan) {
			plan.LaunchTemplateVersion = state.LaunchTemplateVersion
		} else {
			plan.LaunchTemplateVersion = types.Int64Unknown()
		}
	}
	if state != nil && state.sizingInputsEqual(&plan) && !state.PodIPsPerNode.IsNull() {
		// Unchanged pool: keep the sizing of its last apply. Re-sizing on
		// every plan would turn other pools' autoscaling into diffs here.
		plan.PodIPsPerNode, plan.MaxNodesByPodIPs, plan.PodIPHeadroom = state.PodIPsPerNode, state.MaxNodesByPodIPs, state.PodIPHeadroom
		plan.Findings, plan.NodeCIDRMaskSize = state.Findings, state.NodeCIDRMaskSize
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	if !plan.sizingKnown() || config.NodeCIDRMaskSize.IsUnknown() || r.clients == nil {
		plan.markSizingUnknown(config)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	current := int64(0)
	if state != nil {
		current = -1 // read from AWS
	}
	sizing, findings, err := r.size(ctx, &plan, config.NodeCIDRMaskSize, current)
	if err != nil {
		resp.Diagnostics.AddError("Cannot size node pool "+plan.Name.ValueString(), err.Error())
		return
	}
	plan.setSizing(sizing, reportFindings(ctx, findings, plan.Waivers, &resp.Diagnostics))
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (m *nodePoolModel) markSizingUnknown(config nodePoolModel) {
	m.PodIPsPerNode, m.MaxNodesByPodIPs, m.PodIPHeadroom = types.Int64Unknown(), types.Int64Unknown(), types.Int64Unknown()
	m.Findings = types.ListUnknown(types.StringType)
	if config.NodeCIDRMaskSize.IsNull() {
		m.NodeCIDRMaskSize = types.Int64Unknown()
	}
}

func (m *nodePoolModel) setSizing(s guard.PoolCapacity, findings []guard.Finding) {
	m.PodIPsPerNode = types.Int64Value(s.PodIPsPerNode)
	m.MaxNodesByPodIPs = types.Int64Value(s.MaxNodesByPodIPs)
	m.PodIPHeadroom = types.Int64Value(s.Headroom(m.MaxSize.ValueInt64()))
	if m.mode() == guard.ModeNodeCIDR {
		m.NodeCIDRMaskSize = types.Int64Value(int64(s.NodeCIDRMaskSize))
	} else {
		m.NodeCIDRMaskSize = types.Int64Null()
	}
	m.Findings = warningStrings(findings)
}

// sizingInputsEqual reports whether nothing the pool rules read changed.
func (m *nodePoolModel) sizingInputsEqual(o *nodePoolModel) bool {
	return m.MaxSize.Equal(o.MaxSize) && m.MaxPodsPerNode.Equal(o.MaxPodsPerNode) && m.PodIPMode.Equal(o.PodIPMode) &&
		m.PodCIDR.Equal(o.PodCIDR) && m.InstanceTypes.Equal(o.InstanceTypes) && m.SubnetIDs.Equal(o.SubnetIDs) &&
		m.Waivers.Equal(o.Waivers) && (o.NodeCIDRMaskSize.IsUnknown() || m.NodeCIDRMaskSize.Equal(o.NodeCIDRMaskSize))
}

// launchTemplateInputsEqual reports whether the launch template (user data
// and sizing tags) stays as it is.
func launchTemplateInputsEqual(a, b *nodePoolModel) bool {
	return a.MaxPodsPerNode.Equal(b.MaxPodsPerNode) && a.PodIPMode.Equal(b.PodIPMode) && a.PodCIDR.Equal(b.PodCIDR) &&
		a.Tags.Equal(b.Tags) && a.InstanceTypes.Equal(b.InstanceTypes)
}

// size gathers the pool's surroundings from AWS and runs the pool rules.
// current is the pool's node count, or -1 to read it from the node group.
func (r *nodePoolResource) size(ctx context.Context, m *nodePoolModel, explicitMask types.Int64, current int64) (guard.PoolCapacity, []guard.Finding, error) {
	facts, err := r.facts(ctx, m, current)
	if err != nil {
		return guard.PoolCapacity{}, nil, err
	}
	p := m.guardPool(explicitMask)
	p.Cloud = facts
	return guard.CheckNodePool(p)
}

func (r *nodePoolResource) facts(ctx context.Context, m *nodePoolModel, current int64) (*guard.PoolCloudFacts, error) {
	eksc, err := r.clients.AWS.EKS(ctx)
	if err != nil {
		return nil, err
	}
	ec2c, err := r.clients.AWS.EC2(ctx)
	if err != nil {
		return nil, err
	}
	cluster, name, mode := m.ClusterName.ValueString(), m.Name.ValueString(), m.mode()
	subnets := awsStringList(ctx, m.SubnetIDs)
	facts := &guard.PoolCloudFacts{Subnets: subnets}

	groups, err := describeNodegroups(ctx, eksc, cluster)
	if err != nil {
		return nil, err
	}
	if current < 0 {
		current = 0
		if g, ok := groups[name]; ok && g.ScalingConfig != nil {
			current = int64(aws.ToInt32(g.ScalingConfig.DesiredSize))
		}
	}
	facts.CurrentSize = current

	if mode != guard.ModeNodeCIDR {
		free, err := freeSubnetIPs(ctx, ec2c, subnets)
		if err != nil {
			return nil, err
		}
		facts.FreeSubnetIPs = free
		typeNames := awsStringList(ctx, m.InstanceTypes)
		nets, err := instanceNetworks(ctx, ec2c, typeNames)
		if err != nil {
			return nil, err
		}
		for _, t := range typeNames {
			facts.InstanceTypes = append(facts.InstanceTypes, nets[t])
		}
	}

	ours := map[string]bool{}
	for _, s := range subnets {
		ours[s] = true
	}
	for gname, g := range groups {
		if gname == name {
			continue
		}
		sib := guard.SiblingPool{Name: gname}
		if g.ScalingConfig != nil {
			sib.CurrentSize = int64(aws.ToInt32(g.ScalingConfig.DesiredSize))
			sib.MaxSize = int64(aws.ToInt32(g.ScalingConfig.MaxSize))
		}
		managed := g.Tags[tagManagedBy] == managedByNodePool
		if mode == guard.ModeNodeCIDR {
			// Every node of the cluster takes a block of the cluster range;
			// k8sguard pools on another range do not.
			if managed && g.Tags[tagPodCIDR] != m.PodCIDR.ValueString() {
				continue
			}
			sib.Foreign = !managed
			facts.Siblings = append(facts.Siblings, sib)
			continue
		}
		if !sharesSubnet(g.Subnets, ours) {
			continue
		}
		if n, err := strconv.ParseInt(g.Tags[tagSubnetIPsByNode], 10, 64); managed && err == nil {
			sib.PodIPsPerNode = n
		} else {
			sib.Foreign = true
			if sib.PodIPsPerNode, err = foreignIPsPerNode(ctx, ec2c, g); err != nil {
				return nil, fmt.Errorf("sizing node group %s: %w", gname, err)
			}
		}
		facts.Siblings = append(facts.Siblings, sib)
	}
	return facts, nil
}

// describeNodegroups returns the cluster's node groups by name.
func describeNodegroups(ctx context.Context, c *eks.Client, cluster string) (map[string]*ekstypes.Nodegroup, error) {
	out := map[string]*ekstypes.Nodegroup{}
	p := eks.NewListNodegroupsPaginator(c, &eks.ListNodegroupsInput{ClusterName: aws.String(cluster)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if isAWSNotFound(err) {
				return nil, fmt.Errorf("EKS cluster %q not found: create it first, or check cluster_name and the region", cluster)
			}
			return nil, fmt.Errorf("listing node groups of EKS cluster %q: %w", cluster, err)
		}
		for _, n := range page.Nodegroups {
			g, err := c.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(n)})
			if err != nil {
				if isAWSNotFound(err) {
					continue // deleted between list and describe
				}
				return nil, fmt.Errorf("describing node group %s/%s: %w", cluster, n, err)
			}
			out[n] = g.Nodegroup
		}
	}
	return out, nil
}

func freeSubnetIPs(ctx context.Context, c *ec2.Client, subnets []string) (int64, error) {
	out, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: subnets})
	if err != nil {
		return 0, fmt.Errorf("describing subnets %s: %w", strings.Join(subnets, ", "), err)
	}
	found := map[string]bool{}
	var free int64
	for _, s := range out.Subnets {
		found[aws.ToString(s.SubnetId)] = true
		free += int64(aws.ToInt32(s.AvailableIpAddressCount))
	}
	for _, s := range subnets {
		if !found[s] {
			return 0, fmt.Errorf("subnet %s not found", s)
		}
	}
	return free, nil
}

// instanceNetworks reads the ENI limits of instance types.
func instanceNetworks(ctx context.Context, c *ec2.Client, names []string) (map[string]guard.InstanceNetwork, error) {
	req := &ec2.DescribeInstanceTypesInput{}
	for _, n := range names {
		req.InstanceTypes = append(req.InstanceTypes, ec2types.InstanceType(n))
	}
	out, err := c.DescribeInstanceTypes(ctx, req)
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidInstanceType" {
			return nil, fmt.Errorf("instance_types %s: %s", strings.Join(names, ", "), apiErr.ErrorMessage())
		}
		return nil, fmt.Errorf("describing instance types %s: %w", strings.Join(names, ", "), err)
	}
	nets := map[string]guard.InstanceNetwork{}
	for _, it := range out.InstanceTypes {
		n := guard.InstanceNetwork{InstanceType: string(it.InstanceType)}
		if it.NetworkInfo != nil {
			n.MaxENIs = int64(aws.ToInt32(it.NetworkInfo.MaximumNetworkInterfaces))
			n.IPv4PerENI = int64(aws.ToInt32(it.NetworkInfo.Ipv4AddressesPerInterface))
		}
		nets[n.InstanceType] = n
	}
	for _, n := range names {
		if _, ok := nets[n]; !ok {
			return nil, fmt.Errorf("instance type %s does not exist in this region", n)
		}
	}
	return nets, nil
}

// foreignIPsPerNode sizes a node group k8sguard did not make at the most
// its instance types can take: vpc_cni at the ENI limit.
func foreignIPsPerNode(ctx context.Context, c *ec2.Client, g *ekstypes.Nodegroup) (int64, error) {
	names := g.InstanceTypes
	if len(names) == 0 && g.LaunchTemplate != nil {
		out, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
			LaunchTemplateId: g.LaunchTemplate.Id, Versions: []string{aws.ToString(g.LaunchTemplate.Version)},
		})
		if err == nil && len(out.LaunchTemplateVersions) > 0 && out.LaunchTemplateVersions[0].LaunchTemplateData != nil {
			if t := out.LaunchTemplateVersions[0].LaunchTemplateData.InstanceType; t != "" {
				names = []string{string(t)}
			}
		}
	}
	if len(names) == 0 {
		names = []string{eksDefaultInstanceType}
	}
	nets, err := instanceNetworks(ctx, c, names)
	if err != nil {
		return 0, err
	}
	var most int64
	for _, n := range nets {
		ips, err := guard.VPCCNIIPsPerNode(n.MaxPods(), n)
		if err != nil {
			return 0, err
		}
		most = max(most, ips)
	}
	return most, nil
}

func sharesSubnet(subnets []string, ours map[string]bool) bool {
	for _, s := range subnets {
		if ours[s] {
			return true
		}
	}
	return false
}

func awsStringList(ctx context.Context, l types.List) []string {
	var out []string
	if l.IsNull() || l.IsUnknown() {
		return out
	}
	_ = l.ElementsAs(ctx, &out, false) // element type is string by schema
	return out
}

func awsStringMap(ctx context.Context, m types.Map) map[string]string {
	out := map[string]string{}
	if m.IsNull() || m.IsUnknown() {
		return out
	}
	_ = m.ElementsAs(ctx, &out, false) // element type is string by schema
	return out
}

// isAWSNotFound recognises the "it is gone" answers of EKS, EC2 and S3.
func isAWSNotFound(err error) bool {
	return isAWSErrorCode(err, "ResourceNotFoundException", "NotFound", "NoSuchBucket",
		"InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.Malformed")
}

// isAWSErrorCode reports whether err is an AWS API error with one of codes.
func isAWSErrorCode(err error, codes ...string) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if apiErr.ErrorCode() == c {
			return true
		}
	}
	return false
}

// nodeUserData is the launch template's user data: an AL2023 nodeadm
// NodeConfig that sets the kubelet's maxPods, in the MIME multipart form
// EKS merges with its own.
func nodeUserData(maxPods int64) string {
	doc := fmt.Sprintf(`MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: application/node.eks.aws

---
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  kubelet:
    config:
      maxPods: %d
--//--
`, maxPods)
	return base64.StdEncoding.EncodeToString([]byte(doc))
}

// sizingTags are the k8sguard:* tags recording the sizing the guard checked.
func (m *nodePoolModel) sizingTags() map[string]string {
	t := map[string]string{
		tagManagedBy:       managedByNodePool,
		tagPodIPMode:       m.mode(),
		tagMaxPodsPerNode:  strconv.FormatInt(m.MaxPodsPerNode.ValueInt64(), 10),
		tagSubnetIPsByNode: "1", // node_cidr: only the node's own address
	}
	if m.mode() == guard.ModeNodeCIDR {
		t[tagPodCIDR] = m.PodCIDR.ValueString()
		t[tagNodeCIDRMask] = strconv.FormatInt(m.NodeCIDRMaskSize.ValueInt64(), 10)
	} else {
		t[tagSubnetIPsByNode] = strconv.FormatInt(m.PodIPsPerNode.ValueInt64(), 10)
	}
	return t
}

func (m *nodePoolModel) allTags(ctx context.Context) map[string]string {
	t := awsStringMap(ctx, m.Tags)
	for k, v := range m.sizingTags() {
		t[k] = v
	}
	return t
}

func (m *nodePoolModel) launchTemplateData() *ec2types.RequestLaunchTemplateData {
	return &ec2types.RequestLaunchTemplateData{
		UserData: aws.String(nodeUserData(m.MaxPodsPerNode.ValueInt64())),
		MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired,
			// 2: pods on the node network reach IMDS through one more hop.
			HttpPutResponseHopLimit: aws.Int32(2),
			HttpEndpoint:            ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
		},
	}
}

func ec2Tags(tags map[string]string) []ec2types.Tag {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

func (m *nodePoolModel) launchTemplateName() string {
	return "k8sguard-" + m.ClusterName.ValueString() + "-" + m.Name.ValueString()
}

func (m *nodePoolModel) eksTaints() []ekstypes.Taint {
	var out []ekstypes.Taint
	for _, t := range m.Taints {
		out = append(out, ekstypes.Taint{Key: t.Key.ValueStringPointer(), Value: t.Value.ValueStringPointer(), Effect: ekstypes.TaintEffect(t.Effect.ValueString())})
	}
	return out
}

func (r *nodePoolResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m nodePoolModel
	c, ok := modelAndClient(ctx, req.Plan, &m, &resp.Diagnostics, r.awsClients)
	if !ok {
		return
	}
	ec2c, eksc := c.ec2, c.eks
	if !r.resolveSizing(ctx, &m, req.Config, 0, &resp.Diagnostics) {
		return
	}
	tags := m.allTags(ctx)
	lt, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(m.launchTemplateName()),
		LaunchTemplateData: m.launchTemplateData(),
		TagSpecifications:  []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: ec2Tags(tags)}},
	})
	if err != nil {
		resp.Diagnostics.AddError("Cannot create the node pool's launch template", fmt.Sprintf("CreateLaunchTemplate %s: %v", m.launchTemplateName(), err))
		return
	}
	ltID := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	m.LaunchTemplateID = types.StringValue(ltID)
	m.LaunchTemplateVersion = types.Int64Value(aws.ToInt64(lt.LaunchTemplate.LatestVersionNumber))

	out, err := eksc.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName:   m.ClusterName.ValueStringPointer(),
		NodegroupName: m.Name.ValueStringPointer(),
		NodeRole:      m.NodeRoleARN.ValueStringPointer(),
		Subnets:       awsStringList(ctx, m.SubnetIDs),
		InstanceTypes: awsStringList(ctx, m.InstanceTypes),
		ScalingConfig: &ekstypes.NodegroupScalingConfig{
			MinSize: aws.Int32(int32(m.MinSize.ValueInt64())), DesiredSize: aws.Int32(int32(m.DesiredSize.ValueInt64())), MaxSize: aws.Int32(int32(m.MaxSize.ValueInt64())),
		},
		LaunchTemplate: &ekstypes.LaunchTemplateSpecification{Id: aws.String(ltID), Version: aws.String(strconv.FormatInt(m.LaunchTemplateVersion.ValueInt64(), 10))},
		Labels:         awsStringMap(ctx, m.Labels),
		Taints:         m.eksTaints(),
		Tags:           tags,
	})
	if err != nil {
		// Do not leave the launch template behind.
		_, _ = ec2c.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(ltID)})
		resp.Diagnostics.AddError("Cannot create the node group", fmt.Sprintf("CreateNodegroup %s/%s: %v", m.ClusterName.ValueString(), m.Name.ValueString(), err))
		return
	}
	m.ID = types.StringValue(m.ClusterName.ValueString() + ":" + m.Name.ValueString())
	m.ARN = types.StringValue(aws.ToString(out.Nodegroup.NodegroupArn))
	// Saved before waiting, so a timeout leaves a resource terraform knows.
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	waiter := eks.NewNodegroupActiveWaiter(eksc)
	if err := waiter.Wait(ctx, &eks.DescribeNodegroupInput{ClusterName: m.ClusterName.ValueStringPointer(), NodegroupName: m.Name.ValueStringPointer()}, 30*time.Minute); err != nil {
		resp.Diagnostics.AddError("Node group did not become ACTIVE", fmt.Sprintf("%s/%s: %v", m.ClusterName.ValueString(), m.Name.ValueString(), err))
	}
}

// resolveSizing runs the pool rules again at apply when the plan could not
// (inputs known only after other resources were created), and refuses the
// apply on an error the plan could not show. node_cidr_mask_size is read
// from config: in the plan it is the computed default.
func (r *nodePoolResource) resolveSizing(ctx context.Context, m *nodePoolModel, config tfsdk.Config, current int64, diags *diag.Diagnostics) bool {
	var cfg nodePoolModel
	diags.Append(config.Get(ctx, &cfg)...)
	if !m.PodIPsPerNode.IsUnknown() && !m.Findings.IsUnknown() && !m.NodeCIDRMaskSize.IsUnknown() {
		return !diags.HasError()
	}
	sizing, findings, err := r.size(ctx, m, cfg.NodeCIDRMaskSize, current)
	if err != nil {
		diags.AddError("Cannot size node pool "+m.Name.ValueString(), err.Error())
		return false
	}
	m.setSizing(sizing, reportFindings(ctx, findings, m.Waivers, diags))
	return !diags.HasError()
}

// nodePoolClients are the two AWS APIs a node pool lives in.
type nodePoolClients struct {
	ec2 *ec2.Client
	eks *eks.Client
}

func (r *nodePoolResource) awsClients(ctx context.Context, diags errorAdder) (c nodePoolClients, ok bool) {
	if c.ec2, ok = awsClient(ctx, &r.resourceBase, "EC2", (*cloud.Lazy).EC2, diags); !ok {
		return c, false
	}
	c.eks, ok = awsClient(ctx, &r.resourceBase, "EKS", (*cloud.Lazy).EKS, diags)
	return c, ok
}

func (r *nodePoolResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m nodePoolModel
	c, ok := modelAndClient(ctx, req.State, &m, &resp.Diagnostics, r.awsClients)
	if !ok {
		return
	}
	out, err := c.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: m.ClusterName.ValueStringPointer(), NodegroupName: m.Name.ValueStringPointer()})
	if err != nil {
		if isAWSNotFound(err) {
			resp.State.RemoveResource(ctx)
			return
		}
		resp.Diagnostics.AddError("Cannot read the node group", fmt.Sprintf("DescribeNodegroup %s/%s: %v", m.ClusterName.ValueString(), m.Name.ValueString(), err))
		return
	}
	g := out.Nodegroup
	m.fromNodegroup(ctx, g, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.PodIPsPerNode.IsNull() {
		// Imported: size it once. Otherwise the sizing of the last apply
		// stands (see ModifyPlan).
		current := int64(0)
		if g.ScalingConfig != nil {
			current = int64(aws.ToInt32(g.ScalingConfig.DesiredSize))
		}
		sizing, findings, err := r.size(ctx, &m, m.explicitMaskFromState(), current)
		if err != nil {
			resp.Diagnostics.AddWarning("Cannot size the imported node pool", err.Error())
		} else {
			findings = waive(ctx, findings, m.Waivers, &resp.Diagnostics)
			m.setSizing(sizing, findings)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// explicitMaskFromState: the mask the pool was created with counts as
// explicit when sizing from state (config is not available in Read).
func (m *nodePoolModel) explicitMaskFromState() types.Int64 {
	if m.mode() != guard.ModeNodeCIDR {
		return types.Int64Null()
	}
	return m.NodeCIDRMaskSize
}

// fromNodegroup copies what AWS reports into the model. desired_size is
// taken only when unknown (import): an autoscaler's changes are not drift.
func (m *nodePoolModel) fromNodegroup(ctx context.Context, g *ekstypes.Nodegroup, diags *diag.Diagnostics) {
	m.ID = types.StringValue(aws.ToString(g.ClusterName) + ":" + aws.ToString(g.NodegroupName))
	m.ARN = types.StringValue(aws.ToString(g.NodegroupArn))
	m.ClusterName = types.StringValue(aws.ToString(g.ClusterName))
	m.Name = types.StringValue(aws.ToString(g.NodegroupName))
	m.NodeRoleARN = types.StringValue(aws.ToString(g.NodeRole))
	var d diag.Diagnostics
	m.SubnetIDs, d = types.ListValueFrom(ctx, types.StringType, g.Subnets)
	diags.Append(d...)
	m.InstanceTypes, d = types.ListValueFrom(ctx, types.StringType, g.InstanceTypes)
	diags.Append(d...)
	if sc := g.ScalingConfig; sc != nil {
		m.MinSize = types.Int64Value(int64(aws.ToInt32(sc.MinSize)))
		m.MaxSize = types.Int64Value(int64(aws.ToInt32(sc.MaxSize)))
		if m.DesiredSize.IsNull() || m.DesiredSize.IsUnknown() {
			m.DesiredSize = types.Int64Value(int64(aws.ToInt32(sc.DesiredSize)))
		}
	}
	if lt := g.LaunchTemplate; lt != nil {
		m.LaunchTemplateID = types.StringValue(aws.ToString(lt.Id))
		if v, err := strconv.ParseInt(aws.ToString(lt.Version), 10, 64); err == nil {
			m.LaunchTemplateVersion = types.Int64Value(v)
		}
	}
	if v, err := strconv.ParseInt(g.Tags[tagMaxPodsPerNode], 10, 64); err == nil {
		m.MaxPodsPerNode = types.Int64Value(v)
	}
	if v := g.Tags[tagPodIPMode]; v != "" {
		m.PodIPMode = types.StringValue(v)
	}
	if v := g.Tags[tagPodCIDR]; v != "" {
		m.PodCIDR = types.StringValue(v)
	}
	if v, err := strconv.ParseInt(g.Tags[tagNodeCIDRMask], 10, 64); err == nil {
		m.NodeCIDRMaskSize = types.Int64Value(v)
	}
	m.Labels = awsMapOrNull(ctx, m.Labels, g.Labels, diags)
	user := map[string]string{}
	for k, v := range g.Tags {
		if !strings.HasPrefix(k, "k8sguard:") {
			user[k] = v
		}
	}
	m.Tags = awsMapOrNull(ctx, m.Tags, user, diags)
	m.Taints = nil
	for _, t := range g.Taints {
		tm := taintModel{Key: types.StringValue(aws.ToString(t.Key)), Value: types.StringPointerValue(t.Value), Effect: types.StringValue(string(t.Effect))}
		m.Taints = append(m.Taints, tm)
	}
}

// mapOrNull keeps a null attribute null when AWS reports an empty map.
func awsMapOrNull(ctx context.Context, prior types.Map, got map[string]string, diags *diag.Diagnostics) types.Map {
	if len(got) == 0 && (prior.IsNull() || prior.IsUnknown()) {
		return types.MapNull(types.StringType)
	}
	v, d := types.MapValueFrom(ctx, types.StringType, got)
	diags.Append(d...)
	return v
}

func (r *nodePoolResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state nodePoolModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	c, ok := modelAndClient(ctx, req.State, &state, &resp.Diagnostics, r.awsClients)
	if !ok {
		return
	}
	ec2c, eksc := c.ec2, c.eks
	if !r.resolveSizing(ctx, &plan, req.Config, -1, &resp.Diagnostics) {
		return
	}
	cluster, name := plan.ClusterName.ValueStringPointer(), plan.Name.ValueStringPointer()
	id := plan.ClusterName.ValueString() + "/" + plan.Name.ValueString()

	// Scaling, labels, taints: one UpdateNodegroupConfig.
	cfg := &eks.UpdateNodegroupConfigInput{ClusterName: cluster, NodegroupName: name}
	changed := false
	if !plan.MinSize.Equal(state.MinSize) || !plan.MaxSize.Equal(state.MaxSize) || !plan.DesiredSize.Equal(state.DesiredSize) {
		sc := &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(int32(plan.MinSize.ValueInt64())), MaxSize: aws.Int32(int32(plan.MaxSize.ValueInt64()))}
		if !plan.DesiredSize.Equal(state.DesiredSize) {
			sc.DesiredSize = aws.Int32(int32(plan.DesiredSize.ValueInt64()))
		}
		cfg.ScalingConfig, changed = sc, true
	}
	if add, remove := tagDiff(awsStringMap(ctx, state.Labels), awsStringMap(ctx, plan.Labels)); len(add)+len(remove) > 0 {
		cfg.Labels, changed = &ekstypes.UpdateLabelsPayload{AddOrUpdateLabels: add, RemoveLabels: remove}, true
	}
	if add, remove := diffTaints(state.eksTaints(), plan.eksTaints()); len(add)+len(remove) > 0 {
		cfg.Taints, changed = &ekstypes.UpdateTaintsPayload{AddOrUpdateTaints: add, RemoveTaints: remove}, true
	}
	if changed {
		out, err := eksc.UpdateNodegroupConfig(ctx, cfg)
		if err != nil {
			resp.Diagnostics.AddError("Cannot update the node group", fmt.Sprintf("UpdateNodegroupConfig %s: %v", id, err))
			return
		}
		if err := waitForNodegroupUpdate(ctx, eksc, plan.ClusterName.ValueString(), plan.Name.ValueString(), out.Update); err != nil {
			resp.Diagnostics.AddError("Node group update failed", fmt.Sprintf("%s: %v", id, err))
			return
		}
	}

	// Tags on the node group.
	arn := state.ARN.ValueStringPointer()
	oldTags, newTags := state.allTags(ctx), plan.allTags(ctx)
	if add, remove := tagDiff(oldTags, newTags); len(add)+len(remove) > 0 {
		if len(remove) > 0 {
			if _, err := eksc.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: arn, TagKeys: remove}); err != nil {
				resp.Diagnostics.AddError("Cannot untag the node group", fmt.Sprintf("%s: %v", id, err))
				return
			}
		}
		if len(add) > 0 {
			if _, err := eksc.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: add}); err != nil {
				resp.Diagnostics.AddError("Cannot tag the node group", fmt.Sprintf("%s: %v", id, err))
				return
			}
		}
	}

	// The launch template: a new version rolls the nodes onto it.
	plan.LaunchTemplateID, plan.LaunchTemplateVersion = state.LaunchTemplateID, state.LaunchTemplateVersion
	if !launchTemplateInputsEqual(&state, &plan) {
		ltID := state.LaunchTemplateID.ValueString()
		v, err := ec2c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID), LaunchTemplateData: plan.launchTemplateData()})
		if err != nil {
			resp.Diagnostics.AddError("Cannot create a launch template version", fmt.Sprintf("%s: %v", ltID, err))
			return
		}
		version := aws.ToInt64(v.LaunchTemplateVersion.VersionNumber)
		if err := retagLaunchTemplate(ctx, ec2c, ltID, oldTags, newTags); err != nil {
			resp.Diagnostics.AddError("Cannot tag the launch template", err.Error())
			return
		}
		if !plan.MaxPodsPerNode.Equal(state.MaxPodsPerNode) {
			out, err := eksc.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{
				ClusterName: cluster, NodegroupName: name,
				LaunchTemplate: &ekstypes.LaunchTemplateSpecification{Id: aws.String(ltID), Version: aws.String(strconv.FormatInt(version, 10))},
			})
			if err != nil {
				resp.Diagnostics.AddError("Cannot roll the node group onto the new launch template", fmt.Sprintf("UpdateNodegroupVersion %s: %v", id, err))
				return
			}
			if err := waitForNodegroupUpdate(ctx, eksc, plan.ClusterName.ValueString(), plan.Name.ValueString(), out.Update); err != nil {
				resp.Diagnostics.AddError("Node group version update failed", fmt.Sprintf("%s: %v", id, err))
				return
			}
			plan.LaunchTemplateVersion = types.Int64Value(version)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func retagLaunchTemplate(ctx context.Context, c *ec2.Client, id string, oldTags, newTags map[string]string) error {
	add, remove := tagDiff(oldTags, newTags)
	if len(remove) > 0 {
		var tags []ec2types.Tag
		for _, k := range remove {
			tags = append(tags, ec2types.Tag{Key: aws.String(k)})
		}
		if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: tags}); err != nil {
			return fmt.Errorf("DeleteTags %s: %w", id, err)
		}
	}
	if len(add) > 0 {
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: ec2Tags(add)}); err != nil {
			return fmt.Errorf("CreateTags %s: %w", id, err)
		}
	}
	return nil
}

// waitForUpdate polls an EKS update until it leaves InProgress.
func waitForNodegroupUpdate(ctx context.Context, c *eks.Client, cluster, nodegroup string, u *ekstypes.Update) error {
	if u == nil || u.Status == ekstypes.UpdateStatusSuccessful {
		return nil // moto answers Successful at once (and has no DescribeUpdate)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Minute)
	defer cancel()
	for {
		out, err := c.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String(cluster), NodegroupName: aws.String(nodegroup), UpdateId: u.Id})
		if err != nil {
			return fmt.Errorf("DescribeUpdate %s: %w", aws.ToString(u.Id), err)
		}
		switch out.Update.Status {
		case ekstypes.UpdateStatusSuccessful:
			return nil
		case ekstypes.UpdateStatusFailed, ekstypes.UpdateStatusCancelled:
			var msgs []string
			for _, e := range out.Update.Errors {
				msgs = append(msgs, aws.ToString(e.ErrorMessage))
			}
			return fmt.Errorf("update %s %s: %s", aws.ToString(u.Id), out.Update.Status, strings.Join(msgs, "; "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("update %s still in progress: %w", aws.ToString(u.Id), ctx.Err())
		case <-time.After(10 * time.Second):
		}
	}
}

// diffMaps returns what to add or update and which keys to remove.
func tagDiff(old, new map[string]string) (map[string]string, []string) {
	add := map[string]string{}
	var remove []string
	for k, v := range new {
		if ov, ok := old[k]; !ok || ov != v {
			add[k] = v
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			remove = append(remove, k)
		}
	}
	sort.Strings(remove)
	return add, remove
}

func diffTaints(old, new []ekstypes.Taint) (add, remove []ekstypes.Taint) {
	key := func(t ekstypes.Taint) string {
		return aws.ToString(t.Key) + "\x00" + aws.ToString(t.Value) + "\x00" + string(t.Effect)
	}
	oldKeys, newKeys := map[string]bool{}, map[string]bool{}
	for _, t := range old {
		oldKeys[key(t)] = true
	}
	for _, t := range new {
		newKeys[key(t)] = true
		if !oldKeys[key(t)] {
			add = append(add, t)
		}
	}
	for _, t := range old {
		if !newKeys[key(t)] {
			remove = append(remove, t)
		}
	}
	return add, remove
}

func (r *nodePoolResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m nodePoolModel
	c, ok := modelAndClient(ctx, req.State, &m, &resp.Diagnostics, r.awsClients)
	if !ok {
		return
	}
	in := &eks.DescribeNodegroupInput{ClusterName: m.ClusterName.ValueStringPointer(), NodegroupName: m.Name.ValueStringPointer()}
	_, err := c.eks.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: in.ClusterName, NodegroupName: in.NodegroupName})
	if err != nil && !isAWSNotFound(err) {
		resp.Diagnostics.AddError("Cannot delete the node group", fmt.Sprintf("%s/%s: %v", m.ClusterName.ValueString(), m.Name.ValueString(), err))
		return
	}
	if err == nil {
		if err := eks.NewNodegroupDeletedWaiter(c.eks).Wait(ctx, in, 30*time.Minute); err != nil {
			resp.Diagnostics.AddError("Node group was not deleted", fmt.Sprintf("%s/%s: %v", m.ClusterName.ValueString(), m.Name.ValueString(), err))
			return
		}
	}
	if id := m.LaunchTemplateID.ValueString(); id != "" {
		if _, err := c.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(id)}); err != nil && !isAWSNotFound(err) {
			resp.Diagnostics.AddError("Cannot delete the node pool's launch template", fmt.Sprintf("%s: %v", id, err))
		}
	}
}

// ImportState takes "cluster_name:name".
func (r *nodePoolResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	cluster, name, ok := strings.Cut(req.ID, ":")
	if !ok || cluster == "" || name == "" || strings.Contains(name, ":") {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("expected cluster_name:name, got %q", req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("cluster_name"), cluster)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
