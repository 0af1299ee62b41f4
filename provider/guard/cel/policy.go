package cel

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	admv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// Action is what the API server does with an object a guardrail refuses:
// the binding's validationActions.
type Action string

const (
	Deny  Action = "deny"  // the request fails with the rule's message
	Warn  Action = "warn"  // admitted; the client shows the message as a Warning
	Audit Action = "audit" // admitted; the message goes to the audit log only
)

// Actions lists the actions in the order the docs name them.
var Actions = []Action{Deny, Warn, Audit}

// DefaultAction is deny for the rules that keep the control plane alive
// (guard severity error) and warn for workload hygiene (severity warning).
func DefaultAction(id string) Action {
	if r, ok := guard.Lookup(id); ok && r.Severity == guard.Error {
		return Deny
	}
	return Warn
}

// Labels and annotations on every policy and binding; the resource finds
// its objects by the labels (read, drift, destroy).
const (
	ManagedByLabel  = "app.kubernetes.io/managed-by"
	ManagedBy       = "k8sguard"
	SetLabel        = "k8sguard.io/guardrails" // the resource's name
	RulesAnnotation = "k8sguard.io/rules"      // the rule IDs a policy enforces, comma-separated
)

// Options are the choices of one k8sguard_admission_guardrails.
type Options struct {
	Name    string            // names the set; policies are "<name>-<target>-<action>"
	Actions map[string]Action // per rule ID; missing rules take DefaultAction
	// ProtectedNamespaces are never matched (the provider's setting).
	ProtectedNamespaces []string
	// ExemptNamespaceLabels exempt every namespace carrying one of these
	// label values.
	ExemptNamespaceLabels map[string]string
	// Namespaces, when set, limits the namespaced rules to these.
	Namespaces []string
	Settings   guard.Settings
}

// Policy is one policy and its binding: the rules of one target (webhook
// configurations, CronJobs, Services, workloads) that share an action.
//
// A denied request reports only the first denying validation, so the deny
// policy of a target has one validation that fails with the diagnostics of
// every rule the object breaks, joined: kubectl shows them all at once, as
// the plan does. Warn and audit policies keep one validation per rule, so
// each rule is its own Warning. Every policy has one match condition,
// BreaksCondition, which lets through only the objects that break one of
// its rules (see policy).
type Policy struct {
	Name    string
	Action  Action
	RuleIDs []string
	Policy  *admv1.ValidatingAdmissionPolicy
	Binding *admv1.ValidatingAdmissionPolicyBinding
}

// PolicyName is the policy (and binding) name of a target's rules with
// one action: "k8sguard-webhooks-deny".
func PolicyName(set, target string, a Action) string {
	return set + "-" + target + "-" + string(a)
}

// Policies renders the guardrails as policies and bindings, grouped by
// target then action, in catalogue order.
func Policies(o Options) []Policy {
	var out []Policy
	index := map[string]int{}
	groups := map[string][]Guardrail{}
	for _, g := range Guardrails(o.Settings) {
		action, ok := o.Actions[g.RuleID]
		if !ok {
			action = DefaultAction(g.RuleID)
		}
		if g.WarnAtMost && action == Deny {
			action = Warn
		}
		name := PolicyName(o.Name, g.Target, action)
		if _, seen := index[name]; !seen {
			index[name] = len(out)
			out = append(out, Policy{Name: name, Action: action})
		}
		groups[name] = append(groups[name], g)
		out[index[name]].RuleIDs = append(out[index[name]].RuleIDs, g.RuleID)
	}
	for i, p := range out {
		out[i].Policy = policy(o, p, groups[p.Name])
		out[i].Binding = binding(o, p)
	}
	return out
}

func meta(o Options, p Policy) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        p.Name,
		Labels:      map[string]string{ManagedByLabel: ManagedBy, SetLabel: o.Name},
		Annotations: map[string]string{RulesAnnotation: strings.Join(p.RuleIDs, ",")},
	}
}

// DeletingExpression holds for an object being deleted: no policy judges
// it, so a finalizer can always be removed from an object that breaks a
// rule.
const DeletingExpression = "has(object.metadata.deletionTimestamp)"

// BreaksCondition names the match condition of every policy: the object
// breaks one of the policy's rules (not waived) and is not being deleted.
const BreaksCondition = "breaks-a-rule"

// WaivedExpression is guard.WaivedByAnnotation for rule id.
func WaivedExpression(id string) string {
	return fmt.Sprintf(`object.metadata.?annotations.orValue({})[?%s].orValue("").trim() != ""`, lit(guard.WaiverAnnotationPrefix+id))
}

// holds is the condition that rule g holds for the request: the object
// passes, or a waivable rule is waived by its annotation; or, on an UPDATE,
// the object already broke the rule before it. That is ratcheting, as the
// API server does for its own validation when it tightens a field: an
// object made before the guardrails (or before a rule was tightened) can
// still be changed, its certificate rotated, a CronJob suspended, an owner
// reference removed by the garbage collector, and only a change that breaks
// a rule the object kept is refused. The check of the object comes first:
// CEL stops at the first true operand of ||, so an object that passes never
// looks up its waiver or its old self.
func holds(g Guardrail) string {
	return "(" + passes(g, "object") + ` || request.operation == "UPDATE" && !` + passes(g, "oldObject") + ")"
}

