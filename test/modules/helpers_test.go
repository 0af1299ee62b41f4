// Package modules_test applies the Terraform modules under modules/ (and
// examples/complete, which composes them) with the freshly built provider:
// cluster-guardrails against the harness's real control plane, etcd-backup
// and control-plane against moto, and the etcd-backup module's rendered
// configuration loaded by the real etcdguard binary.
package modules_test

import (
	"regexp"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestMain ends the run with the skip summary (the moto-backed modules skip
// only with K8SGUARD_SKIP_AWS=1).
func TestMain(m *testing.M) { infra.Main(m) }

// expectPlanError inits, runs terraform plan and requires it to fail with
// want (a literal) in its unwrapped output.
func expectPlanError(t *testing.T, opts *terraform.Options, want string) {
	t.Helper()
	terraform.InitContext(t, t.Context(), opts)
	infra.ExpectPlanError(t, opts, regexp.QuoteMeta(want))
}
