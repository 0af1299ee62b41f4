package guard

import (
	"reflect"
	"testing"
)

// goodWebhook is the OPA example: scoped, opt-in, Fail.
func goodWebhook() Webhook {
	return Webhook{
		Name:        "validating-webhook.openpolicyagent.org",
		Service:     &WebhookService{Namespace: "opa", Name: "opa"},
		HasCABundle: true,
		Rules: []WebhookRule{{
			APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"},
			Resources: []string{"ingresses"}, Operations: []string{"CREATE", "UPDATE"}, Scope: "Namespaced",
		}},
		NamespaceSelector: Selector{MatchLabels: map[string]string{"opa-policy": "enabled"}},
		FailurePolicy:     "Fail",
		TimeoutSeconds:    3,
		SideEffects:       "None",
	}
}

func TestWebhookRules(t *testing.T) {
	const name = `"validating-webhook.openpolicyagent.org"`
	const critical = `: the control plane makes these requests to stay alive (node heartbeats, leader election, events, authentication, certificates) and must never wait for a webhook. Remove them from the rule, or leave these operations out.`
	const noEffect = `: the API server never calls webhooks for webhook configurations, admission policies or their bindings, so this part of the rule has no effect. Remove it; guard these objects with a ValidatingAdmissionPolicy instead.`
	rule := func(group, resource, scope string, ops ...string) func(w *Webhook) {
		return func(w *Webhook) {
			w.Rules[0] = WebhookRule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: []string{resource}, Operations: ops, Scope: scope}
			w.FailurePolicy = "Ignore"
		}
	}
	tests := []struct {
		name   string
		modify func(w *Webhook)
		want   []expectedFinding
	}{
		{"the scoped OPA webhook passes", func(*Webhook) {}, nil},
		{"wildcard resource", func(w *Webhook) { w.Rules[0].Resources = []string{"*"}; w.Rules[0].APIGroups = []string{"apps"} },
			[]expectedFinding{{RuleWebhookWildcard, "webhook[0].rule[0].resources",
				`rule 0 matches every resource ("*"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs.`}}},
		{"wildcard operation", func(w *Webhook) { w.Rules[0].Operations = []string{"*"} },
			[]expectedFinding{{RuleWebhookWildcard, "webhook[0].rule[0].operations",
				`rule 0 matches every operation ("*"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs.`}}},
		{"wildcard subresource pattern on a named group", func(w *Webhook) { w.Rules[0].Resources = []string{"*/status"} },
			[]expectedFinding{{RuleWebhookWildcard, "webhook[0].rule[0].resources",
				`rule 0 matches every resource ("*/status"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs.`}}},
		{"wildcard API group also reaches leases and events", func(w *Webhook) {
			w.Rules[0].APIGroups = []string{"*"}
			w.Rules[0].Resources = []string{"leases", "events", "ingresses"}
		}, []expectedFinding{
			{RuleWebhookWildcard, "webhook[0].rule[0].api_groups",
				`rule 0 matches every API group ("*"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs.`},
			{RuleWebhookCriticalResource, "webhook[0].rule[0].resources",
				`rule 0 intercepts leases.coordination.k8s.io (CREATE, UPDATE), events (CREATE, UPDATE), events.events.k8s.io (CREATE, UPDATE)` + critical},
		}},
		{"leases named explicitly", func(w *Webhook) {
			w.Rules[0].APIGroups = []string{"coordination.k8s.io"}
			w.Rules[0].Resources = []string{"leases"}
		}, []expectedFinding{{RuleWebhookCriticalResource, "webhook[0].rule[0].resources",
			`rule 0 intercepts leases.coordination.k8s.io (CREATE, UPDATE)` + critical}}},
		{"nodes/status through nodes/* with scope *", func(w *Webhook) {
			w.Rules[0].APIGroups = []string{""}
			w.Rules[0].Resources = []string{"nodes/*"}
			w.Rules[0].Scope = "*"
			w.FailurePolicy = "Ignore"
		}, []expectedFinding{{RuleWebhookCriticalResource, "webhook[0].rule[0].resources",
			`rule 0 intercepts nodes/status (UPDATE)` + critical}}},
		{"the webhook configurations themselves", func(w *Webhook) {
			w.Rules[0].APIGroups = []string{"admissionregistration.k8s.io"}
			w.Rules[0].Resources = []string{"validatingwebhookconfigurations", "validatingadmissionpolicies"}
			w.Rules[0].Scope = "Cluster"
			w.ObjectSelector = Selector{MatchLabels: map[string]string{"a": "b"}}
		}, []expectedFinding{{RuleWebhookNoEffect, "webhook[0].rule[0].resources",
			`rule 0 names validatingwebhookconfigurations.admissionregistration.k8s.io, validatingadmissionpolicies.admissionregistration.k8s.io` + noEffect}}},
		// The API server's resource patterns: "leases/*" is leases itself
		// and every subresource, so every lease renewal goes to the hook.
		{"leases/* intercepts lease renewals", rule("coordination.k8s.io", "leases/*", "Namespaced", "UPDATE"),
			[]expectedFinding{{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", `rule 0 intercepts leases.coordination.k8s.io (UPDATE)` + critical}}},
		{"*/* in the core group reaches events and nodes/status", rule("", "*/*", "*", "CREATE", "UPDATE"), []expectedFinding{
			{RuleWebhookWildcard, "webhook[0].rule[0].resources",
				`rule 0 matches every resource ("*/*"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs.`},
			{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", `rule 0 intercepts nodes/status (UPDATE), events (CREATE, UPDATE)` + critical}}},
		{"*/status in the core group is nodes/status", rule("", "*/status", "Cluster", "UPDATE"), []expectedFinding{
			{RuleWebhookWildcard, "webhook[0].rule[0].resources",
				`rule 0 matches every resource ("*/status"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs.`},
			{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", `rule 0 intercepts nodes/status (UPDATE)` + critical}}},
		{"CONNECT-only on nodes/* never carries a status update", rule("", "nodes/*", "*", "CONNECT"), nil},
		{"deleting events is not critical", rule("events.k8s.io", "events", "Namespaced", "DELETE"), nil},
		{"scope Cluster cannot reach namespaced leases", rule("coordination.k8s.io", "leases", "Cluster", "UPDATE"), nil},
		{"another version of leases is still leases (Equivalent)", func(w *Webhook) {
			rule("coordination.k8s.io", "leases", "Namespaced", "CREATE")(w)
			w.Rules[0].APIVersions = []string{"v1beta1"}
		}, []expectedFinding{{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", `rule 0 intercepts leases.coordination.k8s.io (CREATE)` + critical}}},
		{"tokenreviews are created, never updated", rule("authentication.k8s.io", "tokenreviews", "Cluster", "UPDATE", "DELETE"), nil},
		{"tokenreviews CREATE", rule("authentication.k8s.io", "tokenreviews", "Cluster", "CREATE"),
			[]expectedFinding{{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", `rule 0 intercepts tokenreviews.authentication.k8s.io (CREATE)` + critical}}},
		{"localsubjectaccessreviews are namespaced", rule("authorization.k8s.io", "localsubjectaccessreviews", "Namespaced", "CREATE"),
			[]expectedFinding{{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", `rule 0 intercepts localsubjectaccessreviews.authorization.k8s.io (CREATE)` + critical}}},
		{"CSR approval and status through certificatesigningrequests/*", rule("certificates.k8s.io", "certificatesigningrequests/*", "Cluster", "CREATE", "UPDATE"),
			[]expectedFinding{{RuleWebhookCriticalResource, "webhook[0].rule[0].resources",
				`rule 0 intercepts certificatesigningrequests.certificates.k8s.io (CREATE), certificatesigningrequests.certificates.k8s.io/approval (UPDATE), certificatesigningrequests.certificates.k8s.io/status (UPDATE)` + critical}}},
		{"a rule on the webhook configurations has no effect", rule("admissionregistration.k8s.io", "validatingwebhookconfigurations", "Cluster", "CREATE", "UPDATE"),
			[]expectedFinding{{RuleWebhookNoEffect, "webhook[0].rule[0].resources", `rule 0 names validatingwebhookconfigurations.admissionregistration.k8s.io` + noEffect}}},
		{"a wildcard group naming a binding's status", rule("*", "mutatingadmissionpolicybindings/status", "Cluster", "UPDATE"), []expectedFinding{
			{RuleWebhookWildcard, "webhook[0].rule[0].api_groups",
				`rule 0 matches every API group ("*"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs.`},
			{RuleWebhookNoEffect, "webhook[0].rule[0].resources", `rule 0 names mutatingadmissionpolicybindings.admissionregistration.k8s.io` + noEffect}}},
		{"nodes itself (not its status) is not critical", func(w *Webhook) {
			w.Rules[0].APIGroups = []string{""}
			w.Rules[0].Resources = []string{"nodes"}
			w.Rules[0].Scope = "Cluster"
			w.FailurePolicy = "Ignore"
		}, nil},
		{"scope Namespaced cannot reach cluster-scoped tokenreviews", func(w *Webhook) {
			w.Rules[0].APIGroups = []string{"authentication.k8s.io"}
			w.Rules[0].Resources = []string{"tokenreviews"}
		}, nil},
		{"selector picks kube-system by name label", func(w *Webhook) {
			w.NamespaceSelector.MatchLabels = map[string]string{NamespaceNameLabel: "kube-system"}
		}, []expectedFinding{{RuleWebhookProtectedNamespace, `webhook[0].namespace_selector[0].match_labels["kubernetes.io/metadata.name"]`,
			`webhook ` + name + ` selects the protected namespace "kube-system": a webhook there can block the control plane's own writes or its backend's restart, so k8sguard always excludes kube-system, kube-public, kube-node-lease, opa. Select the namespaces the policy is for.`}}},
		{"selector expression picks the backend's own namespace", func(w *Webhook) {
			w.NamespaceSelector = Selector{MatchExpressions: []Requirement{{Key: NamespaceNameLabel, Operator: "In", Values: []string{"team-a", "opa"}}}}
		}, []expectedFinding{{RuleWebhookProtectedNamespace, `webhook[0].namespace_selector[0].match_expressions[0].values`,
			`webhook ` + name + ` selects the protected namespace "opa": a webhook there can block the control plane's own writes or its backend's restart, so k8sguard always excludes kube-system, kube-public, kube-node-lease, opa. Select the namespaces the policy is for.`}}},
		{"Fail with no selectors", func(w *Webhook) { w.NamespaceSelector = Selector{} },
			[]expectedFinding{{RuleWebhookFailUnscoped, "webhook[0].failure_policy",
				`webhook ` + name + ` has failure_policy "Fail" but no opt-in scope: with its backend down it rejects matching writes in every namespace. Opt namespaces in with a namespace_selector (match_labels, or an In/Exists expression) or add an object_selector, or use failure_policy "Ignore".`}}},
		{"Fail with only an opt-out expression", func(w *Webhook) {
			w.NamespaceSelector = Selector{MatchExpressions: []Requirement{{Key: "opa-policy", Operator: "NotIn", Values: []string{"disabled"}}}}
		}, []expectedFinding{{RuleWebhookFailUnscoped, "webhook[0].failure_policy",
			`webhook ` + name + ` has failure_policy "Fail" but no opt-in scope: with its backend down it rejects matching writes in every namespace. Opt namespaces in with a namespace_selector (match_labels, or an In/Exists expression) or add an object_selector, or use failure_policy "Ignore".`}}},
		{"Fail with Exists on the name label every namespace carries", func(w *Webhook) {
			w.NamespaceSelector = Selector{MatchExpressions: []Requirement{{Key: NamespaceNameLabel, Operator: "Exists"}}}
		}, []expectedFinding{{RuleWebhookFailUnscoped, "webhook[0].failure_policy",
			`webhook ` + name + ` has failure_policy "Fail" but no opt-in scope: with its backend down it rejects matching writes in every namespace. Opt namespaces in with a namespace_selector (match_labels, or an In/Exists expression) or add an object_selector, or use failure_policy "Ignore".`}}},
		{"Fail with an Exists expression is opt-in", func(w *Webhook) {
			w.NamespaceSelector = Selector{MatchExpressions: []Requirement{{Key: "opa-policy", Operator: "Exists"}}}
		}, nil},
		{"Fail with an object selector only", func(w *Webhook) {
			w.NamespaceSelector = Selector{}
			w.ObjectSelector = Selector{MatchLabels: map[string]string{"policy": "opa"}}
		}, nil},
		{"Fail with a selector not known until apply", func(w *Webhook) { w.NamespaceSelector = Selector{Unknown: true} }, nil},
		{"Ignore with no selectors", func(w *Webhook) { w.NamespaceSelector = Selector{}; w.FailurePolicy = "Ignore" }, nil},
		{"Fail on cluster-scoped objects", func(w *Webhook) {
			w.Rules[0].APIGroups = []string{"rbac.authorization.k8s.io"}
			w.Rules[0].Resources = []string{"clusterroles"}
			w.Rules[0].Scope = "Cluster"
		}, []expectedFinding{{RuleWebhookClusterScopedFail, "webhook[0].rule[0].scope",
			`rule 0 has scope "Cluster" with failure_policy "Fail": namespace selectors do not apply to cluster-scoped objects, so with its backend down this hook rejects them cluster-wide. Use scope "Namespaced", or narrow it with an object_selector or a match_condition.`}}},
		{"Fail on scope * narrowed by a match condition", func(w *Webhook) { w.Rules[0].Scope = "*"; w.MatchConditions = 1 }, nil},
		{"timeout above the provider maximum", func(w *Webhook) { w.TimeoutSeconds = 10 },
			[]expectedFinding{{RuleWebhookTimeout, "webhook[0].timeout_seconds",
				`timeout_seconds = 10 is above the provider's max_webhook_timeout_seconds (5): every matching API request can wait this long for a slow backend, and the control plane's own requests queue behind it. Lower it, or raise the provider setting.`}}},
		{"timeout at the maximum", func(w *Webhook) { w.TimeoutSeconds = 5 }, nil},
		{"side effects", func(w *Webhook) { w.SideEffects = "Some" },
			[]expectedFinding{{RuleWebhookSideEffects, "webhook[0].side_effects",
				`side_effects = "Some": an admission webhook must have no side effects ("None") or none on dry run ("NoneOnDryRun"), or dry runs and retried requests change the world. Move the side effect out of the admission path.`}}},
		{"NoneOnDryRun is fine", func(w *Webhook) { w.SideEffects = "NoneOnDryRun" }, nil},
		{"url without CA", func(w *Webhook) { w.Service = nil; w.URL = "https://opa.example.com/v1/admit"; w.HasCABundle = false },
			[]expectedFinding{{RuleWebhookNoCA, "webhook[0].ca_bundle",
				`webhook ` + name + ` calls https://opa.example.com/v1/admit without ca_bundle: the API server then trusts any certificate its system roots accept for that host. Pin the backend's CA with ca_bundle.`}}},
		{"service without CA is the API server's business", func(w *Webhook) { w.HasCABundle = false }, nil},
		{"url whose CA an injector fills in", func(w *Webhook) {
			w.Service = nil
			w.URL = "https://opa.example.com/v1/admit"
			w.HasCABundle = false
			w.CAInjected = true
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := goodWebhook()
			tt.modify(&w)
			expectFindings(t, CheckWebhooks([]Webhook{w}, defaultTestSettings), tt.want)
		})
	}
}

func TestEveryWebhookRuleFiresOnTheOutageShape(t *testing.T) {
	// The Jetstack webhook: everything, unscoped, Fail, slow.
	w := Webhook{
		Name:           "validating-webhook.openpolicyagent.org",
		Service:        &WebhookService{Namespace: "opa", Name: "opa"},
		Rules:          []WebhookRule{{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"*"}, Scope: "*"}},
		FailurePolicy:  "Fail",
		TimeoutSeconds: 30,
		SideEffects:    "Unknown",
	}
	fired := map[string]bool{}
	for _, f := range CheckWebhooks([]Webhook{w}, defaultTestSettings) {
		fired[f.RuleID] = true
	}
	for _, id := range []string{RuleWebhookWildcard, RuleWebhookCriticalResource, RuleWebhookFailUnscoped, RuleWebhookClusterScopedFail, RuleWebhookTimeout, RuleWebhookSideEffects} {
		if !fired[id] {
			t.Errorf("%s did not fire on the outage shape", id)
		}
	}
}

func TestEffectiveNamespaceSelectorExcludesProtectedAndOwnNamespace(t *testing.T) {
	w := goodWebhook()
	w.NamespaceSelector.MatchExpressions = []Requirement{{Key: "tier", Operator: "In", Values: []string{"web"}}}
	got := EffectiveNamespaceSelector(w, defaultTestSettings)
	wantExpr := []Requirement{
		{Key: "tier", Operator: "In", Values: []string{"web"}},
		{Key: NamespaceNameLabel, Operator: "NotIn", Values: []string{"kube-system", "kube-public", "kube-node-lease", "opa"}},
	}
	if !reflect.DeepEqual(got.MatchExpressions, wantExpr) || got.MatchLabels["opa-policy"] != "enabled" {
		t.Fatalf("effective selector = %+v", got)
	}
	if len(w.NamespaceSelector.MatchExpressions) != 1 {
		t.Fatalf("EffectiveNamespaceSelector changed its input: %+v", w.NamespaceSelector)
	}
	// A url client has no namespace of its own; a service in a protected
	// namespace is not listed twice.
	w.Service = &WebhookService{Namespace: "kube-system", Name: "x"}
	if got := ExcludedNamespaces(w, defaultTestSettings); !reflect.DeepEqual(got, []string{"kube-system", "kube-public", "kube-node-lease"}) {
		t.Fatalf("excluded = %v", got)
	}
}

// The matcher, case by case against upstream's rules_test.go shapes.
func TestWebhookRuleMatches(t *testing.T) {
	status := AdmissionRequest{Resource: "nodes", Subresource: "status", Operation: "UPDATE"}
	lease := AdmissionRequest{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Operation: "UPDATE", Namespaced: true}
	namespaces := AdmissionRequest{Resource: "namespaces", Operation: "CREATE"}
	all := func(resources ...string) WebhookRule {
		return WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: resources, Operations: []string{"*"}}
	}
	for _, tt := range []struct {
		name string
		rule WebhookRule
		req  AdmissionRequest
		want bool
	}{
		{"* is every resource", all("*"), lease, true},
		{"* is no subresource", all("*"), status, false},
		{"*/* is everything", all("*/*"), status, true},
		{"*/* includes the resource itself", all("*/*"), lease, true},
		{"X/* includes X itself", all("leases/*"), lease, true},
		{"X/* includes its subresources", all("nodes/*"), status, true},
		{"X is not its subresources", all("nodes"), status, false},
		{"*/status", all("*/status"), status, true},
		{"another resource's status", all("pods/status"), status, false},
		{"X/ is X only", all("leases/"), lease, true},
		{"operation named", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"CREATE", "UPDATE"}}, lease, true},
		{"operation not named", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"CONNECT"}}, lease, false},
		{"group not named", WebhookRule{APIGroups: []string{""}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"*"}}, lease, false},
		{"version not named", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"v1beta1"}, Resources: []string{"*/*"}, Operations: []string{"*"}}, lease, false},
		{"any version: a named version", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"v1beta1"}, Resources: []string{"*/*"}, Operations: []string{"*"}}, status, true},
		{"any version: no versions", WebhookRule{APIGroups: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"*"}}, status, false},
		{"scope Namespaced, namespaced request", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"*"}, Scope: "Namespaced"}, lease, true},
		{"scope Namespaced, cluster request", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"*"}, Scope: "Namespaced"}, status, false},
		{"scope Cluster, namespaces themselves", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*"}, Operations: []string{"*"}, Scope: "Cluster"}, namespaces, true},
		{"scope Cluster, namespaced request", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"*"}, Scope: "Cluster"}, lease, false},
		{"unset scope is *", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"*"}, Scope: ""}, lease, true},
		{"unknown scope matches nothing", WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Operations: []string{"*"}, Scope: "Global"}, lease, false},
	} {
		if got := tt.rule.Matches(tt.req); got != tt.want {
			t.Errorf("%s: %+v matches %+v = %v, want %v", tt.name, tt.rule, tt.req, got, tt.want)
		}
	}
}