// objectVariable is the CEL variable the rules judge, as a whole word.
var objectVariable = regexp.MustCompile(`\bobject\b`)

// passes is rule g's check (or its waiver) on the object in variable v
// ("object", or "oldObject" on an UPDATE).
func passes(g Guardrail, v string) string {
	expr := g.Check.Expression
	if r, _ := guard.Lookup(g.RuleID); r.Waivable {
		expr += " || " + WaivedExpression(g.RuleID)
	}
	return "(" + objectVariable.ReplaceAllString(expr, v) + ")"
}

// policy renders one policy. Its match condition judges every rule first,
// and only an object that breaks one reaches the validations: the API
// server converts the object to CEL values once per expression set it
// evaluates (match conditions, validations, audit annotations, messages,
// which it evaluates even for validations that pass), so an object that
// breaks nothing (nearly every write) costs one conversion and the checks,
// instead of three conversions, the checks and every message. An object
// that breaks a rule pays a fourth conversion and the checks twice, on the
// way to its Warning or denial. Behaviour is the same: CEL's || and &&
// absorb an error when the other side decides, and with failurePolicy
// Ignore an error in the match condition admits, as one in a validation
// does.
func policy(o Options, p Policy, gs []Guardrail) *admv1.ValidatingAdmissionPolicy {
	ignore := admv1.Ignore // a broken expression must never become the outage

	var all []string // all[i]: rule gs[i] holds
	for _, g := range gs {
		all = append(all, holds(g))
	}
	// messages[i] is rule gs[i]'s message, or "" where the rule holds: the
	// API server evaluates every message expression of a policy whose match
	// condition holds, also where the validation passes, and a message
	// names the first offender ([0] of a filter), an error on an object
	// that has none. The error is dropped unseen, but its cost is paid on
	// each such request; guarded, the message of a rule that holds is "".
	var messages []string
	for i, g := range gs {
		messages = append(messages, all[i]+` ? "" : `+g.Check.MessageExpression)
	}
	var validations []admv1.Validation
	if p.Action == Deny {
		validations = []admv1.Validation{{
			Expression:        strings.Join(all, " && "),
			MessageExpression: "[" + strings.Join(messages, ", ") + `].filter(m, m != "").join(" ")`,
		}}
	} else {
		for i := range gs {
			validations = append(validations, admv1.Validation{Expression: all[i], MessageExpression: messages[i]})
		}
	}
	g := gs[0] // a target's guardrails share what they match
	scope := admv1.ClusterScope
	if g.Namespaced {
		scope = admv1.NamespacedScope
	}
	return &admv1.ValidatingAdmissionPolicy{
		ObjectMeta: meta(o, p),
		Spec: admv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &ignore,
			MatchConstraints: &admv1.MatchResources{ResourceRules: []admv1.NamedRuleWithOperations{{
				RuleWithOperations: admv1.RuleWithOperations{
					Operations: []admv1.OperationType{admv1.Create, admv1.Update},
					Rule:       admv1.Rule{APIGroups: []string{g.Group}, APIVersions: []string{"*"}, Resources: g.Resources, Scope: &scope},
				},
			}}},
			MatchConditions: []admv1.MatchCondition{{
				Name:       BreaksCondition,
				Expression: "!" + DeletingExpression + " && !(" + strings.Join(all, " && ") + ")",
			}},
			Validations: validations,
		},
	}
}

// NamespaceSelector is the binding's namespace selector: never a protected
// namespace, never one with an exempt label, only the listed ones when
// Namespaces is set. (The API server ignores it for cluster-scoped objects.)
func NamespaceSelector(o Options) *metav1.LabelSelector {
	sel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: guard.NamespaceNameLabel, Operator: metav1.LabelSelectorOpNotIn, Values: append([]string(nil), o.ProtectedNamespaces...),
	}}}
	if len(o.Namespaces) > 0 {
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: guard.NamespaceNameLabel, Operator: metav1.LabelSelectorOpIn, Values: append([]string(nil), o.Namespaces...),
		})
	}
	keys := make([]string, 0, len(o.ExemptNamespaceLabels))
	for k := range o.ExemptNamespaceLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: k, Operator: metav1.LabelSelectorOpNotIn, Values: []string{o.ExemptNamespaceLabels[k]},
		})
	}
	return sel
}

// ValidationActions maps an action to the binding's validationActions.
func ValidationActions(a Action) []admv1.ValidationAction {
	switch a {
	case Warn:
		return []admv1.ValidationAction{admv1.Warn}
	case Audit:
		return []admv1.ValidationAction{admv1.Audit}
	default:
		return []admv1.ValidationAction{admv1.Deny}
	}
}

func binding(o Options, p Policy) *admv1.ValidatingAdmissionPolicyBinding {
	return &admv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: meta(o, p),
		Spec: admv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        p.Name,
			ValidationActions: ValidationActions(p.Action),
			MatchResources:    &admv1.MatchResources{NamespaceSelector: NamespaceSelector(o)},
		},
	}
}
