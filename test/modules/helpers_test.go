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

// expectPlanError inits, runs terraform plan and requires it to fail with
// want (a literal) in its unwrapped output.
func expectPlanError(t *testing.T, opts *terraform.Options, want string) {
	t.Helper()
	terraform.InitContext(t, t.Context(), opts)
	infra.ExpectPlanError(t, opts, regexp.QuoteMeta(want))
}
