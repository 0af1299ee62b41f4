package provider

// Finders: read one kind of AWS object and say clearly when it is missing.
// Shared by the resources that size or check against AWS.

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/k8sguard/k8sguard/provider/cloud"
	"github.com/k8sguard/k8sguard/provider/guard"
)

// findNodegroups returns the cluster's node groups by name.
func findNodegroups(ctx context.Context, c *eks.Client, cluster string) (map[string]*ekstypes.Nodegroup, error) {
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

// findFreeSubnetIPs is the sum of the subnets' AvailableIpAddressCount; a
// subnet that does not exist is an error.
func findFreeSubnetIPs(ctx context.Context, c *ec2.Client, subnets []string) (int64, error) {
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

// findInstanceNetworks reads the facts the pool rules need about instance
// types (cloud.InstanceNetwork); a type the region does not offer is an
// error naming it.
func findInstanceNetworks(ctx context.Context, c *ec2.Client, names []string) (map[string]guard.InstanceNetwork, error) {
	req := &ec2.DescribeInstanceTypesInput{}
	for _, n := range names {
		req.InstanceTypes = append(req.InstanceTypes, ec2types.InstanceType(n))
	}
	out, err := c.DescribeInstanceTypes(ctx, req)
	if err != nil {
		if isAWSErrorCode(err, "InvalidInstanceType") {
			return nil, fmt.Errorf("instance_types %s: %s", strings.Join(names, ", "), awsErrorMessage(err))
		}
		return nil, fmt.Errorf("describing instance types %s: %w", strings.Join(names, ", "), err)
	}
	nets := map[string]guard.InstanceNetwork{}
	for _, it := range out.InstanceTypes {
		n := cloud.InstanceNetwork(it)
		nets[n.InstanceType] = n
	}
	for _, n := range names {
		if _, ok := nets[n]; !ok {
			return nil, fmt.Errorf("instance type %s does not exist in this region", n)
		}
	}
	return nets, nil
}

// findLaunchTemplateInstanceType is the instance type a launch template
// version names, or "" when it names none or cannot be read (callers then
// fall back to a default).
func findLaunchTemplateInstanceType(ctx context.Context, c *ec2.Client, lt *ekstypes.LaunchTemplateSpecification) string {
	out, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: lt.Id, Versions: []string{aws.ToString(lt.Version)},
	})
	if err != nil || len(out.LaunchTemplateVersions) == 0 || out.LaunchTemplateVersions[0].LaunchTemplateData == nil {
		return ""
	}
	return string(out.LaunchTemplateVersions[0].LaunchTemplateData.InstanceType)
}
