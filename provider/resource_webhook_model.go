package provider

import (
	"context"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// The Terraform model of k8sguard_validating_webhook and
// k8sguard_mutating_webhook, and its three translations: to the rules'
// input (guard.Webhook), to the API object, and back from the API object.

type webhookConfigurationModel[W any] struct {
	ID       types.String `tfsdk:"id"`
	Name     types.String `tfsdk:"name"`
	Webhooks []W          `tfsdk:"webhook"`
	Waivers  types.Map    `tfsdk:"waivers"`
	Findings types.List   `tfsdk:"findings"`
}

// webhookModel is one webhook block; the validating resource uses it as is.
type webhookModel struct {
	Name                       types.String     `tfsdk:"name"`
	URL                        types.String     `tfsdk:"url"`
	CABundle                   types.String     `tfsdk:"ca_bundle"`
	Service                    []serviceModel   `tfsdk:"service"`
	Rules                      []ruleModel      `tfsdk:"rule"`
	NamespaceSelector          []selectorModel  `tfsdk:"namespace_selector"`
	ObjectSelector             []selectorModel  `tfsdk:"object_selector"`
	MatchConditions            []matchCondModel `tfsdk:"match_condition"`
	FailurePolicy              types.String     `tfsdk:"failure_policy"`
	TimeoutSeconds             types.Int64      `tfsdk:"timeout_seconds"`
	SideEffects                types.String     `tfsdk:"side_effects"`
	MatchPolicy                types.String     `tfsdk:"match_policy"`
	AdmissionReviewVersions    types.List       `tfsdk:"admission_review_versions"`
	RequireReadyBackend        types.Bool       `tfsdk:"require_ready_backend"`
	EffectiveNamespaceSelector types.String     `tfsdk:"effective_namespace_selector"`
}

// mutatingWebhookModel adds the one field only mutating webhooks have.
type mutatingWebhookModel struct {
	webhookModel
	ReinvocationPolicy types.String `tfsdk:"reinvocation_policy"`
}

// webhookEntry is what the shared implementation needs of either model.
type webhookEntry[W any] interface {
	*W
	common() *webhookModel
}

func (m *webhookModel) common() *webhookModel { return m }

type serviceModel struct {
	Namespace types.String `tfsdk:"namespace"`
	Name      types.String `tfsdk:"name"`
	Path      types.String `tfsdk:"path"`
	Port      types.Int64  `tfsdk:"port"`
}

type ruleModel struct {
	APIGroups   types.List   `tfsdk:"api_groups"`
	APIVersions types.List   `tfsdk:"api_versions"`
	Resources   types.List   `tfsdk:"resources"`
	Operations  types.List   `tfsdk:"operations"`
	Scope       types.String `tfsdk:"scope"`
}

type selectorModel struct {
	MatchLabels      types.Map          `tfsdk:"match_labels"`
	MatchExpressions []requirementModel `tfsdk:"match_expressions"`
}

type requirementModel struct {
	Key      types.String `tfsdk:"key"`
	Operator types.String `tfsdk:"operator"`
	Values   types.List   `tfsdk:"values"`
}

type matchCondModel struct {
	Name       types.String `tfsdk:"name"`
	Expression types.String `tfsdk:"expression"`
}

// stringsOf reads a list of strings; ok is false when the list (or an
// element) is not known yet.
func stringsOf(ctx context.Context, l types.List, diags *diag.Diagnostics) (out []string, ok bool) {
	if l.IsUnknown() {
		return nil, false
	}
	if l.IsNull() {
		return nil, true
	}
	for _, e := range l.Elements() {
		if e.IsUnknown() {
			return nil, false
		}
	}
	diags.Append(l.ElementsAs(ctx, &out, false)...)
	return out, true
}

func stringList(values []string) types.List {
	elems := make([]types.String, len(values))
	for i, v := range values {
		elems[i] = types.StringValue(v)
	}
	l, _ := types.ListValueFrom(context.Background(), types.StringType, elems)
	return l
}

// guardSelector turns a selector block (zero or one) into the rules' form.
func guardSelector(ctx context.Context, blocks []selectorModel, diags *diag.Diagnostics) guard.Selector {
	var s guard.Selector
	if len(blocks) == 0 {
		return s
	}
	b := blocks[0]
	if b.MatchLabels.IsUnknown() {
		s.Unknown = true
	} else if !b.MatchLabels.IsNull() {
		for _, v := range b.MatchLabels.Elements() {
			if v.IsUnknown() {
				s.Unknown = true
			}
		}
		if !s.Unknown {
			diags.Append(b.MatchLabels.ElementsAs(ctx, &s.MatchLabels, false)...)
		}
	}
	for _, e := range b.MatchExpressions {
		values, ok := stringsOf(ctx, e.Values, diags)
		if e.Key.IsUnknown() || e.Operator.IsUnknown() || !ok {
			s.Unknown = true
			continue
		}
		s.MatchExpressions = append(s.MatchExpressions, guard.Requirement{Key: e.Key.ValueString(), Operator: e.Operator.ValueString(), Values: values})
	}
	return s
}

// guardWebhook is what the rules see of a webhook block; values not known
// until apply stay zero (see guard.Webhook).
func guardWebhook(ctx context.Context, m *webhookModel, diags *diag.Diagnostics) guard.Webhook {
	w := guard.Webhook{
		Name:              m.Name.ValueString(),
		URL:               m.URL.ValueString(),
		HasCABundle:       !m.CABundle.IsNull(),
		NamespaceSelector: guardSelector(ctx, m.NamespaceSelector, diags),
		ObjectSelector:    guardSelector(ctx, m.ObjectSelector, diags),
		MatchConditions:   len(m.MatchConditions),
		FailurePolicy:     m.FailurePolicy.ValueString(),
		TimeoutSeconds:    m.TimeoutSeconds.ValueInt64(),
		SideEffects:       m.SideEffects.ValueString(),
	}
	if len(m.Service) > 0 {
		w.Service = &guard.WebhookService{Namespace: m.Service[0].Namespace.ValueString(), Name: m.Service[0].Name.ValueString()}
	}
	for _, r := range m.Rules {
		groups, _ := stringsOf(ctx, r.APIGroups, diags)
		versions, _ := stringsOf(ctx, r.APIVersions, diags)
		resources, _ := stringsOf(ctx, r.Resources, diags)
		operations, _ := stringsOf(ctx, r.Operations, diags)
		w.Rules = append(w.Rules, guard.WebhookRule{APIGroups: groups, APIVersions: versions, Resources: resources, Operations: operations, Scope: r.Scope.ValueString()})
	}
	return w
}

// labelSelector is the API form of a selector; nil for an empty one.
func labelSelector(s guard.Selector) *metav1.LabelSelector {
	if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		return nil
	}
	ls := &metav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, r := range s.MatchExpressions {
		ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: r.Key, Operator: metav1.LabelSelectorOperator(r.Operator), Values: r.Values,
		})
	}
	return ls
}

