package differential

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// The namespace selector semantics the webhook rules rely on, against the
// API server's own: metav1.LabelSelectorAsSelector and labels.Selector
// Matches, which the webhook namespace matcher
// (k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/namespace)
// runs on a namespace's labels.
//
//   - guard.Selector.OptIn (WEBHOOK_FAIL_UNSCOPED) is "a namespace that
//     carries nothing but the label the API server puts on every
//     namespace, kubernetes.io/metadata.name=<its name>, is not selected",
//     for a name the selector does not mention;
//   - guard.Selector.Empty is the upstream selector's Empty (selects
//     everything);
//   - guard.EffectiveNamespaceSelector, what the provider sends, never
//     selects an excluded namespace (protected, or the backend's own),
//     whatever labels the namespace carries.

var (
	selectorKeys   = []string{guard.NamespaceNameLabel, "env", "team", "opa-policy", "example.com/inject"}
	selectorValues = []string{"kube-system", "kube-public", "kube-node-lease", "default", "opa", "prod", "dev", "enabled", "true", ""}
	selectorOps    = []string{"In", "NotIn", "Exists", "DoesNotExist"}
)

// freshNamespace is a namespace name no generated selector mentions.
const freshNamespace = "team-fresh-7f3a"

func randomSelector(r *rand.Rand) guard.Selector {
	var s guard.Selector
	if r.IntN(3) == 0 {
		s.MatchLabels = map[string]string{}
		for range 1 + r.IntN(2) {
			s.MatchLabels[selectorKeys[r.IntN(len(selectorKeys))]] = selectorValues[r.IntN(len(selectorValues))]
		}
	}
	for range r.IntN(4) {
		req := guard.Requirement{Key: selectorKeys[r.IntN(len(selectorKeys))], Operator: selectorOps[r.IntN(len(selectorOps))]}
		if req.Operator == "In" || req.Operator == "NotIn" {
			// In/NotIn need values (the API server refuses an empty list).
			for range 1 + r.IntN(3) {
				req.Values = append(req.Values, selectorValues[r.IntN(len(selectorValues)-1)])
			}
		}
		s.MatchExpressions = append(s.MatchExpressions, req)
	}
	return s
}

// toAPI is the selector as the provider sends it (resource_webhook_model.go's
// labelSelector) and the audit reads it back (live.selector).
func toAPI(s guard.Selector) *metav1.LabelSelector {
	ls := &metav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, r := range s.MatchExpressions {
		ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: r.Key, Operator: metav1.LabelSelectorOperator(r.Operator), Values: r.Values})
	}
	return ls
}

// namespaceLabels is a namespace as the API server stores it: the labels
// given, and kubernetes.io/metadata.name always equal to its name.
func namespaceLabels(name string, extra map[string]string) labels.Set {
	set := labels.Set{}
	for k, v := range extra {
		set[k] = v
	}
	set[guard.NamespaceNameLabel] = name
	return set
}

func describeSelector(s guard.Selector) string {
	return fmt.Sprintf("matchLabels=%v matchExpressions=%+v", s.MatchLabels, s.MatchExpressions)
}

// deliberatelyNotOptIn is where guard.Selector.OptIn is stricter than the
// selector: DoesNotExist on kubernetes.io/metadata.name selects no stored
// namespace (every one carries that label), but OptIn does not count it as
// opt-in. A namespace created with generateName reaches mutating
// admission without the label (SetDefaults_Namespace sets it from the
// name at decode, which a generated name does not have yet; the registry's
// Canonicalize adds it after mutating admission), so for a mutating hook
// on namespaces the expression does not keep new namespaces out.
// WEBHOOK_FAIL_UNSCOPED's Checks text (docs/guides/rules.md) says so.
func deliberatelyNotOptIn(s guard.Selector) bool {
	for _, r := range s.MatchExpressions {
		if r.Key == guard.NamespaceNameLabel && r.Operator == "DoesNotExist" {
			return true
		}
	}
	return false
}

func TestSelectorSemanticsAgreeWithAPIServer(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 0x5e1ec7))
	settings := guard.Settings{ProtectedNamespaces: []string{"kube-system", "kube-public", "kube-node-lease"}}
	const cases = 20000
	var optIn, notOptIn, deliberate int
	for i := range cases {
		s := randomSelector(r)
		sel, err := metav1.LabelSelectorAsSelector(toAPI(s))
		if err != nil {
			t.Fatalf("case %d: the generator made a selector the API server refuses (%v): %s", i, err, describeSelector(s))
		}

		if got, want := s.Empty(), sel.Empty(); got != want {
			t.Errorf("case %d: Empty() = %v, upstream selector Empty() = %v: %s", i, got, want, describeSelector(s))
		}

		selectsBare := sel.Matches(namespaceLabels(freshNamespace, nil))
		switch got := s.OptIn(); {
		case got == !selectsBare:
			if got {
				optIn++
			} else {
				notOptIn++
			}
		case !got && deliberatelyNotOptIn(s):
			deliberate++
		default:
			t.Errorf("case %d: OptIn() = %v, but the API server's selector %q %s a new namespace with only %s=%s: %s",
				i, got, sel, map[bool]string{true: "selects", false: "does not select"}[selectsBare],
				guard.NamespaceNameLabel, freshNamespace, describeSelector(s))
		}

		// The effective selector never selects an excluded namespace,
		// whatever labels it carries.
		w := guard.Webhook{NamespaceSelector: s}
		if r.IntN(2) == 0 {
			w.Service = &guard.WebhookService{Namespace: selectorValues[r.IntN(len(selectorValues)-1)], Name: "hook"}
		}
		eff, err := metav1.LabelSelectorAsSelector(toAPI(guard.EffectiveNamespaceSelector(w, settings)))
		if err != nil {
			t.Fatalf("case %d: the effective selector is refused upstream: %v", i, err)
		}
		excluded := guard.ExcludedNamespaces(w, settings)
		for _, ns := range append(slices.Clone(excluded), freshNamespace, "default") {
			extra := map[string]string{}
			for k, v := range s.MatchLabels { // give it what the user's selector asks for
				extra[k] = v
			}
			for range r.IntN(3) {
				extra[selectorKeys[1+r.IntN(len(selectorKeys)-1)]] = selectorValues[r.IntN(len(selectorValues))]
			}
			if eff.Matches(namespaceLabels(ns, extra)) && slices.Contains(excluded, ns) {
				t.Errorf("case %d: the effective selector %q selects the excluded namespace %q (labels %v)", i, eff, ns, extra)
			}
		}
		if t.Failed() && i > 50 {
			t.FailNow()
		}
	}
	t.Logf("%d selectors: %d opt-in, %d not, %d deliberately not opt-in (DoesNotExist %s)", cases, optIn, notOptIn, deliberate, guard.NamespaceNameLabel)
	if optIn < cases/10 || notOptIn < cases/10 || deliberate == 0 {
		t.Fatalf("the generator is lopsided: %d opt-in, %d not, %d deliberate", optIn, notOptIn, deliberate)
	}
}
