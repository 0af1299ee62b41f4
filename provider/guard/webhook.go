package guard

import (
	"fmt"
	"slices"
	"strings"
)

// Webhook rule IDs.
const (
	RuleWebhookWildcard           = "WEBHOOK_WILDCARD_RULE"
	RuleWebhookCriticalResource   = "WEBHOOK_CRITICAL_RESOURCE"
	RuleWebhookProtectedNamespace = "WEBHOOK_PROTECTED_NAMESPACE"
	RuleWebhookFailUnscoped       = "WEBHOOK_FAIL_UNSCOPED"
	RuleWebhookClusterScopedFail  = "WEBHOOK_CLUSTER_SCOPED_FAIL"
	RuleWebhookTimeout            = "WEBHOOK_TIMEOUT"
	RuleWebhookSideEffects        = "WEBHOOK_SIDE_EFFECTS"
	RuleWebhookNoCA               = "WEBHOOK_NO_CA"
	RuleWebhookBackendNotReady    = "WEBHOOK_BACKEND_NOT_READY"
	RuleWebhookNoEffect           = "WEBHOOK_NO_EFFECT"
	RuleWebhookTooLarge           = "WEBHOOK_TOO_LARGE_TO_JUDGE"
)

// How large a webhook configuration the guardrails judge. The API server
// stops a policy's CEL at a per-expression cost limit (1,000,000) and a
// per-request budget, and an expression that stops is an error, which the
// guardrails' failurePolicy Ignore turns into an admission: a wildcard
// webhook padded with a quarter of a million harmless resource entries was
// admitted unjudged. Within these bounds every expression costs a small
// fraction of the limit (guard/cel tests it on a configuration at the
// bounds); beyond them WEBHOOK_TOO_LARGE_TO_JUDGE refuses the
// configuration, a verdict the CEL reaches in time proportional to the
// bounds, whatever the size. Real configurations (cert-manager, Istio,
// Kyverno, Gatekeeper) have a few webhooks of a few rules.
const (
	MaxJudgedWebhooks     = 64   // webhooks in one configuration
	MaxJudgedWebhookRules = 256  // rules across its webhooks
	MaxJudgedRuleEntries  = 4096 // rule entries across them: see WebhookRuleEntries
)

// Message formats of the webhook rules the guardrails also enforce: the
// CEL in guard/cel renders the same formats, so the API server's message
// is the plan's, word for word.
const (
	MsgWebhookWildcard = "rule %d matches every %s (%q): a webhook that intercepts everything can block the control plane when its backend is down. " +
		"Name the API groups and resources it needs."
	MsgWebhookCriticalResource = "rule %d intercepts %s: the control plane makes these requests to stay alive (node heartbeats, leader election, events, " +
		"authentication, certificates) and must never wait for a webhook. Remove them from the rule, or leave these operations out."
	MsgWebhookClusterScopedFail = "rule %d has scope %q with failure_policy \"Fail\": namespace selectors do not apply to cluster-scoped objects, " +
		"so with its backend down this hook rejects them cluster-wide. Use scope \"Namespaced\", or narrow it with an " +
		"object_selector or a match_condition."
	MsgWebhookFailUnscoped = "webhook %q has failure_policy \"Fail\" but no opt-in scope: with its backend down it rejects matching writes in every namespace. " +
		"Opt namespaces in with a namespace_selector (match_labels, or an In/Exists expression) or add an object_selector, " +
		"or use failure_policy \"Ignore\"."
	MsgWebhookTimeout = "timeout_seconds = %d is above the provider's max_webhook_timeout_seconds (%d): every matching API request can wait this long " +
		"for a slow backend, and the control plane's own requests queue behind it. Lower it, or raise the provider setting."
	MsgWebhookSideEffects = "side_effects = %q: an admission webhook must have no side effects (\"None\") or none on dry run (\"NoneOnDryRun\"), " +
		"or dry runs and retried requests change the world. Move the side effect out of the admission path."
	MsgWebhookTooLarge = "the configuration has %d %s, more than the %d the guardrails can judge within the API server's CEL cost limit. " +
		"Past the limit the API server would stop evaluating its policies and admit the configuration unjudged, so padding could hide a wildcard " +
		"or unscoped webhook. Split it into several configurations."
)

// NamespaceNameLabel is the label the API server puts on every namespace
// with its own name: the only selector key a webhook can rely on to exclude
// namespaces whatever labels their owners set.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