// formatSelector is the effective selector as kubectl writes it.
func formatSelector(s guard.Selector) string {
	ls := labelSelector(s)
	if ls == nil {
		return ""
	}
	return metav1.FormatLabelSelector(ls)
}

func selectorFromAPI(ls *metav1.LabelSelector) guard.Selector {
	var s guard.Selector
	if ls == nil {
		return s
	}
	if len(ls.MatchLabels) > 0 {
		s.MatchLabels = ls.MatchLabels
	}
	for _, r := range ls.MatchExpressions {
		s.MatchExpressions = append(s.MatchExpressions, guard.Requirement{Key: r.Key, Operator: string(r.Operator), Values: r.Values})
	}
	return s
}

// selectorBlocks is the Terraform form of a selector: no block when empty.
func selectorBlocks(s guard.Selector) []selectorModel {
	if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		return []selectorModel{}
	}
	b := selectorModel{MatchLabels: types.MapNull(types.StringType), MatchExpressions: []requirementModel{}}
	if len(s.MatchLabels) > 0 {
		b.MatchLabels, _ = types.MapValueFrom(context.Background(), types.StringType, s.MatchLabels)
	}
	for _, r := range s.MatchExpressions {
		values := types.ListNull(types.StringType)
		if len(r.Values) > 0 {
			values = stringList(r.Values)
		}
		b.MatchExpressions = append(b.MatchExpressions, requirementModel{Key: types.StringValue(r.Key), Operator: types.StringValue(r.Operator), Values: values})
	}
	return []selectorModel{b}
}

