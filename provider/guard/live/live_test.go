package live_test

import (
	"testing"

	"github.com/k8sguard/k8sguard/provider/guard"
	"github.com/k8sguard/k8sguard/provider/guard/guardtest"
	"github.com/k8sguard/k8sguard/provider/guard/live"
)

// The audit reports each rule once per object, as the API server names
// it once in its denial: the Jetstack webhook has wildcards in two fields
// of its rule, which the plan reports as two findings.
func TestOneFindingPerRuleAndObject(t *testing.T) {
	s := guard.Settings{ProtectedNamespaces: []string{"kube-system"}, MaxWebhookTimeoutSeconds: 5}
	hook := guardtest.JetstackWebhook()
	planned := guard.CheckWebhooks(live.ValidatingWebhooks(hook), s)
	fs, err := live.Check(hook, s)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, f := range fs {
		seen[f.RuleID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s reported %d times on one object", id, n)
		}
	}
	if seen[guard.RuleWebhookWildcard] != 1 || len(planned) <= len(fs) {
		t.Fatalf("audit %d findings (%v) from the plan's %d: want every rule once, and the plan's repeats folded", len(fs), seen, len(planned))
	}
}
