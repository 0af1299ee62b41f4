package cel

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	celgo "github.com/google/cel-go/cel"
	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	"github.com/k8sguard/k8sguard/provider/guard"
	"github.com/k8sguard/k8sguard/provider/guard/guardtest"
	"github.com/k8sguard/k8sguard/provider/guard/live"
)

var testSettings = guard.Settings{
	ProtectedNamespaces:      []string{"kube-system", "kube-public", "kube-node-lease"},
	MaxWebhookTimeoutSeconds: 5,
}

// resourceOf is the resource a typed object is admitted as, and its kind.
func resourceOf(t *testing.T, obj any) (resource, kind, namespace string) {
	switch o := obj.(type) {
	case *admv1.ValidatingWebhookConfiguration:
		return "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", ""
	case *admv1.MutatingWebhookConfiguration:
		return "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", ""
	case *batchv1.CronJob:
		return "cronjobs", "CronJob", o.Namespace
	case *corev1.Service:
		return "services", "Service", o.Namespace
	case *appsv1.Deployment:
		return "deployments", "Deployment", o.Namespace
	case *appsv1.StatefulSet:
		return "statefulsets", "StatefulSet", o.Namespace
	}
	t.Fatalf("no resource for %T", obj)
	return "", "", ""
}

// evaluator runs expressions on one object as the API server's CEL does,
// and keeps the largest cost one expression took.
type evaluator struct {
	t       *testing.T
	vars    map[string]any
	maxCost uint64
}

func newEvaluator(t *testing.T, obj any) *evaluator {
	t.Helper()
	_, kind, _ := resourceOf(t, obj)
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u["kind"] = kind
	return &evaluator{t: t, vars: map[string]any{"object": u, "oldObject": nil, "request": map[string]any{"operation": "CREATE"}}}
}

// newUpdateEvaluator is newEvaluator for an UPDATE of old to obj.
func newUpdateEvaluator(t *testing.T, old, obj any) *evaluator {
	t.Helper()
	e, before := newEvaluator(t, obj), newEvaluator(t, old)
	e.vars["oldObject"] = before.vars["object"]
	e.vars["request"] = map[string]any{"operation": "UPDATE"}
	return e
}

func (e *evaluator) eval(expr string, isMessage bool) any {
	e.t.Helper()
	prog, err := cachedProgram(expr, isMessage)
	if err != nil {
		e.t.Fatal(err)
	}
	out, details, err := prog.Eval(e.vars)
	if err != nil {
		e.t.Fatalf("evaluate %.120s...: %v", expr, err)
	}
	if c := details.ActualCost(); c != nil && *c > e.maxCost {
		e.maxCost = *c
	}
	return out.Value()
}

// cost evaluates expr and returns what it cost. The API server
// evaluates a message expression even when its validation holds, so its
// cost counts; it must not fail there (TestMessagesNeverFailOnObjectsThatPass).
func (e *evaluator) cost(expr string, isMessage bool) uint64 {
	e.t.Helper()
	prog, err := cachedProgram(expr, isMessage)
	if err != nil {
		e.t.Fatal(err)
	}
	_, details, err := prog.Eval(e.vars)
	if err != nil {
		e.t.Fatalf("evaluate %.120s...: %v", expr, err)
	}
	if details == nil {
		return 0
	}
	c := details.ActualCost()
	if c == nil {
		return 0
	}
	if *c > e.maxCost {
		e.maxCost = *c
	}
	return *c
}

// applies is whether the API server sends obj to policy p at all: its
// resource rule and the binding's namespace selector (protected
// namespaces).
func applies(t *testing.T, p Policy, obj any) bool {
	resource, _, namespace := resourceOf(t, obj)
	rule := p.Policy.Spec.MatchConstraints.ResourceRules[0]
	if !slices.Contains(rule.Resources, resource) {
		return false
	}
	sel := p.Binding.Spec.MatchResources.NamespaceSelector.MatchExpressions[0]
	return namespace == "" || !slices.Contains(sel.Values, namespace) // NotIn the protected namespaces
}

// matches is whether every match condition of p holds for the object.
func (e *evaluator) matches(p Policy) bool {
	for _, m := range p.Policy.Spec.MatchConditions {
		if e.eval(m.Expression, false) != true {
			return false
		}
	}
	return true
}

