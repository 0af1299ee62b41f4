package aws_test

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

// expectPlanError runs terraform plan and requires it to fail with the
// pattern in its output; it returns the matched text for the log.
func expectPlanError(t *testing.T, opts *terraform.Options, pattern string) string {
	t.Helper()
	out, err := terraform.PlanE(t, opts)
	if err == nil {
		t.Fatalf("terraform plan succeeded, want an error matching %q:\n%s", pattern, out)
	}
	m := regexp.MustCompile(pattern).FindString(squash(out))
	if m == "" {
		t.Fatalf("terraform plan failed without %q:\n%s", pattern, out)
	}
	return m
}

// expectNoChanges requires `terraform plan -detailed-exitcode` to report
// nothing to do.
func expectNoChanges(t *testing.T, opts *terraform.Options, why string) {
	t.Helper()
	if code := terraform.PlanExitCode(t, opts); code != 0 {
		out, _ := terraform.PlanE(t, opts)
		t.Fatalf("%s: plan wants changes (exit code %d):\n%s", why, code, out)
	}
}

// importInto removes addr from the state and imports it again by id.
func importInto(t *testing.T, opts *terraform.Options, addr, id string) {
	t.Helper()
	terraform.RunTerraformCommand(t, opts, "state", "rm", addr)
	args := []string{"import", "-input=false", "-no-color"}
	args = append(args, terraform.FormatTerraformVarsAsArgs(opts.Vars)...)
	args = append(args, addr, id)
	out := terraform.RunTerraformCommand(t, opts, args...)
	if !strings.Contains(out, "Import successful") {
		t.Fatalf("terraform import %s %s:\n%s", addr, id, out)
	}
}

// withVars returns a copy of opts whose variables are opts.Vars with the
// overrides applied (a nil value removes the variable): one plan with other
// inputs that leaves the options the rest of the test uses alone.
func withVars(opts *terraform.Options, overrides map[string]any) *terraform.Options {
	o := *opts
	o.Vars = map[string]any{}
	for k, v := range opts.Vars {
		o.Vars[k] = v
	}
	for k, v := range overrides {
		if v == nil {
			delete(o.Vars, k)
		} else {
			o.Vars[k] = v
		}
	}
	return &o
}
