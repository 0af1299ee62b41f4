package aws_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// An autoscaler's desired_size is not drift, and not after an import
// either: import reads back the configured size, so the first apply does
// not scale the pool back down to it.
func TestNodePoolImportAutoscaled_Moto(t *testing.T) {
	ctx := context.Background()
	tg := fixture.Moto(t)
	cluster, roleARN := fixture.Unique("prod"), "arn:aws:iam::123456789012:role/nodes"
	subnets := tg.Network(t, "10.24.0.0/16", "10.24.0.0/25", "10.24.0.128/25")
	tg.Cluster(t, cluster, subnets)
	name := fixture.Unique("general")
	opts := tg.Terraform(t, nodePoolFixture, map[string]any{
		"cluster_name": cluster, "node_role_arn": roleARN, "subnet_ids": subnets, "name": name, "max_size": 5, "max_pods_per_node": 20,
	})
	terraform.InitContext(t, ctx, opts)
	defer terraform.DestroyContext(t, ctx, opts)
	terraform.ApplyContext(t, ctx, opts)
	if _, err := tg.EKS.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name),
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(1), DesiredSize: aws.Int32(4), MaxSize: aws.Int32(5)}}); err != nil {
		t.Fatal(err)
	}
	infra.ExpectNoChanges(t, opts, "after an autoscaler set desired_size to 4")
	importInto(t, opts, "k8sguard_node_pool.general", cluster+":"+name)
	infra.ExpectNoChanges(t, opts, "after importing a pool an autoscaler grew to 4")
	if got := aws.ToInt32(describeNodegroup(t, tg, cluster, name).ScalingConfig.DesiredSize); got != 4 {
		t.Errorf("desired size %d after import, want the autoscaler's 4", got)
	}
}