var storyJetstack = Story{
	Name: "OPA webhook outage (Jetstack, GKE upgrade)",
	// "How a simple admission webhook lead to a cluster outage" (2019); the
	// original address now redirects elsewhere, so the archived copy.
	URL: "https://web.archive.org/web/20230607064526/https://www.jetstack.io/blog/gke-webhook-outage/",
}

var _ = register(
	Rule{ID: RuleWebhookWildcard, Family: "webhook", Enforced: AtPlan | AtAPIServer | AtAudit, Severity: Error, Waivable: true, Story: storyJetstack,
		Checks: "no rule uses `*` in api_groups, resources or operations"},
	Rule{ID: RuleWebhookCriticalResource, Family: "webhook", Enforced: AtPlan | AtAPIServer | AtAudit, Severity: Error, Waivable: false, Story: storyJetstack,
		Checks: "no rule intercepts a request the control plane makes to stay alive: " + criticalSummary() +
			"; rules are matched as the API server matches them (every version, `X/*` includes `X`, scope and operations honoured)"},
	Rule{ID: RuleWebhookProtectedNamespace, Family: "webhook", Severity: Error, Waivable: false, Story: storyJetstack, UsesSettings: true,
		Checks: "the namespace selector does not pick a protected namespace or the backend's own namespace; " +
			"the provider always adds `kubernetes.io/metadata.name NotIn [...]` for them"},
	Rule{ID: RuleWebhookFailUnscoped, Family: "webhook", Enforced: AtPlan | AtAPIServer | AtAudit, Severity: Error, Waivable: true, Story: storyJetstack,
		Checks: "`failure_policy = \"Fail\"` only with an opt-in namespace selector (match_labels, or an In/Exists expression; " +
			"`Exists` on `kubernetes.io/metadata.name` is not opt-in, since every namespace carries that label, and neither is `DoesNotExist` on it, " +
			"since a namespace created with `generateName` reaches mutating admission before it gets the label) or an object selector"},
	Rule{ID: RuleWebhookClusterScopedFail, Family: "webhook", Enforced: AtPlan | AtAPIServer | AtAudit, Severity: Error, Waivable: true, Story: storyJetstack,
		Checks: "`failure_policy = \"Fail\"` on rules with scope `*` or `Cluster` only with an object selector or a match condition"},
	Rule{ID: RuleWebhookTimeout, Family: "webhook", Enforced: AtPlan | AtAPIServer | AtAudit, Severity: Error, Waivable: true, Story: storyJetstack, UsesSettings: true,
		Checks: "`timeout_seconds` is at most the provider's `max_webhook_timeout_seconds`"},
	Rule{ID: RuleWebhookSideEffects, Family: "webhook", Enforced: AtPlan | AtAPIServer | AtAudit, Severity: Error, Waivable: false, Story: storyJetstack,
		Checks: "`side_effects` is `None` or `NoneOnDryRun`"},
	Rule{ID: RuleWebhookNoCA, Family: "webhook", Severity: Warning, Waivable: false, Story: storyJetstack,
		Checks: "a webhook called by `url` pins its backend's CA with `ca_bundle`, or leaves it to cert-manager's cainjector: the live configuration " +
			"carries `cert-manager.io/inject-ca-from`, `inject-ca-from-secret` or `inject-apiserver-ca`"},
	Rule{ID: RuleWebhookBackendNotReady, Family: "webhook", Enforced: AtApply, Severity: Error, Waivable: false, Story: storyJetstack,
		Checks: "at apply, with `require_ready_backend`, the backend service exists and has ready endpoints (EndpointSlices) before the hook is registered"},
	Rule{ID: RuleWebhookTooLarge, Family: "webhook", Enforced: AtPlan | AtAPIServer | AtAudit, Severity: Error, Waivable: false, Story: storyJetstack,
		Checks: fmt.Sprintf("a configuration has at most %d webhooks, %d rules and %d rule entries (API groups, versions, resources, operations "+
			"and namespace selector expressions): the guardrails' CEL stays within the API server's cost limit, so no configuration is "+
			"admitted unjudged; a larger one is refused, and then only this rule is reported", MaxJudgedWebhooks, MaxJudgedWebhookRules, MaxJudgedRuleEntries)},
	Rule{ID: RuleWebhookNoEffect, Family: "webhook", Severity: Warning, Waivable: false, Story: storyJetstack,
		Checks: "no rule names webhook configurations, admission policies or their bindings: the API server never calls webhooks for these"},
)