// withoutExclusion removes the expression the provider appends (see
// guard.EffectiveNamespaceSelector) when it is intact, so what remains is
// what the user wrote. A tampered exclusion stays and shows as a diff.
func withoutExclusion(s guard.Selector, exclusion guard.Requirement) guard.Selector {
	n := len(s.MatchExpressions)
	if n == 0 {
		return s
	}
	last := s.MatchExpressions[n-1]
	if last.Key == exclusion.Key && last.Operator == exclusion.Operator && slices.Equal(last.Values, exclusion.Values) {
		s.MatchExpressions = s.MatchExpressions[:n-1]
	}
	return s
}

// apiWebhook builds the API form of a planned webhook (all values known).
// Both kinds are built as a ValidatingWebhook: the mutating one only adds
// its reinvocation policy (see toMutating).
func apiWebhook(ctx context.Context, m *webhookModel, settings guard.Settings, diags *diag.Diagnostics) admissionv1.ValidatingWebhook {
	gw := guardWebhook(ctx, m, diags)
	failure := admissionv1.FailurePolicyType(m.FailurePolicy.ValueString())
	match := admissionv1.MatchPolicyType(m.MatchPolicy.ValueString())
	side := admissionv1.SideEffectClass(m.SideEffects.ValueString())
	timeout := int32(m.TimeoutSeconds.ValueInt64())
	versions, _ := stringsOf(ctx, m.AdmissionReviewVersions, diags)
	w := admissionv1.ValidatingWebhook{
		Name:                    m.Name.ValueString(),
		FailurePolicy:           &failure,
		MatchPolicy:             &match,
		SideEffects:             &side,
		TimeoutSeconds:          &timeout,
		AdmissionReviewVersions: versions,
		NamespaceSelector:       labelSelector(guard.EffectiveNamespaceSelector(gw, settings)),
		ObjectSelector:          labelSelector(gw.ObjectSelector),
	}
	if !m.CABundle.IsNull() {
		w.ClientConfig.CABundle = []byte(m.CABundle.ValueString())
	}
	if !m.URL.IsNull() {
		u := m.URL.ValueString()
		w.ClientConfig.URL = &u
	}
	if len(m.Service) > 0 {
		s := m.Service[0]
		port := int32(s.Port.ValueInt64())
		w.ClientConfig.Service = &admissionv1.ServiceReference{Namespace: s.Namespace.ValueString(), Name: s.Name.ValueString(), Port: &port}
		if !s.Path.IsNull() {
			p := s.Path.ValueString()
			w.ClientConfig.Service.Path = &p
		}
	}
	for _, r := range gw.Rules {
		ops := make([]admissionv1.OperationType, len(r.Operations))
		for i, o := range r.Operations {
			ops[i] = admissionv1.OperationType(o)
		}
		scope := admissionv1.ScopeType(r.Scope)
		w.Rules = append(w.Rules, admissionv1.RuleWithOperations{
			Operations: ops,
			Rule:       admissionv1.Rule{APIGroups: r.APIGroups, APIVersions: r.APIVersions, Resources: r.Resources, Scope: &scope},
		})
	}
	for _, c := range m.MatchConditions {
		w.MatchConditions = append(w.MatchConditions, admissionv1.MatchCondition{Name: c.Name.ValueString(), Expression: c.Expression.ValueString()})
	}
	return w
}

