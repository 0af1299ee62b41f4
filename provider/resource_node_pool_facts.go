package provider

// k8sguard_node_pool: what the pool rules need from AWS (the subnets' free
// addresses, the instance types' networking, the cluster's other node
// groups), gathered into guard.PoolCloudFacts.

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// eksDefaultInstanceType is what EKS launches for a managed node group that
// names no instance type anywhere.
const eksDefaultInstanceType = "t3.medium"

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

// facts reads the pool's surroundings. current is the pool's node count,
// or -1 to read it from its node group.
func (r *nodePoolResource) facts(ctx context.Context, m *nodePoolModel, current int64) (*guard.PoolCloudFacts, error) {
	eksc, err := r.clients.AWS.EKS(ctx)
	if err != nil {
		return nil, err
	}
	ec2c, err := r.clients.AWS.EC2(ctx)
	if err != nil {
		return nil, err
	}
	cluster, name := m.ClusterName.ValueString(), m.Name.ValueString()
	subnets := awsStringList(ctx, m.SubnetIDs)
	facts := &guard.PoolCloudFacts{Subnets: subnets}

	groups, err := findNodegroups(ctx, eksc, cluster)
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

	if m.mode() != guard.ModeNodeCIDR {
		if facts.FreeSubnetIPs, err = findFreeSubnetIPs(ctx, ec2c, subnets); err != nil {
			return nil, err
		}
		typeNames := awsStringList(ctx, m.InstanceTypes)
		nets, err := findInstanceNetworks(ctx, ec2c, typeNames)
		if err != nil {
			return nil, err
		}
		for _, t := range typeNames {
			facts.InstanceTypes = append(facts.InstanceTypes, nets[t])
		}
	}
	delete(groups, name)
	if facts.Siblings, err = siblingPools(ctx, ec2c, m, groups); err != nil {
		return nil, err
	}
	return facts, nil
}

// siblingPools are the other node groups drawing on the pool's addresses:
// in node_cidr mode every node group on the same pod range (a foreign one
// always: its nodes take blocks of the cluster range), in the VPC CNI modes
// every node group on one of the pool's subnets.
func siblingPools(ctx context.Context, c *ec2.Client, m *nodePoolModel, groups map[string]*ekstypes.Nodegroup) ([]guard.SiblingPool, error) {
	ours := map[string]bool{}
	for _, s := range awsStringList(ctx, m.SubnetIDs) {
		ours[s] = true
	}
	var out []guard.SiblingPool
	for gname, g := range groups {
		sib := guard.SiblingPool{Name: gname}
		if g.ScalingConfig != nil {
			sib.CurrentSize = int64(aws.ToInt32(g.ScalingConfig.DesiredSize))
			sib.MaxSize = int64(aws.ToInt32(g.ScalingConfig.MaxSize))
		}
		managed := g.Tags[tagManagedBy] == managedByNodePool
		if m.mode() == guard.ModeNodeCIDR {
			if managed && g.Tags[tagPodCIDR] != m.PodCIDR.ValueString() {
				continue
			}
			sib.Foreign = !managed
			if mask, err := strconv.Atoi(g.Tags[tagNodeCIDRMask]); managed && err == nil {
				sib.NodeCIDRMaskSize = mask
			}
			out = append(out, sib)
			continue
		}
		if !sharesSubnet(g.Subnets, ours) {
			continue
		}
		if n, err := strconv.ParseInt(g.Tags[tagSubnetIPsByNode], 10, 64); managed && err == nil {
			sib.PodIPsPerNode = n
		} else {
			sib.Foreign = true
			if sib.PodIPsPerNode, err = foreignIPsPerNode(ctx, c, g); err != nil {
				return nil, fmt.Errorf("sizing node group %s: %w", gname, err)
			}
		}
		out = append(out, sib)
	}
	return out, nil
}

// foreignIPsPerNode sizes a node group k8sguard did not make at the most
// its instance types can take: vpc_cni at the ENI limit.
func foreignIPsPerNode(ctx context.Context, c *ec2.Client, g *ekstypes.Nodegroup) (int64, error) {
	names := g.InstanceTypes
	if len(names) == 0 && g.LaunchTemplate != nil {
		if t := findLaunchTemplateInstanceType(ctx, c, g.LaunchTemplate); t != "" {
			names = []string{t}
		}
	}
	if len(names) == 0 {
		names = []string{eksDefaultInstanceType}
	}
	nets, err := findInstanceNetworks(ctx, c, names)
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
