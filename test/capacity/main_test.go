package capacity

import (
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestMain ends the run with the skip summary (the moto-backed node pool
// tests skip only with K8SGUARD_SKIP_AWS=1).
func TestMain(m *testing.M) { infra.Main(m) }
