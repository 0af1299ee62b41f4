package upgrade_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// moduleUpgrade lays out a temp dir with the 0.1.0 modules/ beside a copy
// of the fixture (which calls "../modules/<name>"), applies it with the
// 0.1.0 provider, then replaces modules/ with this checkout's and plans
// with the current provider, checked as applyOldPlanNew does.
func moduleUpgrade(t *testing.T, opts *terraform.Options, allowed map[string][]string) string {
	t.Helper()
	old, _ := release010(t)
	modules := filepath.Join(filepath.Dir(opts.TerraformDir), "modules")
	replaceTree(t, old, modules)
	applyWith010(t, opts)
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	replaceTree(t, filepath.Join(root, "modules"), modules)
	return planWithCurrent(t, opts, allowed)
}

func replaceTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

func TestUpgradeFrom010_ClusterGuardrailsModule(t *testing.T) {
	release010(t) // first: without the release nothing is started, or left to tear down
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	opts := infra.Terraform(t, "test/upgrade/testdata/modules/cluster_guardrails", map[string]any{"ca_bundle": selfSignedCA(t)})
	opts.EnvVars["KUBECONFIG"] = cp.Kubeconfig
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		createNamespace(t, cp, ns)
	}
	defer terraform.DestroyContext(t, context.Background(), opts)
	// The module now installs the API-server guardrails by default (a new
	// resource, called out in the CHANGELOG with its opt-out); the quotas
	// and the webhook are left as 0.1.0 made them.
	out := moduleUpgrade(t, opts, map[string][]string{
		"module.guardrails.k8sguard_admission_guardrails.this[0]": {"(create)"},
	})
	t.Logf("plan:\n%s", out)
}

func TestUpgradeFrom010_ControlPlaneAndEtcdBackupModules(t *testing.T) {
	release010(t) // first: without the release nothing is started, or left to tear down
	tg := fixture.Moto(t)
	subnets := tg.Network(t, "10.30.0.0/16", "10.30.0.0/24", "10.30.1.0/24")
	cluster := fixture.Unique("prod")
	tg.Cluster(t, cluster, subnets)
	opts := tg.Terraform(t, "test/upgrade/testdata/modules/control_plane", map[string]any{
		"cluster_name": cluster, "bucket_name": fixture.Unique("etcd-up"), "subnet_ids": subnets,
	})
	defer terraform.DestroyContext(t, context.Background(), opts)
	// The launch template gets one new version: the root block moves to
	// the AMI's root device (/dev/sda1 for moto's ami-785db401; 0.1.0 put
	// it on /dev/xvda whatever the AMI), and the etcd-backup module's
	// cloud-init now enables etcdguard with --no-block (CHANGELOG, Fixed).
	// The bucket and the node pools are left as 0.1.0 made them.
	out := moduleUpgrade(t, opts, map[string][]string{
		"module.control_plane.k8sguard_control_plane_launch_template.this": {"root_volume", "user_data", "latest_version"},
	})
	t.Logf("plan:\n%s", out)
}
