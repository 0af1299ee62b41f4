package infra

import (
	"context"
	"regexp"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
)

var wrapAndBox = regexp.MustCompile(`[\s│╷╵]+`)

// Unwrap undoes terraform's line wrapping (~78 columns, even without a
// terminal) and its box drawing, so a diagnostic can be matched as one line.
func Unwrap(s string) string { return wrapAndBox.ReplaceAllString(s, " ") }

// ExpectPlanError runs `terraform plan` (after init) and requires it to fail
// with pattern in its unwrapped output; it returns the matched text.
func ExpectPlanError(t *testing.T, opts *terraform.Options, pattern string) string {
	t.Helper()
	out, err := terraform.PlanContextE(t, context.Background(), opts)
	if err == nil {
		t.Fatalf("terraform plan succeeded, want an error matching %q:\n%s", pattern, out)
	}
	m := regexp.MustCompile(pattern).FindString(Unwrap(out))
	if m == "" {
		t.Fatalf("terraform plan failed without %q:\n%s", pattern, out)
	}
	return m
}

// ExpectNoChanges requires `terraform plan -detailed-exitcode` to report
// nothing to do; why says when (for example "after import").
func ExpectNoChanges(t *testing.T, opts *terraform.Options, why string) {
	t.Helper()
	if code := terraform.PlanExitCodeContext(t, context.Background(), opts); code != 0 {
		out, _ := terraform.PlanContextE(t, context.Background(), opts)
		t.Fatalf("%s: plan wants changes (exit code %d):\n%s", why, code, out)
	}
}
