// Package modules_test applies the Terraform modules under modules/ (and
// examples/complete, which composes them) with the freshly built provider:
// cluster-guardrails against the harness's real control plane, etcd-backup
// and control-plane against moto, and the etcd-backup module's rendered
// configuration loaded by the real etcdguard binary.
package modules_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
)

var boxAndSpace = regexp.MustCompile(`[\s│╷╵]+`)

// squash undoes terraform's wrapping (~78 columns) and box drawing, so a
// diagnostic can be matched as one line.
func squash(s string) string { return boxAndSpace.ReplaceAllString(s, " ") }

// expectPlanError runs terraform plan and requires it to fail with want (a
// literal) in its unwrapped output.
func expectPlanError(t *testing.T, opts *terraform.Options, want string) {
	t.Helper()
	out, err := terraform.InitAndPlanContextE(t, t.Context(), opts)
	if err == nil {
		t.Fatalf("terraform plan succeeded, want an error containing %q:\n%s", want, out)
	}
	if !strings.Contains(squash(out), want) {
		t.Fatalf("terraform plan failed without %q:\n%s", want, out)
	}
}

// expectNoChanges requires `terraform plan -detailed-exitcode` to report
// nothing to do.
func expectNoChanges(t *testing.T, opts *terraform.Options, why string) {
	t.Helper()
	if code := terraform.PlanExitCodeContext(t, t.Context(), opts); code != 0 {
		out, _ := terraform.PlanContextE(t, t.Context(), opts)
		t.Fatalf("%s: plan wants changes (exit code %d):\n%s", why, code, out)
	}
}
