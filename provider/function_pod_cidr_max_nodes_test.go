package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// functionOutputs applies config (outputs only) and checks output values.
func functionOutputs(t *testing.T, config string, want map[string]string) {
	t.Helper()
	var checks []resource.TestCheckFunc
	for name, v := range want {
		checks = append(checks, resource.TestCheckOutput(name, v))
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		Steps:                    []resource.TestStep{{Config: config, Check: resource.ComposeAggregateTestCheckFunc(checks...)}},
	})
}

func functionError(t *testing.T, expr string, want *regexp.Regexp) {
	t.Helper()
	applyError(t, noCloudProvider+"output \"x\" { value = "+expr+" }\n", want)
}

func TestPodCIDRMaxNodesFunction(t *testing.T) {
	withoutAWSCredentials(t)
	functionOutputs(t, noCloudProvider+`
output "slash16_110" { value = provider::k8sguard::pod_cidr_max_nodes("10.0.0.0/16", 110) }
output "slash20_110" { value = provider::k8sguard::pod_cidr_max_nodes("10.64.0.0/20", 110) }
output "slash16_64"  { value = provider::k8sguard::pod_cidr_max_nodes("10.0.0.0/16", 64) }
output "slash16_8"   { value = provider::k8sguard::pod_cidr_max_nodes("10.0.0.0/16", 8) }
output "too_small"   { value = provider::k8sguard::pod_cidr_max_nodes("10.0.0.0/25", 110) }
`, map[string]string{"slash16_110": "256", "slash20_110": "16", "slash16_64": "512", "slash16_8": "4096", "too_small": "0"})
}

func TestPodCIDRMaxNodesFunctionErrors(t *testing.T) {
	withoutAWSCredentials(t)
	functionError(t, `provider::k8sguard::pod_cidr_max_nodes("10.0.0/16", 110)`, wrapped(`pod CIDR "10.0.0/16" is not a CIDR block like 10.64.0.0/16`))
	functionError(t, `provider::k8sguard::pod_cidr_max_nodes("fd00::/64", 110)`, wrapped(`pod CIDR "fd00::/64" is not IPv4`))
	functionError(t, `provider::k8sguard::pod_cidr_max_nodes("10.0.0.0/16", 0)`, wrapped(`max_pods_per_node must be at least 1`))
}
