package guard

import (
	"strings"
	"testing"
)

// defaultTestSettings are the provider's defaults.
var defaultTestSettings = Settings{
	ProtectedNamespaces:      []string{"kube-system", "kube-public", "kube-node-lease"},
	MaxWebhookTimeoutSeconds: 5,
	MaxPodsPerNamespace:      1500,
}

// expectedFinding is one row of a rule table test: the rule, the attribute
// path and the exact message.
type expectedFinding struct {
	id, path, msg string
}

func expectFindings(t *testing.T, got []Finding, wants []expectedFinding) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(wants), renderFindings(got))
	}
	for i, w := range wants {
		g := got[i]
		if g.RuleID != w.id || g.Path.String() != w.path || g.Message != w.msg {
			t.Errorf("finding %d:\n got  [%s] at %s: %s\n want [%s] at %s: %s", i, g.RuleID, g.Path, g.Message, w.id, w.path, w.msg)
		}
		r, _ := Lookup(w.id)
		if g.Severity != r.Severity || g.Story != r.Story.Name {
			t.Errorf("finding %d: severity %s story %q, want the rule's %s %q", i, g.Severity, g.Story, r.Severity, r.Story.Name)
		}
	}
}

func renderFindings(fs []Finding) string {
	var b strings.Builder
	for _, text := range diagnosticTexts(fs) {
		b.WriteString("  " + text + "\n")
	}
	return b.String()
}

func TestFindingStringNamesRuleAndStory(t *testing.T) {
	f := finding(RuleWebhookWildcard, Path{"webhook", 0, "rule", 0, "resources"}, "rule 0 matches every resource (%q): boom.", "*")
	want := `[WEBHOOK_WILDCARD_RULE] rule 0 matches every resource ("*"): boom. Prevents: OPA webhook outage (Jetstack, GKE upgrade).`
	if f.String() != want {
		t.Fatalf("String() = %s\nwant       %s", f.String(), want)
	}
	if f.Path.String() != "webhook[0].rule[0].resources" {
		t.Fatalf("path = %s", f.Path)
	}
}

