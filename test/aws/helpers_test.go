package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
)

// importInto removes addr from the state and imports it again by id.
func importInto(t *testing.T, opts *terraform.Options, addr, id string) {
	t.Helper()
	terraform.RunTerraformCommandContext(t, context.Background(), opts, "state", "rm", addr)
	args := []string{"import", "-input=false", "-no-color"}
	args = append(args, terraform.FormatTerraformVarsAsArgs(opts.Vars)...)
	args = append(args, addr, id)
	out := terraform.RunTerraformCommandContext(t, context.Background(), opts, args...)
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