// The exported table is a copy: a caller cannot change what the rule checks.
func TestCriticalResourcesIsACopy(t *testing.T) {
	c := CriticalResources()
	c[0].Operations[0] = "DELETE"
	c[1].Resource = "pods"
	if got := CriticalResources(); got[0].Operations[0] != "CREATE" || got[1].Resource != "nodes" {
		t.Fatalf("CriticalResources shares its table: %+v", got[:2])
	}
	for _, r := range CriticalResources() {
		if r.Reason == "" || len(r.Operations) == 0 || IsExemptAdmissionResource(r.Group, r.Resource) {
			t.Errorf("%s: needs a reason and operations, and must not be exempt from webhooks", r)
		}
	}
}

func TestBackendReady(t *testing.T) {
	w := goodWebhook()
	advice := " Deploy the backend first (depends_on), or set require_ready_backend = false to register the hook anyway."
	tests := []struct {
		name string
		b    Backend
		want []expectedFinding
	}{
		{"ready", Backend{ServiceFound: true, Slices: 1, Endpoints: 2, ReadyEndpoints: 1}, nil},
		{"no service", Backend{}, []expectedFinding{{RuleWebhookBackendNotReady, "webhook[2].require_ready_backend",
			`webhook "validating-webhook.openpolicyagent.org": service opa/opa does not exist, so every request the hook matches would fail to reach its backend. Check it with: kubectl -n opa get service opa.` + advice}}},
		{"no ready endpoints", Backend{ServiceFound: true, Slices: 1, Endpoints: 2}, []expectedFinding{{RuleWebhookBackendNotReady, "webhook[2].require_ready_backend",
			`webhook "validating-webhook.openpolicyagent.org": service opa/opa has no ready endpoints (0 of 2 ready in 1 EndpointSlices), so every request the hook matches would fail to reach its backend. Check it with: kubectl -n opa get endpointslices -l kubernetes.io/service-name=opa.` + advice}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectFindings(t, CheckBackendReady(2, w, tt.b), tt.want) })
	}
	w.Service, w.URL = nil, "https://x"
	if got := CheckBackendReady(0, w, Backend{}); got != nil {
		t.Fatalf("url client: %v", got)
	}
}

