package provider

// k8sguard_node_pool: the resource, its schema, plan-time checks and CRUD.
// The model and its mapping to guard inputs and AWS objects are in
// resource_node_pool_model.go, the AWS facts the rules read in
// resource_node_pool_facts.go.

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
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

// NewNodePoolResource is k8sguard_node_pool: an EKS managed node group that
// cannot outgrow its pod IPs.
func NewNodePoolResource() resource.Resource {
	return &nodePoolResource{resourceBase{typeSuffix: "_node_pool"}}
}

type nodePoolResource struct{ resourceBase }

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
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
				Validators:    []validator.List{listvalidator.SizeAtLeast(1), listvalidator.UniqueValues()},
				MarkdownDescription: "Instance types. With the VPC CNI every one must address `max_pods_per_node` pods with the ENIs of its default " +
					"network card, as AWS's `eni-max-pods.txt` counts (`POOL_MAX_PODS_ABOVE_INSTANCE_LIMIT`: p5.48xlarge holds 100, not 3,138); " +
					"`vpc_cni_prefix` needs Nitro types (`POOL_PREFIX_NEEDS_NITRO`); above EKS's recommended 110 pods (up to 30 vCPUs) or 250 " +
					"is a warning (`POOL_MAX_PODS_ABOVE_RECOMMENDED`). The pool is sized for the type that takes the most addresses.",
			},
			"min_size": schema.Int64Attribute{Required: true, Validators: []validator.Int64{int64validator.AtLeast(0)}, MarkdownDescription: "Fewest nodes."},
			"desired_size": schema.Int64Attribute{
				Required: true, Validators: []validator.Int64{int64validator.AtLeast(0)},
				MarkdownDescription: "Nodes at creation. Later changes made by an autoscaler are not drift, nor after an import (which reads this value " +
					"back from the node group's `k8sguard:desired-size` tag); changing this value sets the size once.",
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
				MarkdownDescription: "Where pods get addresses: `vpc_cni` (secondary IPs from the subnets: as the CNI's default `WARM_ENI_TARGET=1` does, " +
					"every ENI the pods need plus a warm one, each with all its addresses), `vpc_cni_prefix` (prefix delegation, Nitro instance types only: whole /28 prefixes plus a warm one), or `node_cidr` " +
					"(every node takes a block of `pod_cidr`, kube-controller-manager IPAM or an overlay). Default `vpc_cni`.",
			},
			"pod_cidr": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "`node_cidr` mode only: the cluster's IPv4 pod range (kube-controller-manager `--cluster-cidr`).",
			},
			"node_cidr_mask_size": schema.Int64Attribute{
				Optional: true, Computed: true, Validators: []validator.Int64{int64validator.Between(1, 32)},
				MarkdownDescription: "`node_cidr` mode only: the node block mask (`--node-cidr-mask-size`). Default: the smallest block holding " +
					"twice `max_pods_per_node` (110 → /24), and /28 at the least, as GKE sizes node pools; kube-controller-manager gives every node its flag's " +
					"block (default /24 whatever `maxPods` is), so on a self-managed cluster set this to the flag's value. An explicit block must hold `max_pods_per_node + 2` (`POOL_MAX_PODS_ABOVE_NODE_BLOCK`).",
			},
			"labels": schema.MapAttribute{ElementType: types.StringType, Optional: true, MarkdownDescription: "Kubernetes labels of the nodes."},
			"tags": schema.MapAttribute{
				ElementType: types.StringType, Optional: true, Validators: []validator.Map{reservedTagPrefixValidator{prefix: "k8sguard:"}},
				MarkdownDescription: "AWS tags of the node group and its launch template (`k8sguard:*` keys are reserved and refused).",
			},
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
	var plan, config nodePoolModel
	// A `dynamic "taint"` block over another resource's output is an
	// unknown list the model cannot hold: plannedModel then leaves the plan
	// as Terraform proposed it (sizing unknown), and the rules run when
	// Terraform plans again at apply with the final values.
	if !plannedModel(ctx, req, &plan, &resp.Diagnostics) {
		return
	}
	if !readUnlessUnknown(ctx, req.Config, req, &config, &resp.Diagnostics) {
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
		if launchTemplateDataEqual(state, &plan) {
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
	if !plan.sizingKnown() || config.NodeCIDRMaskSize.IsUnknown() || !r.clients.awsKnown() {
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
	findings = reportFindings(ctx, findings, plan.Waivers, &resp.Diagnostics)
	plan.setSizing(sizing, findings)
	plan.Findings = plannedFindings(req.Config, findings)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	keepFindingsWording(ctx, req, resp)
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
	create := &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(m.launchTemplateName()),
		LaunchTemplateData: m.launchTemplateData(),
		TagSpecifications:  []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: ec2Tags(tags)}},
	}
	lt, err := ec2c.CreateLaunchTemplate(ctx, create)
	if isAWSErrorCode(err, "InvalidLaunchTemplateName.AlreadyExistsException") {
		// A node group deleted outside Terraform (console, eksctl) leaves
		// the launch template k8sguard made for it, and Read then drops the
		// pool from state: without this the recreate would fail on the name
		// forever. Only a k8sguard-made template whose node group is gone is
		// removed; anything else keeps the error.
		if err = r.removeOrphanLaunchTemplate(ctx, c, &m); err == nil {
			lt, err = ec2c.CreateLaunchTemplate(ctx, create)
		}
	}
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
		Tags:           m.nodegroupTags(ctx),
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
	if err := waitNodegroupActive(ctx, eksc, m.ClusterName.ValueString(), m.Name.ValueString()); err != nil {
		resp.Diagnostics.AddError("Node group did not become ACTIVE", fmt.Sprintf("%s/%s: %v", m.ClusterName.ValueString(), m.Name.ValueString(), err))
	}
}

