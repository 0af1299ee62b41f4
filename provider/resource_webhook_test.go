package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// opaWebhook is the example with one part replaceable by each case.
func opaWebhook(resourceType, provider, rule, extra string) string {
	if rule == "" {
		rule = `rule {
      api_groups   = ["networking.k8s.io"]
      api_versions = ["v1"]
      resources    = ["ingresses"]
      operations   = ["CREATE", "UPDATE"]
    }`
	}
	return fmt.Sprintf(`
provider "k8sguard" {
  %s
}

resource %q "opa" {
  name = "opa-validating-webhook"
  webhook {
    name = "validating-webhook.openpolicyagent.org"
    service {
      namespace = "opa"
      name      = "opa"
      path      = "/v1/admit"
    }
    %s
    %s
  }
}
`, provider, resourceType, rule, extra)
}

const optIn = `namespace_selector {
      match_labels = { "opa-policy" = "enabled" }
    }`

// planError is the diagnostic summary terraform prints for a finding,
// matched across terraform's line wrapping.
func planError(msg string) *regexp.Regexp {
	return wrapped(regexp.QuoteMeta(msg))
}

// Every plan-time rule refuses its bad shape at `terraform plan`, with the
// rule ID and message, for both webhook kinds.
func TestWebhookPlanRefusesDangerousShapes(t *testing.T) {
	cases := []struct {
		name, provider, rule, extra, want string
	}{
		{"wildcard resources", "", `rule {
      api_groups   = ["networking.k8s.io"]
      api_versions = ["v1"]
      resources    = ["*"]
      operations   = ["CREATE"]
    }`, optIn, `[WEBHOOK_WILDCARD_RULE] rule 0 matches every resource ("*"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs. Prevents: OPA webhook outage (Jetstack, GKE upgrade).`},
		{"leases", "", `rule {
      api_groups   = ["coordination.k8s.io"]
      api_versions = ["v1"]
      resources    = ["leases"]
      operations   = ["UPDATE"]
    }`, optIn, `[WEBHOOK_CRITICAL_RESOURCE] rule 0 intercepts leases.coordination.k8s.io (UPDATE):`},
		// "leases/*" is leases itself and its subresources, as the API
		// server matches it: every lease renewal would wait for the hook.
		{"leases/* (the resource and its subresources)", "", `rule {
      api_groups   = ["coordination.k8s.io"]
      api_versions = ["v1"]
      resources    = ["leases/*"]
      operations   = ["UPDATE"]
    }`, optIn, `[WEBHOOK_CRITICAL_RESOURCE] rule 0 intercepts leases.coordination.k8s.io (UPDATE): the control plane makes these requests to stay alive (node heartbeats, leader election, events, authentication, certificates) and must never wait for a webhook. Remove them from the rule, or leave these operations out. Prevents: OPA webhook outage (Jetstack, GKE upgrade).`},
		{"kube-system selected", "", "", `namespace_selector {
      match_labels = { "kubernetes.io/metadata.name" = "kube-system" }
    }`, `[WEBHOOK_PROTECTED_NAMESPACE] webhook "validating-webhook.openpolicyagent.org" selects the protected namespace "kube-system"`},
		{"a namespace the provider protects", `protected_namespaces = ["kube-system", "platform"]`, "", `namespace_selector {
      match_expressions {
        key      = "kubernetes.io/metadata.name"
        operator = "In"
        values   = ["platform"]
      }
    }`, `selects the protected namespace "platform": a webhook there can block the control plane's own writes or its backend's restart, so k8sguard always excludes kube-system, platform, opa.`},
		{"Fail unscoped", "", "", `failure_policy = "Fail"`, `[WEBHOOK_FAIL_UNSCOPED] webhook "validating-webhook.openpolicyagent.org" has failure_policy "Fail" but no opt-in scope`},
		{"Fail on cluster scope", "", `rule {
      api_groups   = ["rbac.authorization.k8s.io"]
      api_versions = ["v1"]
      resources    = ["clusterroles"]
      operations   = ["CREATE"]
      scope        = "*"
    }`, optIn + "\nfailure_policy = \"Fail\"", `[WEBHOOK_CLUSTER_SCOPED_FAIL] rule 0 has scope "*" with failure_policy "Fail"`},
		{"timeout above the provider's maximum", `max_webhook_timeout_seconds = 2`, "", optIn + "\ntimeout_seconds = 3",
			`[WEBHOOK_TIMEOUT] timeout_seconds = 3 is above the provider's max_webhook_timeout_seconds (2)`},
		{"side effects", "", "", optIn + "\nside_effects = \"Some\"", `[WEBHOOK_SIDE_EFFECTS] side_effects = "Some"`},
		{"waiver without a reason", "", "", optIn + "\n}\nwaivers = { WEBHOOK_WILDCARD_RULE = \"\" }\nwebhook {\n name = \"b.example.org\"\n url = \"https://b.example.org\"\n ca_bundle = \"x\"\n rule {\n api_groups = [\"apps\"]\n api_versions = [\"v1\"]\n resources = [\"deployments\"]\n operations = [\"CREATE\"]\n }",
			`[WAIVER_INVALID] waiver for WEBHOOK_WILDCARD_RULE has no reason`},
		{"unwaivable rule waived", "", "", optIn + "\n}\nwaivers = { WEBHOOK_CRITICAL_RESOURCE = \"trust me\" }\nwebhook {\n name = \"b.example.org\"\n url = \"https://b.example.org\"\n ca_bundle = \"x\"\n rule {\n api_groups = [\"apps\"]\n api_versions = [\"v1\"]\n resources = [\"deployments\"]\n operations = [\"CREATE\"]\n }",
			`[WAIVER_INVALID] waiver for WEBHOOK_CRITICAL_RESOURCE: this rule cannot be waived`},
		{"two backends", "", "", optIn + "\nurl = \"https://opa.example.org\"", `webhook "validating-webhook.openpolicyagent.org" needs exactly one backend: a service block or a url.`},
	}
	for _, kind := range []string{"k8sguard_validating_webhook", "k8sguard_mutating_webhook"} {
		for _, c := range cases {
			t.Run(kind+"/"+c.name, func(t *testing.T) {
				planOnly(t, opaWebhook(kind, c.provider, c.rule, c.extra), planError(c.want))
			})
		}
	}
}