// admit evaluates the policies as the API server does for one object:
// binding namespace selector (protected namespaces), match conditions,
// then each validation; it returns the messages of the failing
// validations by policy, and the largest cost one expression took.
func admit(t *testing.T, policies []Policy, obj any) (map[string][]string, uint64) {
	t.Helper()
	return admitWith(t, newEvaluator(t, obj), policies, obj)
}

// admitWith is admit with the evaluator of the request (an UPDATE's).
func admitWith(t *testing.T, e *evaluator, policies []Policy, obj any) (map[string][]string, uint64) {
	t.Helper()
	refused := map[string][]string{}
	for _, p := range policies {
		if !applies(t, p, obj) || !e.matches(p) {
			continue
		}
		for _, v := range p.Policy.Spec.Validations {
			if e.eval(v.Expression, false) != true {
				refused[p.Name] = append(refused[p.Name], e.eval(v.MessageExpression, true).(string))
			}
		}
	}
	return refused, e.maxCost
}

var programs sync.Map // expression → celgo.Program

func cachedProgram(expr string, isMessage bool) (celgo.Program, error) {
	if p, ok := programs.Load(expr); ok {
		return p.(celgo.Program), nil
	}
	p, err := Program(expr, isMessage)
	if err == nil {
		programs.Store(expr, p)
	}
	return p, err
}

// expected is what the policies should say, from guard's findings: a deny
// policy one message joining the diagnostics of its rules that fire, a
// warn or audit policy one message per rule.
func expected(policies []Policy, diags map[string]string) map[string][]string {
	out := map[string][]string{}
	for _, p := range policies {
		var msgs []string
		for _, id := range p.RuleIDs {
			if d, ok := diags[id]; ok {
				msgs = append(msgs, d)
			}
		}
		switch {
		case len(msgs) == 0:
		case p.Action == Deny:
			out[p.Name] = []string{strings.Join(msgs, " ")}
		default:
			out[p.Name] = msgs
		}
	}
	return out
}

// TestGuardrailsAgreeWithGuardOnEveryShape is the in-process differential
// test: the generated CEL, compiled and run by the API server's CEL
// library, refuses exactly what guard refuses on every shape of the
// table, with guard's diagnostic word for word (the first finding of each
// rule, as the plan lists them).
func TestGuardrailsAgreeWithGuardOnEveryShape(t *testing.T) {
	for _, actions := range []map[string]Action{nil, everything(Warn), everything(Deny)} {
		policies := Policies(Options{Name: "k8sguard", Actions: actions, ProtectedNamespaces: testSettings.ProtectedNamespaces, Settings: testSettings})
		for _, s := range guardtest.Shapes() {
			t.Run(fmt.Sprintf("%d policies/%s", len(policies), s.Name), func(t *testing.T) {
				findings, err := live.Check(s.Object, testSettings)
				if err != nil {
					t.Fatal(err)
				}
				diags := map[string]string{}
				for _, f := range findings {
					if _, seen := diags[f.RuleID]; !seen {
						diags[f.RuleID] = f.String()
					}
				}
				if got := sortedKeys(diags); !slices.Equal(got, sortedCopy(s.Rules)) {
					t.Fatalf("guard finds %v, the table says %v", got, sortedCopy(s.Rules))
				}
				got, cost := admit(t, policies, s.Object)
				var sent []Policy // the policies the API server sends the object to
				for _, p := range policies {
					if applies(t, p, s.Object) {
						sent = append(sent, p)
					}
				}
				want := expected(sent, diags)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("CEL says:\n%s\nguard says:\n%s", render(got), render(want))
				}
				if cost > celconfig.PerCallLimit {
					t.Errorf("an expression cost %d, above the API server's per-call limit %d", cost, celconfig.PerCallLimit)
				}
			})
		}
	}
}