// removeOrphanLaunchTemplate deletes the launch template named for m when
// k8sguard made it (its managed-by tag) and no node group m's name exists:
// the leftover of a node group deleted outside Terraform.
func (r *nodePoolResource) removeOrphanLaunchTemplate(ctx context.Context, c nodePoolClients, m *nodePoolModel) error {
	name := m.launchTemplateName()
	out, err := c.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{name}})
	if err != nil {
		return fmt.Errorf("DescribeLaunchTemplates %s: %w", name, err)
	}
	if len(out.LaunchTemplates) != 1 {
		return fmt.Errorf("launch template %s already exists", name)
	}
	lt := out.LaunchTemplates[0]
	if ec2TagMap(lt.Tags)[tagManagedBy] != managedByNodePool {
		return fmt.Errorf("launch template %s already exists and was not made by k8sguard_node_pool: delete or rename it", name)
	}
	_, err = c.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: m.ClusterName.ValueStringPointer(), NodegroupName: m.Name.ValueStringPointer()})
	switch {
	case err == nil:
		return fmt.Errorf("node group %s/%s already exists with launch template %s: import it (terraform import <address> %s:%s)",
			m.ClusterName.ValueString(), m.Name.ValueString(), name, m.ClusterName.ValueString(), m.Name.ValueString())
	case !isAWSNotFound(err):
		return fmt.Errorf("DescribeNodegroup %s/%s: %w", m.ClusterName.ValueString(), m.Name.ValueString(), err)
	}
	if _, err := c.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplateId}); err != nil && !isAWSNotFound(err) {
		return fmt.Errorf("delete the launch template %s left by a deleted node group: %w", name, err)
	}
	return nil
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
	if !r.clients.awsKnown() { // the provider's configuration comes from another resource: keep the state until apply
		return
	}
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
		if err := waitNodegroupUpdate(ctx, eksc, plan.ClusterName.ValueString(), plan.Name.ValueString(), out.Update); err != nil {
			resp.Diagnostics.AddError("Node group update failed", fmt.Sprintf("%s: %v", id, err))
			return
		}
	}

	// Tags on the node group.
	oldTags, newTags := state.allTags(ctx), plan.allTags(ctx)
	if err := retagEKSResource(ctx, eksc, state.ARN.ValueString(), state.nodegroupTags(ctx), plan.nodegroupTags(ctx)); err != nil {
		resp.Diagnostics.AddError("Cannot tag the node group", fmt.Sprintf("%s: %v", id, err))
		return
	}

	ltID := state.LaunchTemplateID.ValueString()
	if err := retagLaunchTemplate(ctx, ec2c, ltID, oldTags, newTags); err != nil {
		resp.Diagnostics.AddError("Cannot tag the launch template", err.Error())
		return
	}

	// The launch template's data: a new version rolls the nodes onto it.
	plan.LaunchTemplateID, plan.LaunchTemplateVersion = state.LaunchTemplateID, state.LaunchTemplateVersion
	if !launchTemplateDataEqual(&state, &plan) {
		v, err := ec2c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID), LaunchTemplateData: plan.launchTemplateData()})
		if err != nil {
			resp.Diagnostics.AddError("Cannot create a launch template version", fmt.Sprintf("%s: %v", ltID, err))
			return
		}
		version := aws.ToInt64(v.LaunchTemplateVersion.VersionNumber)
		out, err := eksc.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{
			ClusterName: cluster, NodegroupName: name,
			LaunchTemplate: &ekstypes.LaunchTemplateSpecification{Id: aws.String(ltID), Version: aws.String(strconv.FormatInt(version, 10))},
		})
		if err != nil {
			resp.Diagnostics.AddError("Cannot roll the node group onto the new launch template", fmt.Sprintf("UpdateNodegroupVersion %s: %v", id, err))
			return
		}
		if err := waitNodegroupUpdate(ctx, eksc, plan.ClusterName.ValueString(), plan.Name.ValueString(), out.Update); err != nil {
			resp.Diagnostics.AddError("Node group version update failed", fmt.Sprintf("%s: %v", id, err))
			return
		}
		plan.LaunchTemplateVersion = types.Int64Value(version)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *nodePoolResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m nodePoolModel
	c, ok := modelAndClient(ctx, req.State, &m, &resp.Diagnostics, r.awsClients)
	if !ok {
		return
	}
	_, err := c.eks.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: m.ClusterName.ValueStringPointer(), NodegroupName: m.Name.ValueStringPointer()})
	if err != nil && !isAWSNotFound(err) {
		resp.Diagnostics.AddError("Cannot delete the node group", fmt.Sprintf("%s/%s: %v", m.ClusterName.ValueString(), m.Name.ValueString(), err))
		return
	}
	if err == nil {
		if err := waitNodegroupDeleted(ctx, c.eks, m.ClusterName.ValueString(), m.Name.ValueString()); err != nil {
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
