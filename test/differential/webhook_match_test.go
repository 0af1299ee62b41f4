// Package differential checks k8sguard's rules against the upstream code
// whose behaviour they mirror, over generated inputs.
package differential

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// The API server's webhook rule matcher (k8s.io/apiserver's rules.Matcher,
// at the version the harness's kube-apiserver is built from) against
// provider/guard's WebhookRule.Matches and its critical-resource check.

// cohabiting are the resources kube-apiserver serves from one storage
// under several groups (AddCohabitatingResources in k8s.io/kubernetes
// pkg/kubeapiserver/default_storage_factory_builder.go, v1.36.3). Under
// matchPolicy Equivalent a rule on one of them is also tried against the
// others (the EquivalentResourceRegistry is keyed by storage prefix).
var cohabiting = [][]schema.GroupResource{
	{{Group: "", Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}},
}

func equivalentGroupResources(gr schema.GroupResource) []schema.GroupResource {
	for _, set := range cohabiting {
		if slices.Contains(set, gr) {
			return set
		}
	}
	return []schema.GroupResource{gr}
}

// servedKinds maps every group/resource of k8s.io/api (client-go's scheme:
// every version k8s.io/api defines, alpha and removed ones included, so
// the upstream side sees at least the versions a real server serves) to
// its versions and kind.
type servedKind struct {
	version string
	kind    schema.GroupVersionKind
}

func servedKinds(t *testing.T) map[schema.GroupResource][]servedKind {
	t.Helper()
	out := map[schema.GroupResource][]servedKind{}
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if strings.HasSuffix(gvk.Kind, "List") || gvk.Version == "__internal" {
			continue
		}
		plural, _ := meta.UnsafeGuessKindToResource(gvk)
		gr := plural.GroupResource()
		out[gr] = append(out[gr], servedKind{version: gvk.Version, kind: gvk})
	}
	for gr := range out {
		sort.Slice(out[gr], func(i, j int) bool { return out[gr][i].version < out[gr][j].version })
	}
	if len(out[schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}]) == 0 {
		t.Fatal("client-go's scheme has no coordination.k8s.io leases: the kind→resource mapping is broken")
	}
	return out
}

// upstreamRule is the API form of a guard rule ("" scope is the API's nil).
func upstreamRule(r guard.WebhookRule) admissionv1.RuleWithOperations {
	ops := make([]admissionv1.OperationType, len(r.Operations))
	for i, o := range r.Operations {
		ops[i] = admissionv1.OperationType(o)
	}
	rule := admissionv1.RuleWithOperations{Operations: ops, Rule: admissionv1.Rule{APIGroups: r.APIGroups, APIVersions: r.APIVersions, Resources: r.Resources}}
	if r.Scope != "" {
		scope := admissionv1.ScopeType(r.Scope)
		rule.Scope = &scope
	}
	return rule
}

// attributes is the admission request the API server builds; namespaced
// requests are in kube-node-lease (where node leases live).
func attributes(gvr schema.GroupVersionResource, kind schema.GroupVersionKind, sub, op string, namespaced bool) admission.Attributes {
	ns := ""
	if namespaced {
		ns = "kube-node-lease"
	}
	return admission.NewAttributesRecord(nil, nil, kind, ns, "node-1", gvr, sub, admission.Operation(op), nil, false, nil)
}

func upstreamMatches(r admissionv1.RuleWithOperations, a admission.Attributes) bool {
	m := rules.Matcher{Rule: r, Attr: a}
	return m.Matches()
}

// ruleGenerator makes webhook rules: real group and resource names (the
// critical ones and others) and random ones, every resource pattern form,
// mixed scopes and operations, several groups and versions per rule.
type ruleGenerator struct {
	rnd                               *rand.Rand
	groups, versions, resources, subs []string
	operations, scopes                []string
}

func newRuleGenerator(seed uint64) *ruleGenerator {
	g := &ruleGenerator{
		rnd:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		groups:     []string{"*", "", "apps", "batch", "networking.k8s.io", "rbac.authorization.k8s.io", "admissionregistration.k8s.io"},
		versions:   []string{"*", "v1", "v1beta1", "v1alpha1", "v1alpha2", "v2"},
		resources:  []string{"pods", "configmaps", "nodes", "namespaces", "serviceaccounts", "deployments", "secrets", "validatingwebhookconfigurations"},
		subs:       []string{"status", "approval", "token", "scale", "binding", "exec"},
		operations: []string{"CREATE", "UPDATE", "DELETE", "CONNECT", "*"},
		scopes:     []string{"", "*", "Namespaced", "Cluster"},
	}
	for _, c := range guard.CriticalResources() {
		g.groups = append(g.groups, c.Group)
		g.resources = append(g.resources, c.Resource)
		if c.Subresource != "" {
			g.subs = append(g.subs, c.Subresource)
		}
	}
	return g
}

