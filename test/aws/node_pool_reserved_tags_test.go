package aws_test

import (
	"context"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// k8sguard:* tags record the sizing the guard checked (and other pools
// read): a user tag under that prefix is refused at plan, not overwritten
// or dropped at the next refresh into a diff that never goes away.
func TestNodePoolReservedTags_Moto(t *testing.T) {
	ctx := context.Background()
	tg := fixture.Moto(t)
	cluster, roleARN := fixture.Unique("prod"), "arn:aws:iam::123456789012:role/nodes"
	subnets := tg.Network(t, "10.23.0.0/16", "10.23.0.0/25", "10.23.0.128/25")
	tg.Cluster(t, cluster, subnets)
	opts := tg.Terraform(t, nodePoolFixture, map[string]any{
		"cluster_name": cluster, "node_role_arn": roleARN, "subnet_ids": subnets, "name": fixture.Unique("general"),
		"max_size": 3, "max_pods_per_node": 20, "tags": map[string]string{"team": "platform", "k8sguard:owner": "platform"},
	})
	terraform.InitContext(t, ctx, opts)
	t.Logf("refused: %s", infra.ExpectPlanError(t, opts, `tags key "k8sguard:owner": k8sguard:\* tags are reserved`))
}
