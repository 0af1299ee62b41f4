package provider

// k8sguard_node_pool: the Terraform model, its mapping to guard.NodePool,
// and to and from the EKS node group and its launch template.

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/k8sguard/k8sguard/provider/guard"
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
	// On the node group only: the configured desired_size, which an
	// import reads back instead of the autoscaler's current size.
	tagDesiredSize    = "k8sguard:desired-size"
	managedByNodePool = "k8sguard_node_pool"
)

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

// sizingKnown reports whether every input of the pool rules is known
// (node_cidr_mask_size is checked on the configuration: in the plan it is
// unknown until the rules compute its default). A list is known only with
// every element: one subnet or instance type from another resource's
// output left the pool sized on the others (or on none: "no instance type
// information"), failing a good plan.
func (m *nodePoolModel) sizingKnown() bool {
	ctx := context.Background()
	return !m.MaxPodsPerNode.IsUnknown() && !m.MaxSize.IsUnknown() && !m.PodIPMode.IsUnknown() &&
		!m.PodCIDR.IsUnknown() && fullyKnown(ctx, m.InstanceTypes) &&
		fullyKnown(ctx, m.SubnetIDs) && !m.ClusterName.IsUnknown() && !m.Name.IsUnknown() && fullyKnown(ctx, m.Waivers)
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

// launchTemplateDataEqual reports whether launchTemplateData stays as it
// is: only then is a new template version (and a node roll) not needed.
// Tags are not template data: a tags-only change retags in place.
func launchTemplateDataEqual(a, b *nodePoolModel) bool {
	return a.MaxPodsPerNode.Equal(b.MaxPodsPerNode)
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
			// Imported: the size the configuration set, when k8sguard
			// recorded it, not the autoscaler's (else the first apply
			// would scale the pool back to the configured size).
			if v, err := strconv.ParseInt(g.Tags[tagDesiredSize], 10, 64); err == nil {
				m.DesiredSize = types.Int64Value(v)
			} else {
				m.DesiredSize = types.Int64Value(int64(aws.ToInt32(sc.DesiredSize)))
			}
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
	// EKS lists taints in no set order (an updated taint moves to the
	// end): keep the order of the state, which is the configuration's, so
	// the order is not a diff; taints added outside Terraform follow.
	rank := map[string]int{}
	for i, t := range m.eksTaints() {
		rank[taintID(t)] = i
	}
	taints := append([]ekstypes.Taint(nil), g.Taints...)
	sort.SliceStable(taints, func(i, j int) bool {
		ri, iok := rank[taintID(taints[i])]
		rj, jok := rank[taintID(taints[j])]
		if iok != jok {
			return iok
		}
		return iok && ri < rj
	})
	m.Taints = nil
	for _, t := range taints {
		tm := taintModel{Key: types.StringValue(aws.ToString(t.Key)), Value: types.StringPointerValue(t.Value), Effect: types.StringValue(string(t.Effect))}
		m.Taints = append(m.Taints, tm)
	}
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

// nodegroupTags are the node group's tags: allTags and the configured
// desired_size (not on the launch template, which a size change leaves alone).
func (m *nodePoolModel) nodegroupTags(ctx context.Context) map[string]string {
	t := m.allTags(ctx)
	t[tagDesiredSize] = strconv.FormatInt(m.DesiredSize.ValueInt64(), 10)
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

// taintID is what EKS (and Kubernetes) know a taint by: its key and effect.
func taintID(t ekstypes.Taint) string { return aws.ToString(t.Key) + "\x00" + string(t.Effect) }

// diffTaints returns the taints to add or update and those to remove. A
// taint whose value changes is only updated: EKS knows taints by key and
// effect, so removing the old value would remove the updated taint too.
func diffTaints(old, new []ekstypes.Taint) (add, remove []ekstypes.Taint) {
	key := func(t ekstypes.Taint) string { return taintID(t) + "\x00" + aws.ToString(t.Value) }
	oldKeys, newIDs := map[string]bool{}, map[string]bool{}
	for _, t := range old {
		oldKeys[key(t)] = true
	}
	for _, t := range new {
		newIDs[taintID(t)] = true
		if !oldKeys[key(t)] {
			add = append(add, t)
		}
	}
	for _, t := range old {
		if !newIDs[taintID(t)] {
			remove = append(remove, t)
		}
	}
	return add, remove
}