// TestMatchConditionPassesOnlyWhatBreaksARule: a policy's match condition
// holds exactly when guard finds one of the policy's rules broken (and not
// waived) on the object. An object that breaks nothing, nearly every
// write, must stop there: the API server then converts it for CEL once and
// evaluates neither validations nor messages. An object that breaks a rule
// must get through, or its denial or Warning would be lost.
func TestMatchConditionPassesOnlyWhatBreaksARule(t *testing.T) {
	for _, actions := range []map[string]Action{nil, everything(Warn), everything(Deny)} {
		policies := Policies(Options{Name: "k8sguard", Actions: actions, ProtectedNamespaces: testSettings.ProtectedNamespaces, Settings: testSettings})
		for _, s := range guardtest.Shapes() {
			e := newEvaluator(t, s.Object)
			for _, p := range policies {
				if !applies(t, p, s.Object) {
					continue
				}
				want := slices.ContainsFunc(s.Rules, func(id string) bool { return slices.Contains(p.RuleIDs, id) })
				if got := e.matches(p); got != want {
					t.Errorf("%s: policy %s: match condition %v, want %v (guard finds %v)", s.Name, p.Name, got, want, s.Rules)
				}
			}
		}
	}
}

// TestObjectsBeingDeletedAreNeverJudged: every shape, even one that breaks
// rules, is admitted once it carries a deletionTimestamp, so a finalizer
// can always be removed.
func TestObjectsBeingDeletedAreNeverJudged(t *testing.T) {
	policies := Policies(Options{Name: "k8sguard", Actions: everything(Deny), ProtectedNamespaces: testSettings.ProtectedNamespaces, Settings: testSettings})
	now := metav1.Now()
	for _, s := range guardtest.Shapes() {
		obj := s.Object.(runtime.Object).DeepCopyObject()
		obj.(metav1.Object).SetDeletionTimestamp(&now)
		if got, _ := admit(t, policies, obj); len(got) > 0 {
			t.Errorf("%s, being deleted: refused with %v", s.Name, got)
		}
	}
}

func everything(a Action) map[string]Action {
	out := map[string]Action{}
	for _, id := range guard.APIServerRules() {
		out[id] = a
	}
	return out
}

// TestGuardrailsCompileForTheOldestAPIServer compiles every expression as
// kube-apiserver 1.30 does when the policy is created.
func TestGuardrailsCompileForTheOldestAPIServer(t *testing.T) {
	for _, p := range Policies(Options{Name: "k8sguard", Settings: testSettings}) {
		for _, err := range Compile(p.Policy) {
			t.Error(err)
		}
	}
}

// TestGuardrailsCoverExactlyTheRulesEnforcedAtTheAPIServer: the catalogue
// says where each rule is enforced; every such rule has a policy.
func TestGuardrailsCoverExactlyTheRulesEnforcedAtTheAPIServer(t *testing.T) {
	var want, got []string
	for _, r := range guard.Rules() {
		if r.Enforced.Has(guard.AtAPIServer) {
			want = append(want, r.ID)
		}
	}
	for _, p := range Policies(Options{Name: "k8sguard", Settings: testSettings}) {
		got = append(got, p.RuleIDs...)
		if p.Policy.Name != p.Binding.Spec.PolicyName {
			t.Errorf("binding %s names policy %s", p.Binding.Name, p.Binding.Spec.PolicyName)
		}
	}
	if got := slices.Compact(sortedCopy(got)); !slices.Equal(got, sortedCopy(want)) {
		t.Fatalf("policies for %v, want %v", got, want)
	}
	for _, id := range want {
		if _, ok := renderers[id]; !ok {
			t.Errorf("no renderer for %s", id)
		}
	}
}

// configurationAtBounds is the largest configuration the guardrails judge:
// guard.MaxJudgedWebhooks webhooks with guard.MaxJudgedWebhookRules rules
// and guard.MaxJudgedRuleEntries entries between them, every webhook
// failing with no opt-in selector, and the last rule a wildcard that also
// reaches leases (so every message is rendered too).
func configurationAtBounds() *admv1.ValidatingWebhookConfiguration {
	const perHook = guard.MaxJudgedWebhookRules / guard.MaxJudgedWebhooks
	const perRule = guard.MaxJudgedRuleEntries / guard.MaxJudgedWebhookRules // entries: groups + 1 version + resources + 2 operations
	var hooks []admv1.ValidatingWebhook
	for i := range guard.MaxJudgedWebhooks {
		w := guardtest.Webhook(fmt.Sprintf("h%d.example.com", i), guardtest.Rule(nil, nil, admv1.NamespacedScope))
		w.FailurePolicy = ptrTo(admv1.Fail)
		w.Rules = nil
		for j := range perHook {
			var groups, resources []string
			for k := range (perRule - 3) / 2 {
				groups = append(groups, fmt.Sprintf("g%d.example.com", k))
			}
			for k := len(groups); k < perRule-3; k++ {
				resources = append(resources, fmt.Sprintf("r%d-%d", j, k))
			}
			w.Rules = append(w.Rules, guardtest.Rule(groups, resources, admv1.NamespacedScope))
		}
		hooks = append(hooks, w)
	}
	last := &hooks[len(hooks)-1].Rules[perHook-1]
	last.APIGroups[0], last.Resources[0] = "coordination.k8s.io", "*"
	c := &admv1.ValidatingWebhookConfiguration{Webhooks: hooks}
	c.Name = "at-bounds"
	return c
}

