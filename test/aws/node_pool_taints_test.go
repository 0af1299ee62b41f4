package aws_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// A taint whose value changes is updated in place: EKS knows a taint by
// key and effect, so the update must not also remove it. And the order
// EKS lists taints in after an update is not a diff.
func TestNodePoolTaintValueChange_Moto(t *testing.T) {
	ctx := context.Background()
	tg := fixture.Moto(t)
	cluster, roleARN := fixture.Unique("prod"), "arn:aws:iam::123456789012:role/nodes"
	subnets := tg.Network(t, "10.22.0.0/16", "10.22.0.0/25", "10.22.0.128/25")
	tg.Cluster(t, cluster, subnets)
	name := fixture.Unique("general")
	taint := func(key, value string) map[string]string {
		return map[string]string{"key": key, "value": value, "effect": "NO_SCHEDULE"}
	}
	opts := tg.Terraform(t, nodePoolFixture, map[string]any{
		"cluster_name": cluster, "node_role_arn": roleARN, "subnet_ids": subnets, "name": name,
		"max_size": 3, "max_pods_per_node": 20,
		"taints": []map[string]string{taint("dedicated", "general"), taint("team", "platform")},
	})
	terraform.InitContext(t, ctx, opts)
	defer terraform.DestroyContext(t, ctx, opts)
	terraform.ApplyContext(t, ctx, opts)
	infra.ExpectNoChanges(t, opts, "right after create")

	opts.Vars["taints"] = []map[string]string{taint("dedicated", "batch"), taint("team", "platform")}
	terraform.ApplyContext(t, ctx, opts)
	g := describeNodegroup(t, tg, cluster, name)
	got := map[string]string{}
	for _, tt := range g.Taints {
		got[aws.ToString(tt.Key)] = aws.ToString(tt.Value)
	}
	if len(got) != 2 || got["dedicated"] != "batch" || got["team"] != "platform" {
		t.Errorf("node group taints after changing dedicated's value: %v, want dedicated=batch, team=platform", got)
	}
	infra.ExpectNoChanges(t, opts, "after changing a taint's value")
}
