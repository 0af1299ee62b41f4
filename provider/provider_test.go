package provider

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
)

// protoV6 serves the provider in-process to terraform-plugin-testing, which
// drives the real terraform CLI from PATH.
var protoV6 = map[string]func() (tfprotov6.ProviderServer, error){
	"k8sguard": providerserver.NewProtocol6WithError(New("test")()),
}

// wrapped makes a pattern match across the line breaks terraform puts into
// long diagnostics: every space matches any run of white space.
func wrapped(pattern string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(pattern, " ", `\s+`))
}

// planOnly runs `terraform plan` on config and expects the error (or none);
// checks then run on the plan.
func planOnly(t *testing.T, config string, expectErr *regexp.Regexp, checks ...plancheck.PlanCheck) {
	t.Helper()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		Steps: []resource.TestStep{{
			Config:             config,
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
			ExpectError:        expectErr,
			ConfigPlanChecks:   resource.ConfigPlanChecks{PostApplyPreRefresh: checks},
		}},
	})
}

// applyError applies config and expects it to fail with want: for data
// sources and functions, which terraform evaluates at apply as well.
func applyError(t *testing.T, config string, want *regexp.Regexp) {
	t.Helper()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		Steps:                    []resource.TestStep{{Config: config, ExpectError: want}},
	})
}

func TestProviderConfigurationErrorsNameTheAttribute(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: dev, context: {cluster: c, user: u}}]
current-context: dev
`), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("{{{ not yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, block string
		want        string
	}{
		{"unreadable kubeconfig", `kubernetes { config_path = "` + filepath.Join(dir, "nope") + `" }`,
			`kubernetes\.config_path: cannot read kubeconfig .*nope`},
		{"kubeconfig that does not parse", `kubernetes { config_path = "` + garbage + `" }`,
			`kubernetes\.config_path: cannot read kubeconfig .*garbage`},
		{"unknown context", `kubernetes {
  config_path    = "` + kubeconfig + `"
  config_context = "prod"
}`, `kubernetes\.config_context: context "prod" not found in .*kubeconfig \(contexts: dev\)`},
		{"malformed CA PEM", `kubernetes {
  host                   = "https://127.0.0.1:1"
  cluster_ca_certificate = "not a certificate"
}`, `kubernetes\.cluster_ca_certificate: not PEM: expected a -----BEGIN CERTIFICATE-----`},
		{"client key without certificate", `kubernetes {
  host       = "https://127.0.0.1:1"
  client_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
}`, `kubernetes\.client_certificate: client_certificate and client_key must be set together`},
		{"host without scheme", `kubernetes { host = "10.0.0.1:6443" }`,
			`kubernetes\.host: "10\.0\.0\.1:6443" has no scheme: write it as https://10\.0\.0\.1:6443`},
		{"endpoint without scheme", `aws { endpoints = { s3 = "127.0.0.1:9000" } }`,
			`endpoint "127\.0\.0\.1:9000" needs a scheme and host`},
		{"endpoint for an unknown service", `aws { endpoints = { dynamodb = "http://127.0.0.1:9000" } }`,
			`"dynamodb" is not a service k8sguard calls: endpoints accepts \[ec2 eks s3 sts\]`},
		{"webhook timeout above the API server's limit", `max_webhook_timeout_seconds = 31`,
			`max_webhook_timeout_seconds.*must be between 1 and 30`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The data source makes terraform configure the provider;
			// every case fails before it would contact a cluster.
			planOnly(t, "provider \"k8sguard\" {\n"+tc.block+"\n}\n"+`data "k8sguard_kubernetes_cluster" "this" {}`, wrapped(tc.want))
		})
	}
}

// With no explicit configuration and no kubeconfig anywhere, using the
// cluster fails with a message that says how to configure it.
func TestDataSourceWithoutClusterSaysHowToConfigure(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	planOnly(t, `
provider "k8sguard" {}
data "k8sguard_kubernetes_cluster" "this" {}
`, regexp.MustCompile(`no Kubernetes cluster configured: set kubernetes\.host`))
}

// Plan-time checks need no cluster and no AWS credentials: the clients are
// built only when a resource really talks to an API. The provider points
// at closed ports and the plan still fails on the rule, not on a connection.
func TestPlanTimeChecksNeedNoClusterOrCredentials(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "missing"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "missing"))
	planOnly(t, `
provider "k8sguard" {
  kubernetes {
    host  = "https://127.0.0.1:1"
    token = "unused"
  }
  aws {
    region    = "eu-central-1"
    endpoints = { ec2 = "http://127.0.0.1:1", eks = "http://127.0.0.1:1" }
  }
}
# pods above max_pods_per_namespace is a rule that reads provider
# settings, so it runs in ModifyPlan on a configured provider.
resource "k8sguard_pod_quota" "a" {
  namespace = "team-a"
  pods      = 5000
}
output "nodes" { value = provider::k8sguard::pod_cidr_max_nodes("10.64.0.0/16", 110) }
`, wrapped(`\[QUOTA_PODS_ABOVE_CLUSTER_MAX\]`))
}