// A rule on the webhook configurations plans with a WEBHOOK_NO_EFFECT
// warning kept in findings: the API server never sends them to webhooks.
func TestWebhookRuleOnWebhookConfigurationsHasNoEffect(t *testing.T) {
	planOnly(t, opaWebhook("k8sguard_validating_webhook", "", `rule {
      api_groups   = ["admissionregistration.k8s.io"]
      api_versions = ["v1"]
      resources    = ["validatingwebhookconfigurations"]
      operations   = ["CREATE", "UPDATE"]
      scope        = "Cluster"
    }`, optIn), nil,
		plancheck.ExpectKnownValue("k8sguard_validating_webhook.opa", tfjsonpath.New("findings"), knownvalue.ListExact([]knownvalue.Check{
			knownvalue.StringExact(`[WEBHOOK_NO_EFFECT] rule 0 names validatingwebhookconfigurations.admissionregistration.k8s.io: the API server never calls webhooks for webhook configurations, admission policies or their bindings, so this part of the rule has no effect. Remove it; guard these objects with a ValidatingAdmissionPolicy instead. Prevents: OPA webhook outage (Jetstack, GKE upgrade).`),
		})),
	)
}

// The safe shape plans, and the plan shows the selector really sent: the
// user's opt-in plus the exclusion of protected namespaces and the
// backend's own namespace.
func TestWebhookPlanShowsEffectiveSelector(t *testing.T) {
	planOnly(t, opaWebhook("k8sguard_validating_webhook", "", "", optIn+"\nfailure_policy = \"Fail\""), nil,
		plancheck.ExpectKnownValue("k8sguard_validating_webhook.opa", tfjsonpath.New("webhook").AtSliceIndex(0).AtMapKey("effective_namespace_selector"),
			knownvalue.StringExact("kubernetes.io/metadata.name notin (kube-node-lease,kube-public,kube-system,opa),opa-policy=enabled")),
		plancheck.ExpectKnownValue("k8sguard_validating_webhook.opa", tfjsonpath.New("webhook").AtSliceIndex(0).AtMapKey("require_ready_backend"), knownvalue.Bool(true)),
		plancheck.ExpectKnownValue("k8sguard_validating_webhook.opa", tfjsonpath.New("webhook").AtSliceIndex(0).AtMapKey("rule").AtSliceIndex(0).AtMapKey("scope"), knownvalue.StringExact("Namespaced")),
		plancheck.ExpectKnownValue("k8sguard_validating_webhook.opa", tfjsonpath.New("findings"), knownvalue.ListExact(nil)),
	)
}

// A waived error plans as a warning that keeps the reason in `findings`.
func TestWebhookWaiverKeepsReasonInFindings(t *testing.T) {
	cfg := strings.Replace(opaWebhook("k8sguard_mutating_webhook", "", `rule {
      api_groups   = ["apps"]
      api_versions = ["v1"]
      resources    = ["deployments"]
      operations   = ["*"]
    }`, optIn), `name = "opa-validating-webhook"`, `name = "opa-validating-webhook"
  waivers = { WEBHOOK_WILDCARD_RULE = "audit hook on deployments, all operations" }`, 1)
	planOnly(t, cfg, nil,
		plancheck.ExpectKnownValue("k8sguard_mutating_webhook.opa", tfjsonpath.New("findings"), knownvalue.ListExact([]knownvalue.Check{
			knownvalue.StringExact(`[WEBHOOK_WILDCARD_RULE] rule 0 matches every operation ("*"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs. Prevents: OPA webhook outage (Jetstack, GKE upgrade). Waived: "audit hook on deployments, all operations".`),
		})),
		plancheck.ExpectKnownValue("k8sguard_mutating_webhook.opa", tfjsonpath.New("webhook").AtSliceIndex(0).AtMapKey("reinvocation_policy"), knownvalue.StringExact("Never")),
	)
}