// Webhook is one webhook of a validating or mutating configuration, as the
// rules see it. Values not known until apply are zero; Selector.Unknown
// marks a selector with unknown parts, so rules do not guess about it.
type Webhook struct {
	Name        string
	Service     *WebhookService // nil for a url client
	URL         string
	HasCABundle bool // set, or not known until apply
	// CAInjected: the configuration asks a CA injector to fill caBundle in
	// (CAInjectorAnnotations), so WEBHOOK_NO_CA leaves it to the injector.
	CAInjected        bool
	Rules             []WebhookRule
	NamespaceSelector Selector
	ObjectSelector    Selector
	MatchConditions   int
	FailurePolicy     string // "Fail" or "Ignore"
	TimeoutSeconds    int64
	SideEffects       string
}

// WebhookService is the in-cluster backend of a webhook.
type WebhookService struct {
	Namespace, Name string
}

// WebhookRule is one rule (operations × groups × versions × resources).
type WebhookRule struct {
	APIGroups, APIVersions, Resources, Operations []string
	Scope                                         string // "Namespaced", "Cluster" or "*"
}

// Selector is a label selector.
type Selector struct {
	MatchLabels      map[string]string
	MatchExpressions []Requirement
	Unknown          bool
}

// Requirement is one match expression.
type Requirement struct {
	Key      string
	Operator string // In, NotIn, Exists, DoesNotExist
	Values   []string
}