// TestGuardrailsCostAtTheBounds runs the webhook rules on the largest
// configuration they judge, created and updated from a clean one, and
// checks every expression, and each budget the API server applies to a
// policy (its match conditions; its validations and messages together),
// stays under half the API server's limit: within the bounds nothing is
// admitted because the CEL ran out of cost.
func TestGuardrailsCostAtTheBounds(t *testing.T) {
	c := configurationAtBounds()
	if fs := guard.CheckWebhookConfigurationSize(live.ValidatingWebhooks(c)); len(fs) > 0 {
		t.Fatalf("the configuration is not within the bounds: %v", fs)
	}
	clean := guardtest.JetstackWebhook()
	clean.Name = c.Name
	clean.Webhooks = []admv1.ValidatingWebhook{guardtest.Webhook("ok.example.com", guardtest.Rule([]string{"apps"}, []string{"deployments"}, admv1.NamespacedScope))}
	for _, actions := range []map[string]Action{nil, everything(Warn)} {
		policies := Policies(Options{Name: "k8sguard", Actions: actions, Settings: testSettings})
		for _, e := range []*evaluator{newEvaluator(t, c), newUpdateEvaluator(t, clean, c)} {
			for _, p := range policies {
				if !applies(t, p, c) {
					continue
				}
				var match, validation uint64
				for _, m := range p.Policy.Spec.MatchConditions {
					match += e.cost(m.Expression, false)
				}
				for _, v := range p.Policy.Spec.Validations {
					validation += e.cost(v.Expression, false) + e.cost(v.MessageExpression, true)
				}
				t.Logf("%s, %s: match conditions %d, validations and messages %d, largest expression %d", p.Name, e.vars["request"], match, validation, e.maxCost)
				if match > celconfig.RuntimeCELCostBudgetMatchConditions/2 || validation > celconfig.RuntimeCELCostBudget/2 {
					t.Errorf("%s: cost %d (match conditions) and %d (validations), more than half the API server's budgets %d and %d",
						p.Name, match, validation, celconfig.RuntimeCELCostBudgetMatchConditions, celconfig.RuntimeCELCostBudget)
				}
			}
			if e.maxCost > celconfig.PerCallLimit/2 {
				t.Errorf("an expression cost %d, more than half the API server's per-call limit %d", e.maxCost, celconfig.PerCallLimit)
			}
		}
		got, _ := admit(t, policies, c)
		var all []string
		for _, msgs := range got {
			all = append(all, msgs...)
		}
		for _, id := range []string{"[WEBHOOK_WILDCARD_RULE] rule 3 matches every resource", "[WEBHOOK_CRITICAL_RESOURCE] rule 3 intercepts leases.coordination.k8s.io"} {
			if !strings.Contains(strings.Join(all, " "), id) {
				t.Errorf("the last rule of the last webhook was missed: no %q in %v", id, all)
			}
		}
	}
}