// webhookFromAPI is the Terraform form of a live webhook. prior is the
// webhook's previous state (nil on import): it keeps what the API does not
// hold (require_ready_backend), and whether ca_bundle is managed.
func webhookFromAPI(w admissionv1.ValidatingWebhook, prior *webhookModel, settings guard.Settings) webhookModel {
	m := webhookModel{
		Name:                    types.StringValue(w.Name),
		URL:                     types.StringPointerValue(w.ClientConfig.URL),
		CABundle:                types.StringNull(),
		Service:                 []serviceModel{},
		Rules:                   []ruleModel{},
		MatchConditions:         []matchCondModel{},
		FailurePolicy:           types.StringValue(string(deref(w.FailurePolicy))),
		TimeoutSeconds:          types.Int64Value(int64(deref(w.TimeoutSeconds))),
		SideEffects:             types.StringValue(string(deref(w.SideEffects))),
		MatchPolicy:             types.StringValue(string(deref(w.MatchPolicy))),
		AdmissionReviewVersions: stringList(w.AdmissionReviewVersions),
		ObjectSelector:          selectorBlocks(selectorFromAPI(w.ObjectSelector)),
	}
	// A CA bundle the configuration leaves unset is another actor's (cert-manager's
	// cainjector): it stays out of the state, so it is no diff.
	if len(w.ClientConfig.CABundle) > 0 && (prior == nil || !prior.CABundle.IsNull()) {
		m.CABundle = types.StringValue(string(w.ClientConfig.CABundle))
	}
	gw := guard.Webhook{Name: w.Name}
	if s := w.ClientConfig.Service; s != nil {
		m.Service = []serviceModel{{
			Namespace: types.StringValue(s.Namespace), Name: types.StringValue(s.Name),
			Path: types.StringPointerValue(s.Path), Port: types.Int64Value(int64(deref(s.Port))),
		}}
		gw.Service = &guard.WebhookService{Namespace: s.Namespace, Name: s.Name}
	}
	for _, r := range w.Rules {
		ops := make([]string, len(r.Operations))
		for i, o := range r.Operations {
			ops[i] = string(o)
		}
		m.Rules = append(m.Rules, ruleModel{
			APIGroups: stringList(r.APIGroups), APIVersions: stringList(r.APIVersions),
			Resources: stringList(r.Resources), Operations: stringList(ops),
			Scope: types.StringValue(string(deref(r.Scope))),
		})
	}
	for _, c := range w.MatchConditions {
		m.MatchConditions = append(m.MatchConditions, matchCondModel{Name: types.StringValue(c.Name), Expression: types.StringValue(c.Expression)})
	}
	live := selectorFromAPI(w.NamespaceSelector)
	m.EffectiveNamespaceSelector = types.StringValue(formatSelector(live))
	m.NamespaceSelector = selectorBlocks(withoutExclusion(live, guard.ExclusionRequirement(gw, settings)))
	if prior != nil && !prior.RequireReadyBackend.IsNull() && !prior.RequireReadyBackend.IsUnknown() {
		m.RequireReadyBackend = prior.RequireReadyBackend
	} else {
		m.RequireReadyBackend = types.BoolValue(defaultRequireReadyBackend(m.FailurePolicy.ValueString()))
	}
	return m
}

// defaultRequireReadyBackend: a hook that fails closed must not be
// registered before its backend can answer.
func defaultRequireReadyBackend(failurePolicy string) bool { return failurePolicy == "Fail" }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// toMutating and fromMutating convert between the two kinds, which share
// every field but the mutating webhook's reinvocation policy.
func toMutating(w admissionv1.ValidatingWebhook, reinvocation string) admissionv1.MutatingWebhook {
	r := admissionv1.ReinvocationPolicyType(reinvocation)
	return admissionv1.MutatingWebhook{
		Name: w.Name, ClientConfig: w.ClientConfig, Rules: w.Rules, FailurePolicy: w.FailurePolicy, MatchPolicy: w.MatchPolicy,
		NamespaceSelector: w.NamespaceSelector, ObjectSelector: w.ObjectSelector, SideEffects: w.SideEffects,
		TimeoutSeconds: w.TimeoutSeconds, AdmissionReviewVersions: w.AdmissionReviewVersions, MatchConditions: w.MatchConditions,
		ReinvocationPolicy: &r,
	}
}

func fromMutating(w admissionv1.MutatingWebhook) (admissionv1.ValidatingWebhook, string) {
	return admissionv1.ValidatingWebhook{
		Name: w.Name, ClientConfig: w.ClientConfig, Rules: w.Rules, FailurePolicy: w.FailurePolicy, MatchPolicy: w.MatchPolicy,
		NamespaceSelector: w.NamespaceSelector, ObjectSelector: w.ObjectSelector, SideEffects: w.SideEffects,
		TimeoutSeconds: w.TimeoutSeconds, AdmissionReviewVersions: w.AdmissionReviewVersions, MatchConditions: w.MatchConditions,
	}, string(deref(w.ReinvocationPolicy))
}