// Empty reports whether the selector selects everything.
func (s Selector) Empty() bool {
	return !s.Unknown && len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// OptIn reports whether objects must carry something to be selected: a
// required label value, or an In/Exists expression. A selector made only of
// NotIn/DoesNotExist matches every new namespace by default, and so does
// Exists on kubernetes.io/metadata.name: the API server puts that label on
// every namespace, so it selects them all. DoesNotExist on that label
// selects no stored namespace, but is not opt-in either: a namespace
// created with generateName reaches mutating admission without the label
// (the registry adds it after admission), so the hook still matches new
// namespaces (test/differential's selector test holds OptIn to the API
// server's selector and names this one exception).
func (s Selector) OptIn() bool {
	if len(s.MatchLabels) > 0 {
		return true
	}
	for _, r := range s.MatchExpressions {
		if r.Operator == "In" || r.Operator == "Exists" && r.Key != NamespaceNameLabel {
			return true
		}
	}
	return false
}

// ExcludedNamespaces are the namespaces a webhook is always kept out of: the
// protected ones and its own backend's, so the backend can always restart.
func ExcludedNamespaces(w Webhook, s Settings) []string {
	out := slices.Clone(s.ProtectedNamespaces)
	if w.Service != nil && w.Service.Namespace != "" && !slices.Contains(out, w.Service.Namespace) {
		out = append(out, w.Service.Namespace)
	}
	return out
}

// EffectiveNamespaceSelector is the selector the provider sends: the user's,
// plus `kubernetes.io/metadata.name NotIn [excluded namespaces]` last.
func EffectiveNamespaceSelector(w Webhook, s Settings) Selector {
	eff := Selector{MatchLabels: w.NamespaceSelector.MatchLabels}
	eff.MatchExpressions = append(slices.Clone(w.NamespaceSelector.MatchExpressions), ExclusionRequirement(w, s))
	return eff
}

// ExclusionRequirement is the expression the provider appends to every
// namespace selector.
func ExclusionRequirement(w Webhook, s Settings) Requirement {
	return Requirement{Key: NamespaceNameLabel, Operator: "NotIn", Values: ExcludedNamespaces(w, s)}
}

// WebhookRuleEntries counts what the guardrails' CEL iterates in a
// webhook: the API groups, versions, resources and operations of its
// rules, and its namespace selector's expressions.
func WebhookRuleEntries(w Webhook) int {
	n := len(w.NamespaceSelector.MatchExpressions)
	for _, r := range w.Rules {
		n += len(r.APIGroups) + len(r.APIVersions) + len(r.Resources) + len(r.Operations)
	}
	return n
}

// What WEBHOOK_TOO_LARGE_TO_JUDGE counts, as its message names them.
const (
	CountWebhooks    = "webhooks"
	CountRules       = "rules"
	CountRuleEntries = "rule entries (API groups, versions, resources, operations and namespace selector expressions)"
)

// CheckWebhookConfigurationSize is WEBHOOK_TOO_LARGE_TO_JUDGE. It names the
// first count past its bound, in the order webhooks, rules, entries: the
// order the guardrails count them in, each count only once the one before
// is within its bound, so the API server's cost stays bounded too.
func CheckWebhookConfigurationSize(webhooks []Webhook) []Finding {
	rules, entries := 0, 0
	for _, w := range webhooks {
		rules += len(w.Rules)
		entries += WebhookRuleEntries(w)
	}
	tooLarge := func(n int, what string, max int) []Finding {
		return []Finding{finding(RuleWebhookTooLarge, Path{"webhook"}, MsgWebhookTooLarge, n, what, max)}
	}
	switch {
	case len(webhooks) > MaxJudgedWebhooks:
		return tooLarge(len(webhooks), CountWebhooks, MaxJudgedWebhooks)
	case rules > MaxJudgedWebhookRules:
		return tooLarge(rules, CountRules, MaxJudgedWebhookRules)
	case entries > MaxJudgedRuleEntries:
		return tooLarge(entries, CountRuleEntries, MaxJudgedRuleEntries)
	}
	return nil
}

// CheckWebhooks runs the plan-time webhook rules over a configuration's
// webhooks (paths start at "webhook"). A configuration too large to judge
// gets only WEBHOOK_TOO_LARGE_TO_JUDGE, as from the API server, which
// cannot judge the rest of it.
func CheckWebhooks(webhooks []Webhook, s Settings) []Finding {
	if tooLarge := CheckWebhookConfigurationSize(webhooks); len(tooLarge) > 0 {
		return tooLarge
	}
	var out []Finding
	for i, w := range webhooks {
		out = append(out, checkWebhook(i, w, s)...)
	}
	return out
}

func checkWebhook(i int, w Webhook, s Settings) []Finding {
	var out []Finding
	at := func(steps ...any) Path { return append(Path{"webhook", i}, steps...) }
	failing := w.FailurePolicy == "Fail"

	for j, r := range w.Rules {
		for _, f := range []struct {
			attr, noun string
			values     []string
		}{
			{"api_groups", "API group", r.APIGroups},
			{"resources", "resource", r.Resources},
			{"operations", "operation", r.Operations},
		} {
			if v, ok := wildcard(f.values); ok {
				out = append(out, finding(RuleWebhookWildcard, at("rule", j, f.attr),
					MsgWebhookWildcard, j, f.noun, v))
			}
		}
		if hit := CriticalMatches(r); len(hit) > 0 {
			out = append(out, finding(RuleWebhookCriticalResource, at("rule", j, "resources"),
				MsgWebhookCriticalResource,
				j, describeCriticalMatches(hit)))
		}
		if named := exemptNamed(r); len(named) > 0 {
			out = append(out, finding(RuleWebhookNoEffect, at("rule", j, "resources"),
				"rule %d names %s: the API server never calls webhooks for webhook configurations, admission policies or their bindings, "+
					"so this part of the rule has no effect. Remove it; guard these objects with a ValidatingAdmissionPolicy instead.",
				j, strings.Join(named, ", ")))
		}
		scope := r.Scope
		if failing && (scope == "*" || scope == "Cluster") && w.ObjectSelector.Empty() && w.MatchConditions == 0 {
			out = append(out, finding(RuleWebhookClusterScopedFail, at("rule", j, "scope"),
				MsgWebhookClusterScopedFail, j, scope))
		}
	}

	excluded := ExcludedNamespaces(w, s)
	for _, ns := range excluded {
		if w.NamespaceSelector.MatchLabels[NamespaceNameLabel] == ns {
			out = append(out, protectedNamespaceFinding(at("namespace_selector", 0, "match_labels", MapKey(NamespaceNameLabel)), w, ns, excluded))
		}
	}
	for k, r := range w.NamespaceSelector.MatchExpressions {
		if r.Key != NamespaceNameLabel || r.Operator != "In" {
			continue
		}
		for _, ns := range r.Values {
			if slices.Contains(excluded, ns) {
				out = append(out, protectedNamespaceFinding(at("namespace_selector", 0, "match_expressions", k, "values"), w, ns, excluded))
			}
		}
	}

	if failing && !w.NamespaceSelector.Unknown && !w.NamespaceSelector.OptIn() && w.ObjectSelector.Empty() {
		out = append(out, finding(RuleWebhookFailUnscoped, at("failure_policy"),
			MsgWebhookFailUnscoped, w.Name))
	}
	if s.MaxWebhookTimeoutSeconds > 0 && w.TimeoutSeconds > s.MaxWebhookTimeoutSeconds {
		out = append(out, finding(RuleWebhookTimeout, at("timeout_seconds"),
			MsgWebhookTimeout,
			w.TimeoutSeconds, s.MaxWebhookTimeoutSeconds))
	}
	if w.SideEffects != "" && w.SideEffects != "None" && w.SideEffects != "NoneOnDryRun" {
		out = append(out, finding(RuleWebhookSideEffects, at("side_effects"),
			MsgWebhookSideEffects, w.SideEffects))
	}
	if w.URL != "" && !w.HasCABundle && !w.CAInjected {
		out = append(out, finding(RuleWebhookNoCA, at("ca_bundle"),
			"webhook %q calls %s without ca_bundle: the API server then trusts any certificate its system roots accept for that host. "+
				"Pin the backend's CA with ca_bundle.", w.Name, w.URL))
	}
	return out
}

func protectedNamespaceFinding(p Path, w Webhook, ns string, excluded []string) Finding {
	return finding(RuleWebhookProtectedNamespace, p,
		"webhook %q selects the protected namespace %q: a webhook there can block the control plane's own writes or its backend's restart, "+
			"so k8sguard always excludes %s. Select the namespaces the policy is for.", w.Name, ns, strings.Join(excluded, ", "))
}

// wildcard returns the first value that matches everything: "*", or a
// resource pattern that starts with "*" ("*/*", "*/status").
func wildcard(values []string) (string, bool) {
	for _, v := range values {
		if v == "*" || strings.HasPrefix(v, "*/") {
			return v, true
		}
	}
	return "", false
}

// describeCriticalMatches: "leases.coordination.k8s.io (CREATE, UPDATE), nodes/status (UPDATE)".
func describeCriticalMatches(hit []CriticalMatch) string {
	parts := make([]string, len(hit))
	for i, m := range hit {
		parts[i] = fmt.Sprintf("%s (%s)", m.Resource, strings.Join(m.Operations, ", "))
	}
	return strings.Join(parts, ", ")
}

// criticalSummary is the critical table in one line for the rules guide:
// "CREATE/UPDATE of leases.coordination.k8s.io, ...".
func criticalSummary() string {
	parts := make([]string, len(criticalResources))
	for i, c := range criticalResources {
		parts[i] = fmt.Sprintf("%s of `%s`", strings.Join(c.Operations, "/"), c)
	}
	return strings.Join(parts, ", ")
}

// Backend is what the API says about a webhook's service before the hook is
// registered.
type Backend struct {
	ServiceFound   bool
	Slices         int // EndpointSlices labelled with the service's name
	Endpoints      int
	ReadyEndpoints int // endpoints whose ready condition is true or unset
}

// CheckBackendReady is WEBHOOK_BACKEND_NOT_READY for webhook i, run at apply
// when require_ready_backend is set and the webhook calls a service.
func CheckBackendReady(i int, w Webhook, b Backend) []Finding {
	if w.Service == nil || b.ServiceFound && b.ReadyEndpoints > 0 {
		return nil
	}
	ns, name := w.Service.Namespace, w.Service.Name
	p := Path{"webhook", i, "require_ready_backend"}
	const advice = "Deploy the backend first (depends_on), or set require_ready_backend = false to register the hook anyway."
	if !b.ServiceFound {
		return []Finding{finding(RuleWebhookBackendNotReady, p,
			"webhook %q: service %s/%s does not exist, so every request the hook matches would fail to reach its backend. "+
				"Check it with: kubectl -n %s get service %s. %s", w.Name, ns, name, ns, name, advice)}
	}
	return []Finding{finding(RuleWebhookBackendNotReady, p,
		"webhook %q: service %s/%s has no ready endpoints (%d of %d ready in %d EndpointSlices), so every request the hook matches "+
			"would fail to reach its backend. Check it with: kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s. %s",
		w.Name, ns, name, b.ReadyEndpoints, b.Endpoints, b.Slices, ns, name, advice)}
}

// CAInjectorAnnotations are the annotations of a webhook configuration by
// which cert-manager's cainjector fills in (and rotates) every webhook's
// caBundle: from a Certificate, from a Secret, or with the API server's
// own CA.
var CAInjectorAnnotations = []string{
	"cert-manager.io/inject-ca-from",
	"cert-manager.io/inject-ca-from-secret",
	"cert-manager.io/inject-apiserver-ca",
}

// CAInjected reports whether annotations ask a CA injector to fill in the
// webhooks' caBundle.
func CAInjected(annotations map[string]string) bool {
	for _, a := range CAInjectorAnnotations {
		if strings.TrimSpace(annotations[a]) != "" {
			return true
		}
	}
	return false
}