// TestPaddedConfigurationsAreRefusedCheaply: beyond the bounds the
// guardrails refuse with WEBHOOK_TOO_LARGE_TO_JUDGE, word for word as
// guard, and deciding that costs the same whatever the padding: a wildcard
// webhook padded with 240000 resource entries (about 1 MB) used to run the
// API server's per-call cost limit out, and failurePolicy Ignore admitted
// it.
func TestPaddedConfigurationsAreRefusedCheaply(t *testing.T) {
	padded := func(entries int) *admv1.ValidatingWebhookConfiguration {
		resources := make([]string, entries)
		for i := range resources {
			resources[i] = "a"
		}
		w := guardtest.Webhook("padded.example.com", guardtest.Rule([]string{"*"}, resources, admv1.NamespacedScope))
		w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"opa-policy": "enabled"}}
		c := &admv1.ValidatingWebhookConfiguration{Webhooks: []admv1.ValidatingWebhook{w}}
		c.Name = "padded"
		return c
	}
	manyHooks := guardtest.JetstackWebhook()
	for i := range 20000 {
		manyHooks.Webhooks = append(manyHooks.Webhooks, guardtest.Webhook(fmt.Sprintf("h%d.example.com", i), guardtest.Rule([]string{"apps"}, []string{"a"}, admv1.NamespacedScope)))
	}
	manyRules := padded(1)
	for range 256 {
		manyRules.Webhooks[0].Rules = append(manyRules.Webhooks[0].Rules, guardtest.Rule([]string{"apps"}, []string{"a"}, admv1.NamespacedScope))
	}
	for _, c := range []struct {
		name string
		obj  *admv1.ValidatingWebhookConfiguration
		want string
	}{
		{"240000 resource entries", padded(240000), "[WEBHOOK_TOO_LARGE_TO_JUDGE] the configuration has 240004 rule entries (API groups, versions, resources, " +
			"operations and namespace selector expressions), more than the 4096 the guardrails can judge within the API server's CEL cost limit. Past the limit the API server would stop evaluating its policies and admit the configuration unjudged, so padding could hide a wildcard or unscoped webhook. Split it into several configurations. Prevents: OPA webhook outage (Jetstack, GKE upgrade)."},
		{"20001 webhooks", manyHooks, "[WEBHOOK_TOO_LARGE_TO_JUDGE] the configuration has 20001 webhooks, more than the 64 the guardrails can judge within the API server's CEL cost limit. Past the limit the API server would stop evaluating its policies and admit the configuration unjudged, so padding could hide a wildcard or unscoped webhook. Split it into several configurations. Prevents: OPA webhook outage (Jetstack, GKE upgrade)."},
		{"257 rules", manyRules, "[WEBHOOK_TOO_LARGE_TO_JUDGE] the configuration has 257 rules, more than the 256 the guardrails can judge within the API server's CEL cost limit. Past the limit the API server would stop evaluating its policies and admit the configuration unjudged, so padding could hide a wildcard or unscoped webhook. Split it into several configurations. Prevents: OPA webhook outage (Jetstack, GKE upgrade)."},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs, err := live.Check(c.obj, testSettings)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 || fs[0].String() != c.want {
				t.Fatalf("guard says %v, want only %q", fs, c.want)
			}
			for _, actions := range []map[string]Action{nil, everything(Warn)} {
				policies := Policies(Options{Name: "k8sguard", Actions: actions, Settings: testSettings})
				e := newEvaluator(t, c.obj)
				got, _ := admitWith(t, e, policies, c.obj)
				var all []string
				for _, msgs := range got {
					all = append(all, msgs...)
				}
				if len(all) != 1 || all[0] != c.want {
					t.Fatalf("the guardrails say %q, want only %q", all, c.want)
				}
				// Judging stops at the bounds; the message counts the whole
				// configuration, once.
				var judging uint64
				for _, p := range policies {
					if applies(t, p, c.obj) {
						for _, m := range p.Policy.Spec.MatchConditions {
							judging += e.cost(m.Expression, false)
						}
						for _, v := range p.Policy.Spec.Validations {
							judging += e.cost(v.Expression, false)
						}
					}
				}
				t.Logf("judging cost %d, largest expression %d", judging, e.maxCost)
				if judging > 200000 || e.maxCost > celconfig.PerCallLimit/2 {
					t.Fatalf("judging cost %d, largest expression %d: the padding still drives the cost", judging, e.maxCost)
				}
			}
		})
	}
}

