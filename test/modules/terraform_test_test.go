package modules_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/k8sguard/k8sguard/test/infra"
	"github.com/k8sguard/k8sguard/test/moduledocs"
)

var testSummary = regexp.MustCompile(`Success! (\d+) passed, 0 failed\.`)

// planRunsExpectingFailure counts, per variable, the runs of the module's
// tests/*.tftest.hcl that expect its validation to fail
// (expect_failures = [var.<name>]); such a run must be plan-only.
func planRunsExpectingFailure(t *testing.T, dir string) map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "tests", "*.tftest.hcl"))
	runs := map[string]int{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", f, diags.Error())
		}
		for _, run := range file.Body.(*hclsyntax.Body).Blocks {
			a, ok := run.Body.Attributes["expect_failures"]
			if run.Type != "run" || !ok {
				continue
			}
			if c, ok := run.Body.Attributes["command"]; !ok || hcl.ExprAsKeyword(c.Expr) != "plan" {
				t.Errorf("%s: run %q expects failures but is not command = plan", filepath.Base(f), run.Labels[0])
			}
			refs, diags := hcl.ExprList(a.Expr)
			if diags.HasErrors() {
				t.Fatalf("%s: run %q: expect_failures: %s", filepath.Base(f), run.Labels[0], diags.Error())
			}
			for _, ref := range refs {
				tr, diags := hcl.AbsTraversalForExpr(ref)
				if !diags.HasErrors() && len(tr) == 2 && tr.RootName() == "var" {
					if attr, ok := tr[1].(hcl.TraverseAttr); ok {
						runs[attr.Name]++
					}
				}
			}
		}
	}
	return runs
}

// Every module's native tests (modules/*/tests/*.tftest.hcl: plan-only
// runs for each input validation, with the provider mocked) pass under the
// real terraform, with k8sguard's schema from the freshly built provider.
func TestModulesTerraformTest(t *testing.T) {
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	modules, _ := filepath.Glob(filepath.Join(root, "modules", "*", "tests", "*.tftest.hcl"))
	dirs := map[string]bool{}
	for _, m := range modules {
		dirs[filepath.Dir(filepath.Dir(m))] = true
	}
	all, _ := filepath.Glob(filepath.Join(root, "modules", "*", "main.tf"))
	for _, m := range all {
		if !dirs[filepath.Dir(m)] {
			t.Errorf("%s has no tests/*.tftest.hcl", filepath.Dir(m))
		}
	}
	for dir := range dirs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			// Each validation block needs a plan run that trips it: at
			// least as many expect_failures runs per variable as it has
			// validations (a count, not a match of run to block: the
			// exact messages are test/modules' terratest cases).
			validations, err := moduledocs.Validations(dir)
			if err != nil {
				t.Fatal(err)
			}
			runs := planRunsExpectingFailure(t, dir)
			for name, n := range validations {
				if runs[name] < n {
					t.Errorf("var.%s has %d validations but %s/tests has %d plan runs expecting it to fail", name, n, rel, runs[name])
				}
			}
			opts := infra.Terraform(t, rel, nil)
			terraform.InitContext(t, t.Context(), opts)
			cmd := exec.CommandContext(t.Context(), "terraform", "test", "-no-color")
			cmd.Dir = opts.TerraformDir
			cmd.Env = os.Environ()
			for k, v := range opts.EnvVars {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			m := testSummary.FindStringSubmatch(string(out))
			if err != nil || m == nil {
				t.Fatalf("terraform test in %s: %v\n%s", rel, err, out)
			}
			t.Logf("%s: %s runs passed (%d run blocks)", rel, m[1], strings.Count(string(out), "run \""))
		})
	}
}
