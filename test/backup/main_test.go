package backup_test

import (
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestMain ends the run with the skip summary (the systemd PID 1 test
// skips on K8SGUARD_SKIP_SYSTEMD=1, the full-disk tests on
// K8SGUARD_SKIP_FULL_DISK=1).
func TestMain(m *testing.M) { infra.Main(m) }