// matchConditions renders match_condition blocks from name/expression pairs.
func matchConditions(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, "\n    match_condition {\n      name       = %q\n      expression = %q\n    }", pairs[i], pairs[i+1])
	}
	return b.String()
}

// A match condition the API server would refuse fails the plan, naming the
// condition and quoting the API server's own CEL compiler.
func TestWebhookPlanRefusesBadMatchConditions(t *testing.T) {
	many := make([]string, 0, 2*(maxMatchConditions+1))
	for i := 0; i <= maxMatchConditions; i++ {
		many = append(many, fmt.Sprintf("c%d", i), "true")
	}
	cases := []struct{ name, conditions, want string }{
		{"syntax error", matchConditions("guarded", `object.metadata.name.startsWith("guarded-") &&`),
			"webhook[0].match_condition[0].expression: the API server would refuse this CEL expression: compilation failed: ERROR: <input>:1:47: " +
				"Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"},
		{"not a bool", matchConditions("ok", "true", "name", "object.metadata.name"),
			"webhook[0].match_condition[1].expression: the API server would refuse this CEL expression: must evaluate to bool but got dyn"},
		{"params is not a webhook variable", matchConditions("params", "params.enabled == true"),
			"webhook[0].match_condition[0].expression: the API server would refuse this CEL expression: compilation failed: ERROR: <input>:1:1: undeclared reference to 'params' (in container '')"},
		{"wrong argument type", matchConditions("prefix", "object.metadata.name.startsWith(1)"),
			"webhook[0].match_condition[0].expression: the API server would refuse this CEL expression: compilation failed: ERROR: <input>:1:32: found no matching overload for 'startsWith' applied to 'dyn.(int)'"},
		{"blank expression", matchConditions("blank", "  "),
			"webhook[0].match_condition[0].expression: the API server would refuse this CEL expression: the expression is empty"},
		{"duplicate name", matchConditions("guarded", "true", "guarded", "false"),
			`webhook[0].match_condition[1].name "guarded" is already the name of match_condition[0]: names are unique in a webhook.`},
		{"name not qualified", matchConditions("not valid!", "true"),
			`webhook[0].match_condition[0].name "not valid!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
		{"more than 64", matchConditions(many...), "Attribute webhook[0].match_condition list must contain at most 64 elements, got: 65"},
	}
	for _, kind := range []string{"k8sguard_validating_webhook", "k8sguard_mutating_webhook"} {
		for _, c := range cases {
			t.Run(kind+"/"+c.name, func(t *testing.T) {
				planOnly(t, opaWebhook(kind, "", "", optIn+c.conditions), planError(strings.Join(strings.Fields(c.want), " ")))
			})
		}
	}
}

// Good conditions plan as written, and count as scoping a Fail hook on a
// cluster-scoped rule (WEBHOOK_CLUSTER_SCOPED_FAIL), as in the guard.
func TestWebhookPlanAcceptsMatchConditions(t *testing.T) {
	planOnly(t, opaWebhook("k8sguard_validating_webhook", "", `rule {
      api_groups   = ["rbac.authorization.k8s.io"]
      api_versions = ["v1"]
      resources    = ["clusterroles"]
      operations   = ["CREATE", "UPDATE"]
      scope        = "Cluster"
    }`, optIn+"\nfailure_policy = \"Fail\""+matchConditions(
		"guarded-names-only", `object.metadata.name.startsWith("guarded-")`,
		"not-the-scheduler", `request.userInfo.username != "system:kube-scheduler" && authorizer.group("rbac.authorization.k8s.io").resource("clusterroles").check("escalate").allowed() == false`,
	)), nil,
		plancheck.ExpectKnownValue("k8sguard_validating_webhook.opa", tfjsonpath.New("webhook").AtSliceIndex(0).AtMapKey("match_condition").AtSliceIndex(0).AtMapKey("expression"),
			knownvalue.StringExact(`object.metadata.name.startsWith("guarded-")`)),
		plancheck.ExpectKnownValue("k8sguard_validating_webhook.opa", tfjsonpath.New("findings"), knownvalue.ListExact(nil)),
	)
}

// A configuration with no webhook, or a webhook with no rule, registers
// nothing that ever fires: refused at plan like a list of zero (an absent
// block is null, which SizeAtLeast alone lets through).
func TestWebhookWithoutWebhookOrRuleIsRefused(t *testing.T) {
	for _, kind := range []string{"k8sguard_validating_webhook", "k8sguard_mutating_webhook"} {
		t.Run(kind+"/no webhook", func(t *testing.T) {
			planOnly(t, fmt.Sprintf(`resource %q "w" { name = "empty" }`, kind), regexp.MustCompile(`(?s)Invalid Block.*webhook.*must have a configuration value`))
		})
		t.Run(kind+"/no rule", func(t *testing.T) {
			planOnly(t, fmt.Sprintf(`resource %q "w" {
  name = "norule"
  webhook {
    name = "norule.example.org"
    url  = "https://norule.example.org"
    ca_bundle = "x"
    namespace_selector {
      match_labels = { team = "a" }
    }
  }
}`, kind), regexp.MustCompile(`(?s)Invalid Block.*rule.*must have a configuration value`))
		})
	}
}
