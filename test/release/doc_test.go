// Package release_test checks what a release ships: one VERSION in both
// binaries and in the provider's user agent, and `make release`'s artefacts
// installed by the real terraform from a packed filesystem mirror.
package release_test

import (
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestMain ends the run with the skip summary (the user-agent test's moto
// half skips only with K8SGUARD_SKIP_AWS=1).
func TestMain(m *testing.M) { infra.Main(m) }