func (g *ruleGenerator) pick(from []string) string { return from[g.rnd.IntN(len(from))] }

func (g *ruleGenerator) some(n int, one func() string) []string {
	out := make([]string, 1+g.rnd.IntN(n))
	for i := range out {
		out[i] = one()
	}
	return out
}

func (g *ruleGenerator) randomName() string { return fmt.Sprintf("x%d", g.rnd.IntN(1000)) }

func (g *ruleGenerator) group() string {
	if g.rnd.IntN(8) == 0 {
		return g.randomName() + ".example.com"
	}
	return g.pick(g.groups)
}

func (g *ruleGenerator) resourcePattern() string {
	res := g.pick(g.resources)
	switch g.rnd.IntN(10) {
	case 0:
		res = "*"
	case 1:
		res = g.randomName()
	}
	switch g.rnd.IntN(6) {
	case 0, 1:
		return res
	case 2:
		return res + "/*"
	case 3:
		return res + "/" + g.pick(g.subs)
	case 4:
		return "*/" + g.pick(append(g.subs, "*"))
	default:
		return res + "/" + g.randomName()
	}
}

func (g *ruleGenerator) random() guard.WebhookRule {
	r := guard.WebhookRule{
		APIGroups:   g.some(3, g.group),
		APIVersions: g.some(3, func() string { return g.pick(g.versions) }),
		Resources:   g.some(4, g.resourcePattern),
		Operations:  g.some(3, func() string { return g.pick(g.operations) }),
		Scope:       g.pick(g.scopes),
	}
	if g.rnd.IntN(50) == 0 {
		r.APIVersions = nil // the API refuses it; upstream then matches nothing
	}
	return r
}

// systematic is every corner case for every critical resource: the
// resource pattern forms X, X/*, X/sub, X/other, */sub, */*, *, the group
// named, wildcarded or another, every scope, and each operation alone,
// all of them, or "*".
func systematic() []guard.WebhookRule {
	var out []guard.WebhookRule
	opSets := [][]string{{"CREATE"}, {"UPDATE"}, {"DELETE"}, {"CONNECT"}, {"*"}, {"CREATE", "UPDATE", "DELETE", "CONNECT"}}
	for _, c := range guard.CriticalResources() {
		sub := c.Subresource
		if sub == "" {
			sub = "status"
		}
		patterns := []string{c.Resource, c.Resource + "/*", c.Resource + "/" + sub, c.Resource + "/other", "*/" + sub, "*/*", "*"}
		for _, p := range patterns {
			for _, group := range []string{c.Group, "*", "other.example.com"} {
				for _, scope := range []string{"", "*", "Namespaced", "Cluster"} {
					for _, ops := range opSets {
						out = append(out, guard.WebhookRule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: []string{p}, Operations: ops, Scope: scope})
					}
				}
			}
		}
	}
	return out
}

