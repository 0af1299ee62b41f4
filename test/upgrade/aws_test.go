package upgrade_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
)

// The AWS resources of 0.1.0 (node pools, control-plane launch templates,
// backup buckets) on moto.
func TestUpgradeFrom010_Moto(t *testing.T) {
	release010(t) // first: without the release nothing is started, or left to tear down
	tg := fixture.Moto(t)
	cluster := fixture.Unique("prod")
	subnets := tg.Network(t, "10.30.0.0/16", "10.30.0.0/20", "10.30.16.0/20")
	tg.Cluster(t, cluster, subnets)
	suffix := strings.TrimPrefix(fixture.Unique(""), "-")
	opts := tg.Terraform(t, "test/upgrade/testdata/aws", map[string]any{
		"cluster_name": cluster, "subnet_ids": subnets, "suffix": suffix,
	})
	defer terraform.DestroyContext(t, context.Background(), opts)
	// The only changes: 0.1.0 put root_volume on /dev/xvda whatever the
	// AMI, and mapped no root device without the block (CHANGELOG, Fixed):
	// both templates get a new version with the root on the AMI's root
	// device (/dev/sda1 for moto's ami-12c6146b), encrypted.
	out := applyOldPlanNew(t, opts, map[string][]string{
		"k8sguard_control_plane_launch_template.masters": {"root_volume", "latest_version"},
		"k8sguard_control_plane_launch_template.minimal": {"drift", "latest_version"},
	})
	t.Logf("plan with the current provider over 0.1.0's state:\n%s", out)
}