// TestWebhookConfigurationTooLargeToJudge: past the bounds the guardrails
// can judge within the API server's CEL cost limit, a configuration gets
// WEBHOOK_TOO_LARGE_TO_JUDGE alone (plan, API server and audit alike),
// naming the first count past its bound; at the bounds, the other rules.
func TestWebhookConfigurationTooLargeToJudge(t *testing.T) {
	const tail = ". Past the limit the API server would stop evaluating its policies and admit the configuration unjudged, so padding could " +
		"hide a wildcard or unscoped webhook. Split it into several configurations."
	hook := func(rules, resources int) Webhook {
		w := Webhook{Name: "h.example.com", FailurePolicy: "Ignore", NamespaceSelector: Selector{MatchLabels: map[string]string{"opa-policy": "enabled"}}}
		for range rules {
			r := WebhookRule{APIGroups: []string{"*"}, APIVersions: []string{"v1"}, Operations: []string{"CREATE"}, Scope: "Namespaced"}
			for range resources {
				r.Resources = append(r.Resources, "a")
			}
			w.Rules = append(w.Rules, r)
		}
		return w
	}
	hooks := func(n int, w Webhook) []Webhook {
		out := make([]Webhook, n)
		for i := range out {
			out[i] = w
		}
		return out
	}
	for _, tt := range []struct {
		name  string
		hooks []Webhook
		want  []expectedFinding
	}{
		{"65 webhooks", hooks(65, hook(1, 1)), []expectedFinding{{RuleWebhookTooLarge, "webhook",
			"the configuration has 65 webhooks, more than the 64 the guardrails can judge within the API server's CEL cost limit" + tail}}},
		{"257 rules", hooks(1, hook(257, 1)), []expectedFinding{{RuleWebhookTooLarge, "webhook",
			"the configuration has 257 rules, more than the 256 the guardrails can judge within the API server's CEL cost limit" + tail}}},
		{"4097 rule entries", hooks(1, hook(1, 4094)), []expectedFinding{{RuleWebhookTooLarge, "webhook",
			"the configuration has 4097 rule entries (API groups, versions, resources, operations and namespace selector expressions), " +
				"more than the 4096 the guardrails can judge within the API server's CEL cost limit" + tail}}},
		{"4096 rule entries are judged", hooks(1, hook(1, 4093)), []expectedFinding{{RuleWebhookWildcard, "webhook[0].rule[0].api_groups",
			`rule 0 matches every API group ("*"): a webhook that intercepts everything can block the control plane when its backend is down. ` +
				"Name the API groups and resources it needs."}}},
	} {
		t.Run(tt.name, func(t *testing.T) { expectFindings(t, CheckWebhooks(tt.hooks, defaultTestSettings), tt.want) })
	}
}

func TestCAInjected(t *testing.T) {
	for _, tt := range []struct {
		annotations map[string]string
		want        bool
	}{
		{nil, false},
		{map[string]string{"cert-manager.io/inject-ca-from": "opa/opa-serving-cert"}, true},
		{map[string]string{"cert-manager.io/inject-ca-from-secret": "opa/opa-ca"}, true},
		{map[string]string{"cert-manager.io/inject-apiserver-ca": "true"}, true},
		{map[string]string{"cert-manager.io/inject-ca-from": " "}, false},
		{map[string]string{"example.com/inject-ca-from": "opa/opa-serving-cert"}, false},
	} {
		if got := CAInjected(tt.annotations); got != tt.want {
			t.Errorf("CAInjected(%v) = %v, want %v", tt.annotations, got, tt.want)
		}
	}
}