// Every critical request the API server would send to a hook is flagged
// by k8sguard (zero under-flags), over ≥ 20,000 generated rules; where
// k8sguard flags more, the reason is counted and printed.
func TestWebhookCriticalMatchingAgreesWithAPIServer(t *testing.T) {
	kinds := servedKinds(t)
	corners := systematic()
	rulesUnderTest := slices.Clone(corners)
	gen := newRuleGenerator(20261201)
	for len(rulesUnderTest) < 26000 {
		rulesUnderTest = append(rulesUnderTest, gen.random())
	}

	critical := guard.CriticalResources()
	var checks, upstreamHits, guardHits, agree int
	var under []string
	overReasons := map[string]int{}
	for _, r := range rulesUnderTest {
		up := upstreamRule(r)
		flagged := map[string]bool{} // "group/resource/sub op"
		for _, m := range guard.CriticalMatches(r) {
			for _, op := range m.Operations {
				flagged[fmt.Sprintf("%s/%s/%s %s", m.Resource.Group, m.Resource.Resource, m.Resource.Subresource, op)] = true
			}
		}
		for _, c := range critical {
			gr := schema.GroupResource{Group: c.Group, Resource: c.Resource}
			for _, op := range c.Operations {
				checks++
				// Upstream: the request in any served version of any
				// equivalent resource (matchPolicy Equivalent).
				matched := false
				for _, eq := range equivalentGroupResources(gr) {
					for _, sk := range kinds[eq] {
						if upstreamMatches(up, attributes(eq.WithVersion(sk.version), sk.kind, c.Subresource, op, c.Namespaced)) {
							matched = true
						}
					}
				}
				// k8sguard: this entry, or an equivalent one, flagged.
				guarded := false
				for _, eq := range equivalentGroupResources(gr) {
					guarded = guarded || flagged[fmt.Sprintf("%s/%s/%s %s", eq.Group, eq.Resource, c.Subresource, op)]
				}
				if matched {
					upstreamHits++
				}
				if guarded {
					guardHits++
				}
				switch {
				case matched == guarded:
					agree++
				case matched:
					under = append(under, fmt.Sprintf("rule %+v: the API server sends %s %s, k8sguard is silent", r, op, c))
				default:
					reason := overFlagReason(r, c, kinds)
					if reason == unexplained && overReasons[reason] < 5 {
						t.Errorf("unexplained over-flag: rule %+v, %s %s", r, op, c)
					}
					overReasons[reason]++
				}
			}
		}
	}
	over := 0
	for _, n := range overReasons {
		over += n
	}
	t.Logf("rules: %d (%d systematic, %d random); (rule, critical request) checks: %d", len(rulesUnderTest), len(corners), len(rulesUnderTest)-len(corners), checks)
	t.Logf("API server matches: %d; k8sguard flags: %d; agreement: %d (%.3f%%)", upstreamHits, guardHits, agree, 100*float64(agree)/float64(checks))
	t.Logf("under-flags (API server sends a critical request, k8sguard silent): %d", len(under))
	t.Logf("over-flags (k8sguard flags, API server does not send): %d", over)
	for reason, n := range overReasons {
		t.Logf("  %6d  %s", n, reason)
	}
	if upstreamHits == 0 || guardHits == 0 {
		t.Fatal("no rule matched a critical request: the generator or the harness is broken")
	}
	if len(under) > 0 {
		for _, u := range under[:min(len(under), 20)] {
			t.Error(u)
		}
		t.Fatalf("%d under-flags", len(under))
	}
}

// overFlagReason explains why k8sguard flags a request the API server
// would not send. Every over-flag must have a known reason.
func overFlagReason(r guard.WebhookRule, c guard.CriticalResource, kinds map[schema.GroupResource][]servedKind) string {
	served := false
	for _, eq := range equivalentGroupResources(schema.GroupResource{Group: c.Group, Resource: c.Resource}) {
		if !slices.Contains(r.APIGroups, eq.Group) && !slices.Contains(r.APIGroups, "*") {
			continue
		}
		for _, sk := range kinds[eq] {
			if slices.Contains(r.APIVersions, sk.version) || slices.Contains(r.APIVersions, "*") {
				served = true
			}
		}
	}
	if !served {
		return "the rule names no version the resource is served in, in the groups it names (k8sguard asks about every version, so a later version is covered)"
	}
	return unexplained
}

const unexplained = "UNEXPLAINED"

