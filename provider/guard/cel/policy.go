package cel

import (
	"fmt"
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

// Labels on every policy and binding; the resource finds its objects by
// them (read, drift, destroy).
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "k8sguard"
	SetLabel       = "k8sguard.io/guardrails" // the resource's name
	RuleLabel      = "k8sguard.io/rule"
)

// Options are the choices of one k8sguard_admission_guardrails.
type Options struct {
	Name    string            // names the set; policies are "<name>-<rule-id>"
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

// Policy is one rule's policy and binding.
type Policy struct {
	RuleID  string
	Action  Action
	Policy  *admv1.ValidatingAdmissionPolicy
	Binding *admv1.ValidatingAdmissionPolicyBinding
}

// ObjectName is the policy (and binding) name of rule id in set name:
// "k8sguard-webhook-wildcard-rule".
func ObjectName(set, id string) string {
	return set + "-" + strings.ReplaceAll(strings.ToLower(id), "_", "-")
}

// Policies renders every guardrail as a policy and its binding.
func Policies(o Options) []Policy {
	var out []Policy
	for _, g := range Guardrails(o.Settings) {
		action, ok := o.Actions[g.RuleID]
		if !ok {
			action = DefaultAction(g.RuleID)
		}
		out = append(out, Policy{RuleID: g.RuleID, Action: action, Policy: policy(o, g), Binding: binding(o, g, action)})
	}
	return out
}

func labels(o Options, id string) map[string]string {
	return map[string]string{ManagedByLabel: ManagedBy, SetLabel: o.Name, RuleLabel: id}
}

// NotDeletingCondition keeps the guardrails off objects being deleted, so
// a finalizer can always be removed from an object that breaks a rule.
const NotDeletingCondition = "!has(object.metadata.deletionTimestamp)"

// WaiverCondition is guard.WaivedByAnnotation, negated, for rule id.
func WaiverCondition(id string) string {
	return fmt.Sprintf(`object.metadata.?annotations.orValue({})[?%s].orValue("").trim() == ""`, lit(guard.WaiverAnnotationPrefix+id))
}

func policy(o Options, g Guardrail) *admv1.ValidatingAdmissionPolicy {
	ignore := admv1.Ignore // a broken expression must never become the outage
	conds := []admv1.MatchCondition{{Name: "not-deleting", Expression: NotDeletingCondition}}
	if r, _ := guard.Lookup(g.RuleID); r.Waivable {
		conds = append(conds, admv1.MatchCondition{Name: "not-waived", Expression: WaiverCondition(g.RuleID)})
	}
	var validations []admv1.Validation
	for _, v := range g.Validations {
		validations = append(validations, admv1.Validation{Expression: v.Expression, MessageExpression: v.MessageExpression})
	}
	scope := admv1.ClusterScope
	if g.Namespaced {
		scope = admv1.NamespacedScope
	}
	return &admv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(o.Name, g.RuleID), Labels: labels(o, g.RuleID)},
		Spec: admv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &ignore,
			MatchConstraints: &admv1.MatchResources{ResourceRules: []admv1.NamedRuleWithOperations{{
				RuleWithOperations: admv1.RuleWithOperations{
					Operations: []admv1.OperationType{admv1.Create, admv1.Update},
					Rule:       admv1.Rule{APIGroups: []string{g.Group}, APIVersions: []string{"*"}, Resources: g.Resources, Scope: &scope},
				},
			}}},
			MatchConditions: conds,
			Validations:     validations,
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

func binding(o Options, g Guardrail, a Action) *admv1.ValidatingAdmissionPolicyBinding {
	name := ObjectName(o.Name, g.RuleID)
	return &admv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels(o, g.RuleID)},
		Spec: admv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: ValidationActions(a),
			MatchResources:    &admv1.MatchResources{NamespaceSelector: NamespaceSelector(o)},
		},
	}
}
