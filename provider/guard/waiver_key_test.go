package guard

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestWaiverAnnotationKeysAreValidAnnotationKeys is differential against
// the API server's own annotation key check (apimachinery's
// IsQualifiedName, which ValidateAnnotations runs on every key): every
// rule's `k8sguard.io/waive.<RULE_ID>` key must be one a live object can
// carry, or the rule could not be waived on it. A rule ID that grows past
// the 63 characters of a name part would fail here.
func TestWaiverAnnotationKeysAreValidAnnotationKeys(t *testing.T) {
	for _, r := range Rules() {
		if errs := validation.IsQualifiedName(WaiverAnnotationPrefix + r.ID); len(errs) > 0 {
			t.Errorf("rule %s: the waiver annotation key %q is refused by the API server: %v", r.ID, WaiverAnnotationPrefix+r.ID, errs)
		}
	}
}