// The matcher itself, request by request, with a concrete version: k8sguard
// and the API server must agree exactly, both ways.
func TestWebhookRuleMatchesEqualsAPIServerMatcher(t *testing.T) {
	kinds := servedKinds(t)
	var grs []schema.GroupResource
	for gr := range kinds {
		grs = append(grs, gr)
	}
	sort.Slice(grs, func(i, j int) bool { return grs[i].String() < grs[j].String() })
	gen := newRuleGenerator(7)
	rnd := rand.New(rand.NewPCG(11, 13))
	const rulesN, requestsPerRule = 20000, 10
	corners := systematic()
	namespaces := schema.GroupResource{Resource: "namespaces"}
	var matches, disagreements int
	for i := 0; i < rulesN; i++ {
		r := gen.random()
		if i < len(corners) {
			r = corners[i]
		}
		up := upstreamRule(r)
		for j := 0; j < requestsPerRule; j++ {
			gr := grs[rnd.IntN(len(grs))]
			sk := kinds[gr][rnd.IntN(len(kinds[gr]))]
			sub := []string{"", "", "status", "approval", "scale", "x1"}[rnd.IntN(6)]
			op := []string{"CREATE", "UPDATE", "DELETE", "CONNECT"}[rnd.IntN(4)]
			namespaced := rnd.IntN(2) == 0
			if j%2 == 1 {
				// A request built from the rule's own names, so that
				// matches are frequent and every near miss is tried.
				gr, sk, sub, op = requestNear(rnd, r, gr, sk, sub, op)
			}
			a := attributes(gr.WithVersion(sk.version), sk.kind, sub, op, namespaced)
			if gr == namespaces && sk.version == "v1" {
				// The API server sets a namespace object's own name as the
				// request's namespace and still counts it cluster-scoped
				// (it compares the whole GroupVersionResource with v1
				// namespaces: no other version of them exists).
				a = admission.NewAttributesRecord(nil, nil, sk.kind, "node-1", "node-1", gr.WithVersion(sk.version), sub, admission.Operation(op), nil, false, nil)
				namespaced = false
			}
			want := upstreamMatches(up, a)
			got := r.Matches(guard.AdmissionRequest{Group: gr.Group, Version: sk.version, Resource: gr.Resource, Subresource: sub, Operation: op, Namespaced: namespaced})
			if want {
				matches++
			}
			if got != want {
				disagreements++
				if disagreements <= 20 {
					t.Errorf("rule %+v, request %s %s/%s ns=%v: k8sguard %v, API server %v", r, op, gr.WithVersion(sk.version), sub, namespaced, got, want)
				}
			}
		}
	}
	t.Logf("rules: %d, requests: %d, API server matches: %d, disagreements: %d", rulesN, rulesN*requestsPerRule, matches, disagreements)
	if matches == 0 {
		t.Fatal("nothing matched: the generator is broken")
	}
}

// requestNear replaces each part of a request by a value the rule names
// (wildcards keep the random part).
func requestNear(rnd *rand.Rand, r guard.WebhookRule, gr schema.GroupResource, sk servedKind, sub, op string) (schema.GroupResource, servedKind, string, string) {
	pickNamed := func(items []string, fallback string) string {
		if len(items) == 0 {
			return fallback
		}
		if v := items[rnd.IntN(len(items))]; v != "*" {
			return v
		}
		return fallback
	}
	gr.Group = pickNamed(r.APIGroups, gr.Group)
	sk.version = pickNamed(r.APIVersions, sk.version)
	sk.kind = schema.GroupVersionKind{Group: gr.Group, Version: sk.version, Kind: "Generated"}
	if len(r.Resources) > 0 {
		res, s, _ := strings.Cut(r.Resources[rnd.IntN(len(r.Resources))], "/")
		gr.Resource = pickNamed([]string{res}, gr.Resource)
		sub = pickNamed([]string{s}, sub)
	}
	return gr, sk, sub, pickNamed(r.Operations, op)
}

// k8sguard's list of resources the API server never sends to webhooks is
// IsExemptAdmissionConfigurationResource's, for every kind k8s.io/api
// defines, subresources included.
func TestExemptAdmissionResourcesEqualAPIServer(t *testing.T) {
	kinds := servedKinds(t)
	upstream := map[string]bool{}
	checked := 0
	for gr, sks := range kinds {
		for _, sk := range sks {
			for _, sub := range []string{"", "status"} {
				checked++
				a := attributes(gr.WithVersion(sk.version), sk.kind, sub, "UPDATE", false)
				want := rules.IsExemptAdmissionConfigurationResource(a)
				if got := guard.IsExemptAdmissionResource(gr.Group, gr.Resource); got != want {
					t.Errorf("%s/%s (%s): k8sguard exempt %v, API server %v", gr.WithVersion(sk.version), sub, sk.kind.Kind, got, want)
				}
				if want {
					upstream[gr.String()] = true
				}
			}
		}
	}
	var ours []string
	for _, r := range guard.ExemptAdmissionResources() {
		ours = append(ours, r+"."+guard.AdmissionRegistrationGroup)
	}
	var theirs []string
	for r := range upstream {
		theirs = append(theirs, r)
	}
	sort.Strings(ours)
	sort.Strings(theirs)
	if !slices.Equal(ours, theirs) {
		t.Fatalf("exempt resources:\n k8sguard   %v\n API server %v", ours, theirs)
	}
	t.Logf("%d (kind, subresource) pairs checked; exempt: %s", checked, strings.Join(theirs, ", "))
}
