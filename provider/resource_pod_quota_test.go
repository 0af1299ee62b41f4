package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

func podQuotaConfig(provider, body string) string {
	return fmt.Sprintf(`
provider "k8sguard" {
  %s
}

resource "k8sguard_pod_quota" "team_a" {
  %s
}
`, provider, body)
}

// Every pod quota rule that stops a plan does so at `terraform plan` with
// its ID and message.
func TestPodQuotaPlanRefusesBadQuotas(t *testing.T) {
	cases := []struct{ name, provider, body, want string }{
		{"zero pods", "", `namespace = "team-a"
  pods = 0`, `[QUOTA_PODS_REQUIRED] pods = 0: the pod cap must be at least 1.`},
		{"above the provider's maximum", `max_pods_per_namespace = 100`, `namespace = "team-a"
  pods = 200`, `[QUOTA_PODS_ABOVE_CLUSTER_MAX] pods = 200 is above the provider's max_pods_per_namespace (100)`},
		{"above the default maximum", "", `namespace = "team-a"
  pods = 1501`, `pods = 1501 is above the provider's max_pods_per_namespace (1500)`},
		{"malformed memory", "", `namespace = "team-a"
  pods = 10
  requests_memory = "64GB"`, `[QUOTA_INVALID_QUANTITY] requests_memory = "64GB" is not a Kubernetes quantity`},
		{"malformed default", "", `namespace = "team-a"
  pods = 10
  default_container_limits {
    memory = "lots"
  }`, `default_container_limits.memory = "lots" is not a Kubernetes quantity`},
		{"unwaivable waiver", "", `namespace = "team-a"
  pods = 0
  waivers = { QUOTA_PODS_REQUIRED = "freeze" }`, `[WAIVER_INVALID] waiver for QUOTA_PODS_REQUIRED: this rule cannot be waived`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { planOnly(t, podQuotaConfig(c.provider, c.body), planError(c.want)) })
	}
}

// Warnings do not stop the plan and are kept in `findings`; a waived
// error plans as a warning with its reason.
func TestPodQuotaWarningsAndWaiversLandInFindings(t *testing.T) {
	planOnly(t, podQuotaConfig("", `namespace = "kube-system"
  pods = 2000
  jobs = 3000
  waivers = { QUOTA_PODS_ABOVE_CLUSTER_MAX = "system namespace of a 5000-node cluster" }`), nil,
		plancheck.ExpectKnownValue("k8sguard_pod_quota.team_a", tfjsonpath.New("findings"), knownvalue.ListExact([]knownvalue.Check{
			knownvalue.StringExact(`[QUOTA_PODS_ABOVE_CLUSTER_MAX] pods = 2000 is above the provider's max_pods_per_namespace (1500): one namespace this large can still flood the API server and etcd. Lower it, or raise max_pods_per_namespace for the cluster. Prevents: CronJob pod explosion (Zalando incident 2). Waived: "system namespace of a 5000-node cluster".`),
			knownvalue.StringExact(`[QUOTA_JOBS_ABOVE_PODS] jobs = 3000 is above pods = 2000: every running Job needs a pod, so the pod cap binds first on running Jobs, and this cap (it counts every Job object) binds only on finished Jobs kept as CronJob history. Set jobs to at most pods for a job cap that binds on running Jobs too. Prevents: CronJob pod explosion (Zalando incident 2).`),
			knownvalue.StringExact(`[QUOTA_PROTECTED_NAMESPACE] namespace "kube-system" is protected: when a quota there is full, the control plane's own pods (DNS, CNI, proxies) cannot be created either. Leave generous headroom, or quota the teams' namespaces instead. Prevents: CronJob pod explosion (Zalando incident 2).`),
		})),
		plancheck.ExpectKnownValue("k8sguard_pod_quota.team_a", tfjsonpath.New("name"), knownvalue.StringExact("k8sguard-pods")),
	)
}

// A value known only at apply (terraform_data's output is unknown at plan)
// leaves `findings` unknown in the plan: the rules run again at apply on the
// final values, and a warning found then must be free to land in findings
// (a promised empty list would make terraform refuse the final plan). With
// every value known, the same quota plans its warning at once.
func TestPodQuotaFindingsUnknownWhileAValueIsUnknown(t *testing.T) {
	planOnly(t, `
resource "terraform_data" "namespace" {
  input = "kube-system"
}

resource "k8sguard_pod_quota" "team_a" {
  namespace = terraform_data.namespace.output
  pods      = 10
}
`, nil, plancheck.ExpectUnknownValue("k8sguard_pod_quota.team_a", tfjsonpath.New("findings")))
	planOnly(t, podQuotaConfig("", `namespace = "kube-system"
  pods = 10`), nil,
		plancheck.ExpectKnownValue("k8sguard_pod_quota.team_a", tfjsonpath.New("findings"), knownvalue.ListSizeExact(1)))
}
