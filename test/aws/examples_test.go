package aws_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// noCredentials blanks every way the AWS SDK could find credentials.
var noCredentials = []string{
	"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
	"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
}

// The data source and function examples are pure arithmetic: they apply
// with no credentials and no reachable AWS.
func TestExamplesWithoutCloud(t *testing.T) {
	cases := []struct {
		dir  string
		want map[string]string
	}{
		{"examples/data-sources/k8sguard_pod_ip_capacity", map[string]string{"prod_max_nodes": "240", "dense_max_nodes": "1024"}},
		{"examples/functions/pod_cidr_max_nodes", map[string]string{"max_nodes_at_110_pods": "256"}},
		{"examples/functions/is_burstable_instance_type", map[string]string{"t3_is_burstable": "true"}},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.dir), func(t *testing.T) {
			opts := infra.WithEnv(infra.Terraform(t, c.dir, nil), noCredentials)
			defer terraform.DestroyContext(t, context.Background(), opts)
			terraform.InitAndApplyContext(t, context.Background(), opts)
			for name, want := range c.want {
				if got := terraform.OutputContext(t, context.Background(), opts, name); got != want {
					t.Errorf("output %s = %s, want %s", name, got, want)
				}
			}
		})
	}
	t.Run("a burstable control-plane type fails the example's validation", func(t *testing.T) {
		opts := infra.WithEnv(infra.Terraform(t, "examples/functions/is_burstable_instance_type", map[string]any{"control_plane_instance_type": "t3.large"}), noCredentials)
		out, err := infra.InitAndPlanE(t, context.Background(), opts)
		if err == nil || !strings.Contains(infra.Unwrap(out), "Control-plane nodes need a fixed-performance instance type") {
			t.Fatalf("plan with t3.large: err = %v\n%s", err, out)
		}
	})
}

// The resource examples as written: the launch template and the bucket
// apply against moto; the node pool names subnets of a real account, so it
// is validated (what terraform validate checks without AWS).
func TestResourceExamples_Moto(t *testing.T) {
	tg := fixture.Moto(t)
	for _, dir := range []string{"examples/resources/k8sguard_control_plane_launch_template", "examples/resources/k8sguard_etcd_backup_bucket"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			opts := infra.WithEnv(infra.Terraform(t, dir, nil), tg.Env)
			pointProviderAt(t, opts, tg)
			defer terraform.DestroyContext(t, context.Background(), opts)
			terraform.InitAndApplyContext(t, context.Background(), opts)
			infra.ExpectNoChanges(t, opts, dir+" right after apply")
		})
	}
	t.Run("k8sguard_node_pool", func(t *testing.T) {
		opts := infra.WithEnv(infra.Terraform(t, "examples/resources/k8sguard_node_pool", nil), noCredentials)
		terraform.InitAndValidateContext(t, context.Background(), opts)
	})
}

// pointProviderAt adds a provider block for the target to an example,
// which (as documentation) has none.
func pointProviderAt(t *testing.T, opts *terraform.Options, tg *fixture.Target) {
	t.Helper()
	var eps []string
	for k, v := range tg.Endpoints {
		eps = append(eps, fmt.Sprintf("%s = %q", k, v))
	}
	block := fmt.Sprintf("provider \"k8sguard\" {\n  aws {\n    region    = %q\n    endpoints = { %s }\n  }\n}\n", tg.Region, strings.Join(eps, ", "))
	if err := os.WriteFile(filepath.Join(opts.TerraformDir, "zz_provider_test.tf"), []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
}
