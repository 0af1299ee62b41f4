package aws_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// A node group deleted outside Terraform (console, eksctl) leaves the
// launch template k8sguard made for it: the next apply must recreate the
// pool, not fail on the launch template's name.
func TestNodePoolDeletedOutside_Moto(t *testing.T) {
	ctx := context.Background()
	tg := fixture.Moto(t)
	cluster, roleARN := fixture.Unique("prod"), "arn:aws:iam::123456789012:role/nodes"
	subnets := tg.Network(t, "10.21.0.0/16", "10.21.0.0/25", "10.21.0.128/25")
	tg.Cluster(t, cluster, subnets)
	name := fixture.Unique("general")
	opts := tg.Terraform(t, nodePoolFixture, map[string]any{
		"cluster_name": cluster, "node_role_arn": roleARN, "subnet_ids": subnets, "name": name,
		"max_size": 3, "max_pods_per_node": 20,
	})
	terraform.InitContext(t, ctx, opts)
	defer terraform.DestroyContext(t, ctx, opts)
	terraform.ApplyContext(t, ctx, opts)

	if _, err := tg.EKS.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		if _, err := tg.EKS.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)}); err != nil {
			break
		}
		time.Sleep(time.Second)
	}
	if _, err := terraform.ApplyContextE(t, ctx, opts); err != nil {
		t.Fatalf("apply after the node group was deleted outside Terraform: %v", err)
	}
	g := describeNodegroup(t, tg, cluster, name)
	if g.LaunchTemplate == nil || aws.ToString(g.LaunchTemplate.Id) != terraform.OutputContext(t, ctx, opts, "launch_template_id") {
		t.Errorf("recreated node group runs launch template %+v, want the one in state", g.LaunchTemplate)
	}
	infra.ExpectNoChanges(t, opts, "after recreating the deleted node group")
}
