package guard

import (
	"slices"
	"sort"
	"strings"
)

// Rules of k8sguard_admission_guardrails itself: the guardrails must never
// become the outage they are there to prevent.
const (
	RuleGuardrailsProtectedNamespace = "GUARDRAILS_PROTECTED_NAMESPACE"
	RuleGuardrailsInvalidAction      = "GUARDRAILS_INVALID_ACTION"
)

var _ = register(
	Rule{ID: RuleGuardrailsProtectedNamespace, Family: "guardrails", Severity: Error, Waivable: false, Story: storyJetstack, UsesSettings: true,
		Checks: "`namespaces` names no protected namespace: the guardrails never deny or warn on the control plane's own writes"},
	Rule{ID: RuleGuardrailsInvalidAction, Family: "guardrails", Severity: Error, Waivable: false, Story: storyJetstack,
		Checks: "every key of `actions` is a rule the API server enforces, and every value is `deny`, `warn` or `audit`"},
)

// GuardrailActions are the actions a guardrail can take.
var GuardrailActions = []string{"deny", "warn", "audit"}

// Guardrails is a k8sguard_admission_guardrails as the rules see it.
type Guardrails struct {
	Namespaces []string
	Actions    map[string]string // rule ID → action, as configured
}

// CheckGuardrails runs the guardrails' own rules.
func CheckGuardrails(g Guardrails, s Settings) []Finding {
	var out []Finding
	for i, ns := range g.Namespaces {
		if slices.Contains(s.ProtectedNamespaces, ns) {
			out = append(out, finding(RuleGuardrailsProtectedNamespace, Path{"namespaces", i},
				"namespaces[%d] = %q is a protected namespace: a guardrail there could deny the control plane's own writes, as the OPA webhook "+
					"denied the kube-system ConfigMap update that stalled the Jetstack upgrade. The guardrails always leave %s alone; remove it.",
				i, ns, strings.Join(s.ProtectedNamespaces, ", ")))
		}
	}
	ids := make([]string, 0, len(g.Actions))
	for id := range g.Actions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := Path{"actions", MapKey(id)}
		r, ok := catalog[id]
		switch {
		case !ok || !r.Enforced.Has(AtAPIServer):
			out = append(out, finding(RuleGuardrailsInvalidAction, p,
				"%q is not a rule the API server enforces: the guardrails enforce %s.", id, strings.Join(APIServerRules(), ", ")))
		case !slices.Contains(GuardrailActions, g.Actions[id]):
			out = append(out, finding(RuleGuardrailsInvalidAction, p,
				"action %q for %s: use deny (refuse the request), warn (admit it with a Warning the client shows) or audit (admit it, record the message in the audit log).",
				g.Actions[id], id))
		}
	}
	return out
}

// APIServerRules lists the IDs of the rules enforced at the API server, in
// catalogue order.
func APIServerRules() []string {
	var out []string
	for _, r := range Rules() {
		if r.Enforced.Has(AtAPIServer) {
			out = append(out, r.ID)
		}
	}
	return out
}
