package modules_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/infra"
)

var testSummary = regexp.MustCompile(`Success! (\d+) passed, 0 failed\.`)

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