func TestFormatRendersGuardMessages(t *testing.T) {
	expr := format(guard.MsgWebhookTimeout, "6", "5")
	prog, err := Program(expr, true)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := prog.Eval(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(guard.MsgWebhookTimeout, 6, 5); out.Value() != want {
		t.Fatalf("got  %s\nwant %s", out.Value(), want)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func render(m map[string][]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		for _, msg := range m[k] {
			b.WriteString("  " + k + ": " + msg + "\n")
		}
	}
	return b.String()
}

// An UPDATE is refused only when it breaks a rule the object kept: an
// object that broke it before (made before the guardrails) can still be
// changed, as the API server ratchets its own validation. Otherwise a
// Zalando-shaped CronJob could not be suspended, a webhook's CA not
// rotated, and the garbage collector could not remove an owner reference.
func TestUpdatesRefuseOnlyWhatTheyBreak(t *testing.T) {
	policies := Policies(Options{Name: "k8sguard", Settings: testSettings})
	zalando := guardtest.ZalandoCronJob(guardtest.Namespace)
	suspended := zalando.DeepCopy()
	suspended.Spec.Suspend = ptrTo(true)
	fixed := zalando.DeepCopy()
	fixed.Spec.ConcurrencyPolicy, fixed.Spec.JobTemplate.Spec.ActiveDeadlineSeconds = batchv1.ForbidConcurrent, ptrTo[int64](120)
	hook := guardtest.JetstackWebhook()
	rotated := hook.DeepCopy()
	rotated.Webhooks[0].ClientConfig.CABundle = []byte("a new CA")
	scoped := hook.DeepCopy()
	scoped.Webhooks[0].Rules = []admv1.RuleWithOperations{guardtest.Rule([]string{"networking.k8s.io"}, []string{"ingresses"}, admv1.NamespacedScope)}
	scoped.Webhooks[0].FailurePolicy = ptrTo(admv1.Ignore)
	scoped.Webhooks[0].TimeoutSeconds = ptrTo[int32](5)
	for _, c := range []struct {
		name         string
		old, new     any
		wantRefusal  bool
		wantOnCreate bool // what a CREATE of new gets, for contrast
	}{
		{"suspend the incident's CronJob", zalando, suspended, false, true},
		{"rotate the Jetstack webhook's CA", hook, rotated, false, true},
		{"unfix a fixed CronJob", fixed, zalando, true, true},
		{"break a scoped webhook", scoped, hook, true, true},
		{"fix the incident's CronJob", zalando, fixed, false, false},
	} {
		got, _ := admitWith(t, newUpdateEvaluator(t, c.old, c.new), policies, c.new)
		if refused := len(got) > 0; refused != c.wantRefusal {
			t.Errorf("%s: UPDATE refused %v (%v), want %v", c.name, refused, got, c.wantRefusal)
		}
		if created, _ := admit(t, policies, c.new); (len(created) > 0) != c.wantOnCreate {
			t.Errorf("%s: CREATE of the new object refused %v, want %v", c.name, created, c.wantOnCreate)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// scaleRequest is what the API server gives a policy on the scale
// subresource (test/kubernetes checks it on the real one): an
// autoscaling/v1 Scale as object and oldObject, the workload in
// request.resource.
func scaleRequest(t *testing.T, resource string, from, to int) *evaluator {
	scale := func(n int) map[string]any {
		return map[string]any{"apiVersion": "autoscaling/v1", "kind": "Scale",
			"metadata": map[string]any{"name": "site", "namespace": guardtest.Namespace},
			"spec":     map[string]any{"replicas": int64(n)}, "status": map[string]any{"replicas": int64(from), "selector": "app=site"}}
	}
	return &evaluator{t: t, vars: map[string]any{"object": scale(to), "oldObject": scale(from), "request": map[string]any{
		"operation": "UPDATE", "subResource": "scale", "resource": map[string]any{"group": "apps", "version": "v1", "resource": resource}}}}
}

// TestScalesThatMakeTheSpreadRuleApplyAreFlagged: the scale subresource
// shows no pod template, so WORKLOAD_NO_SPREAD flags the scale that makes
// it apply, word for word as guard.CheckScale, and only with a Warning,
// even where the rule is configured to deny: an autoscaler scaling a
// well-spread Deployment up from one replica must not be refused.
func TestScalesThatMakeTheSpreadRuleApplyAreFlagged(t *testing.T) {
	for _, actions := range []map[string]Action{nil, everything(Deny), everything(Audit)} {
		policies := Policies(Options{Name: "k8sguard", Actions: actions, ProtectedNamespaces: testSettings.ProtectedNamespaces, Settings: testSettings})
		var scales []Policy
		for _, p := range policies {
			if slices.Contains(p.Policy.Spec.MatchConstraints.ResourceRules[0].Resources, "deployments/scale") {
				scales = append(scales, p)
			}
		}
		wantAction := Warn
		if actions[guard.RuleWorkloadNoSpread] == Audit {
			wantAction = Audit
		}
		if len(scales) != 1 || scales[0].Action != wantAction || !slices.Equal(scales[0].Policy.Spec.MatchConstraints.ResourceRules[0].Resources, []string{"deployments/scale", "statefulsets/scale"}) {
			t.Fatalf("actions %v: scale policies %+v, want one %s policy on deployments/scale and statefulsets/scale", actions, scales, wantAction)
		}
		for _, c := range []struct {
			resource, kind string
			from, to       int
			want           string
		}{
			{"deployments", "Deployment", 1, 3, "[WORKLOAD_NO_SPREAD] Deployment scaled from 1 to 3 replicas through the scale subresource (kubectl scale, an autoscaler), " +
				"which shows the guardrails no pod template: they cannot tell whether it has pod anti-affinity or topologySpreadConstraints, and without them " +
				"one node failure takes every replica down. Check it with k8sguard_cluster_audit, or set spec.replicas on the Deployment itself, where its " +
				"template is judged. Prevents: every replica on one node, one kernel panic took the site down (Moonlight)."},
			{"statefulsets", "StatefulSet", 0, 2, "[WORKLOAD_NO_SPREAD] StatefulSet scaled from 0 to 2 replicas through the scale subresource (kubectl scale, an autoscaler), " +
				"which shows the guardrails no pod template: they cannot tell whether it has pod anti-affinity or topologySpreadConstraints, and without them " +
				"one node failure takes every replica down. Check it with k8sguard_cluster_audit, or set spec.replicas on the StatefulSet itself, where its " +
				"template is judged. Prevents: every replica on one node, one kernel panic took the site down (Moonlight)."},
			{"deployments", "Deployment", 2, 5, ""},
			{"deployments", "Deployment", 3, 1, ""},
			{"statefulsets", "StatefulSet", 1, 1, ""},
		} {
			var guardSays string
			if fs := guard.CheckScale(guard.Scale{Kind: c.kind, From: int64(c.from), To: int64(c.to)}); len(fs) > 0 {
				guardSays = fs[0].String()
			}
			if guardSays != c.want {
				t.Errorf("%s %d→%d: guard says %q, want %q", c.kind, c.from, c.to, guardSays, c.want)
			}
			e := scaleRequest(t, c.resource, c.from, c.to)
			p := scales[0]
			var got []string
			if e.matches(p) {
				for _, v := range p.Policy.Spec.Validations {
					if e.eval(v.Expression, false) != true {
						got = append(got, e.eval(v.MessageExpression, true).(string))
					}
				}
			}
			if want := []string{c.want}; c.want == "" && len(got) > 0 || c.want != "" && !slices.Equal(got, want) {
				t.Errorf("%s %d→%d: the guardrail says %q, want %q", c.kind, c.from, c.to, got, c.want)
			}
		}
	}
}

// TestMessagesNeverFailOnObjectsThatPass: the API server evaluates every
// message expression of a policy whose match condition holds, also those
// of validations that pass (validating/validator.go), and drops their
// errors unseen; a warn or audit policy has one validation per rule, so
// an object that breaks one rule of a target ran the messages of all the
// others, and a message that indexed the first offender of a rule the
// object keeps ([0] of an empty filter) failed on every such request.
// Every message must evaluate without error whatever its validation says.
func TestMessagesNeverFailOnObjectsThatPass(t *testing.T) {
	for _, actions := range []map[string]Action{nil, everything(Warn), everything(Audit), everything(Deny)} {
		policies := Policies(Options{Name: "k8sguard", Actions: actions, ProtectedNamespaces: testSettings.ProtectedNamespaces, Settings: testSettings})
		for _, s := range guardtest.Shapes() {
			e := newEvaluator(t, s.Object)
			for _, p := range policies {
				if !applies(t, p, s.Object) || !e.matches(p) {
					continue
				}
				for i, v := range p.Policy.Spec.Validations {
					prog, err := cachedProgram(v.MessageExpression, true)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := prog.Eval(e.vars); err != nil {
						t.Errorf("%s: %s: validations[%d] (holds: %v): message fails: %v", s.Name, p.Name, i, e.eval(v.Expression, false), err)
					}
				}
			}
		}
	}
}