func TestApplyWaivers(t *testing.T) {
	wildcard := finding(RuleWebhookWildcard, Path{"webhook", 0, "rule", 0, "operations"}, "wild")
	critical := finding(RuleWebhookCriticalResource, Path{"webhook", 0, "rule", 0, "resources"}, "critical")
	noCA := finding(RuleWebhookNoCA, Path{"webhook", 0, "ca_bundle"}, "no ca")
	tests := []struct {
		name    string
		waivers map[string]string
		want    []expectedFinding
		reason  string // WaiverReason expected on the waived finding
	}{
		{"no waivers keeps errors", nil, []expectedFinding{
			{RuleWebhookWildcard, "webhook[0].rule[0].operations", "wild"},
			{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", "critical"},
			{RuleWebhookNoCA, "webhook[0].ca_bundle", "no ca"},
		}, ""},
		{"a waiver with a reason turns the error into a warning", map[string]string{RuleWebhookWildcard: "  audit hook, Ignore on failure "}, []expectedFinding{
			{RuleWebhookWildcard, "webhook[0].rule[0].operations", "wild"},
			{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", "critical"},
			{RuleWebhookNoCA, "webhook[0].ca_bundle", "no ca"},
		}, "audit hook, Ignore on failure"},
		{"a waiver without a reason is an error", map[string]string{RuleWebhookWildcard: "  "}, []expectedFinding{
			{RuleWaiverInvalid, `waivers["WEBHOOK_WILDCARD_RULE"]`, "waiver for WEBHOOK_WILDCARD_RULE has no reason: write why the risk is acceptable, for the review."},
			{RuleWebhookWildcard, "webhook[0].rule[0].operations", "wild"},
			{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", "critical"},
			{RuleWebhookNoCA, "webhook[0].ca_bundle", "no ca"},
		}, ""},
		{"an unwaivable rule cannot be waived", map[string]string{RuleWebhookCriticalResource: "we know"}, []expectedFinding{
			{RuleWaiverInvalid, `waivers["WEBHOOK_CRITICAL_RESOURCE"]`, "waiver for WEBHOOK_CRITICAL_RESOURCE: this rule cannot be waived (it guards against OPA webhook outage (Jetstack, GKE upgrade)). Change the configuration instead."},
			{RuleWebhookWildcard, "webhook[0].rule[0].operations", "wild"},
			{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", "critical"},
			{RuleWebhookNoCA, "webhook[0].ca_bundle", "no ca"},
		}, ""},
		{"an unknown rule", map[string]string{"WEBHOOK_TYPO": "x"}, []expectedFinding{
			{RuleWaiverInvalid, `waivers["WEBHOOK_TYPO"]`, `waiver for "WEBHOOK_TYPO": no such rule. Rule IDs are listed in the k8sguard rules guide.`},
			{RuleWebhookWildcard, "webhook[0].rule[0].operations", "wild"},
			{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", "critical"},
			{RuleWebhookNoCA, "webhook[0].ca_bundle", "no ca"},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ApplyWaivers([]Finding{wildcard, critical, noCA}, tt.waivers, nil, "waivers")
			expectFindings(t, withRuleSeverity(got, tt.reason), tt.want)
			var sawWildcard bool
			for _, f := range got {
				if f.RuleID == RuleWebhookWildcard {
					sawWildcard = true
					wantSeverity := Error
					if tt.reason != "" {
						wantSeverity = Warning
					}
					if f.Severity != wantSeverity || f.WaiverReason != tt.reason {
						t.Fatalf("wildcard finding: severity %s reason %q, want %s %q", f.Severity, f.WaiverReason, wantSeverity, tt.reason)
					}
				}
				if f.RuleID == RuleWebhookCriticalResource && f.Severity != Error {
					t.Fatalf("an unwaivable error became %s", f.Severity)
				}
			}
			if !sawWildcard {
				t.Fatal("the waived finding disappeared: waivers must keep it visible")
			}
			if tt.reason != "" && !HasErrors(got) {
				t.Fatal("the unwaived critical finding should still be an error")
			}
		})
	}
}

// withRuleSeverity resets waived findings to their rule's severity so the
// shared table check (which compares with the catalog) applies; the waiver
// itself is asserted separately.
func withRuleSeverity(fs []Finding, reason string) []Finding {
	out := make([]Finding, len(fs))
	for i, f := range fs {
		if f.WaiverReason != "" && f.WaiverReason == reason {
			r, _ := Lookup(f.RuleID)
			f.Severity = r.Severity
		}
		out[i] = f
	}
	return out
}

func TestWaivedFindingShowsTheReason(t *testing.T) {
	got := ApplyWaivers([]Finding{finding(RuleWebhookTimeout, Path{"webhook", 0, "timeout_seconds"}, "slow.")}, map[string]string{RuleWebhookTimeout: "batch API, measured p99 8s"}, nil, "waivers")
	want := `[WEBHOOK_TIMEOUT] slow. Prevents: OPA webhook outage (Jetstack, GKE upgrade). Waived: "batch API, measured p99 8s".`
	if len(got) != 1 || got[0].Severity != Warning || got[0].String() != want {
		t.Fatalf("got %+v\nwant warning %s", got, want)
	}
}

func TestWithoutSettingsRulesKeepsOnlyValidateTimeRules(t *testing.T) {
	fs := []Finding{
		finding(RuleWebhookTimeout, Path{"webhook", 0, "timeout_seconds"}, "x"),
		finding(RuleWebhookWildcard, Path{"webhook", 0, "rule", 0, "resources"}, "y"),
		finding(RuleQuotaPodsAboveMax, Path{"pods"}, "z"),
	}
	got := WithoutSettingsRules(fs)
	if len(got) != 1 || got[0].RuleID != RuleWebhookWildcard {
		t.Fatalf("got %v", got)
	}
}

func TestCatalogIsComplete(t *testing.T) {
	for _, r := range Rules() {
		if r.ID == "" || r.Family == "" || r.Checks == "" || r.Story.Name == "" {
			t.Errorf("rule %+v lacks an ID, family, description or story", r)
		}
		if r.Severity != Error && r.Severity != Warning {
			t.Errorf("rule %s: severity %q", r.ID, r.Severity)
		}
	}
}

// A waiver whose reason is known only at apply (another resource's output):
// the errors it may waive wait for apply, when the rules run on the final
// reason; its rule ID is still checked at once.
func TestWaiversKnownOnlyAtApply(t *testing.T) {
	wildcard := finding(RuleWebhookWildcard, Path{"webhook", 0, "rule", 0, "resources"}, "wild")
	timeout := finding(RuleWebhookTimeout, Path{"webhook", 0, "timeout_seconds"}, "slow")
	critical := finding(RuleWebhookCriticalResource, Path{"webhook", 0, "rule", 0, "resources"}, "critical")
	noCA := finding(RuleWebhookNoCA, Path{"webhook", 0, "ca_bundle"}, "no ca")
	all := []Finding{wildcard, timeout, critical, noCA}

	pending := []string{RuleWebhookWildcard, RuleWebhookCriticalResource, "WEBHOOK_TYPO"}
	got := ApplyWaivers(WithoutErrorsOf(all, pending), nil, pending, "waivers")
	expectFindings(t, got, []expectedFinding{
		{RuleWaiverInvalid, `waivers["WEBHOOK_CRITICAL_RESOURCE"]`, "waiver for WEBHOOK_CRITICAL_RESOURCE: this rule cannot be waived (it guards against OPA webhook outage (Jetstack, GKE upgrade)). Change the configuration instead."},
		{RuleWaiverInvalid, `waivers["WEBHOOK_TYPO"]`, `waiver for "WEBHOOK_TYPO": no such rule. Rule IDs are listed in the k8sguard rules guide.`},
		{RuleWebhookTimeout, "webhook[0].timeout_seconds", "slow"},
		{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", "critical"},
		{RuleWebhookNoCA, "webhook[0].ca_bundle", "no ca"},
	})

	// The whole map unknown: only errors no waiver can lift, and warnings.
	expectFindings(t, WithoutWaivableErrors(all), []expectedFinding{
		{RuleWebhookCriticalResource, "webhook[0].rule[0].resources", "critical"},
		{RuleWebhookNoCA, "webhook[0].ca_bundle", "no ca"},
	})
}
