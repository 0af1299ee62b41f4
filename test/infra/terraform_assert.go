package infra

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
)

var wrapAndBox = regexp.MustCompile(`[\s│╷╵]+`)

// Unwrap undoes terraform's line wrapping (~78 columns, even without a
// terminal) and its box drawing, so a diagnostic can be matched as one line.
func Unwrap(s string) string { return wrapAndBox.ReplaceAllString(s, " ") }

// PlanE is terratest's PlanContextE with terraform's error stream first
// and its output after it, each whole. terratest's own interleaves the two
// line by line as they arrive, and a plan's resource listing (stdout) once
// landed in the middle of a wrapped diagnostic (stderr), which then did not
// match.
func PlanE(t *testing.T, ctx context.Context, opts *terraform.Options) (string, error) {
	return runSeparated(t, ctx, opts, append([]string{"plan", "-input=false", "-lock=false"}, opts.ExtraArgs.Plan...)...)
}

// ApplyE is terratest's ApplyContextE, its output as PlanE's.
func ApplyE(t *testing.T, ctx context.Context, opts *terraform.Options) (string, error) {
	return runSeparated(t, ctx, opts, append([]string{"apply", "-input=false", "-auto-approve"}, opts.ExtraArgs.Apply...)...)
}

// InitAndPlanE and InitAndApplyE init first, as terratest's do.
func InitAndPlanE(t *testing.T, ctx context.Context, opts *terraform.Options) (string, error) {
	if out, err := terraform.InitContextE(t, ctx, opts); err != nil {
		return out, err
	}
	return PlanE(t, ctx, opts)
}

func InitAndApplyE(t *testing.T, ctx context.Context, opts *terraform.Options) (string, error) {
	if out, err := terraform.InitContextE(t, ctx, opts); err != nil {
		return out, err
	}
	return ApplyE(t, ctx, opts)
}

func runSeparated(t *testing.T, ctx context.Context, opts *terraform.Options, args ...string) (string, error) {
	stdout, stderr, _, err := terraform.RunTerraformCommandAndGetStdOutErrCodeContextE(t, ctx, opts, terraform.FormatArgs(opts, args...)...)
	return stderr + "\n" + stdout, err
}

// ExpectPlanError runs `terraform plan` (after init) and requires it to fail
// with pattern in its unwrapped output; it returns the matched text.
func ExpectPlanError(t *testing.T, opts *terraform.Options, pattern string) string {
	t.Helper()
	out, err := PlanE(t, context.Background(), opts)
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

// ExpectApplyRefused is for a configuration whose guarded value comes from
// another resource's output, unknown at plan: `terraform plan` must pass
// (the rule cannot see the value yet, and the plan shows it as known after
// apply), `terraform apply` must fail with [ruleID] once the value is known,
// and the state must hold no k8sguard resource. It returns the diagnostic's
// first line. The caller checks through the API that nothing was created.
func ExpectApplyRefused(t *testing.T, opts *terraform.Options, ruleID string) string {
	t.Helper()
	ctx := context.Background()
	plan, err := InitAndPlanE(t, ctx, opts)
	if err != nil {
		t.Fatalf("terraform plan failed; the value was meant to be unknown until apply:\n%s", plan)
	}
	if !strings.Contains(plan, "(known after apply)") || strings.Contains(plan, ruleID) {
		t.Fatalf("plan does not show the guarded value as unknown, or already names %s:\n%s", ruleID, plan)
	}
	out, err := ApplyE(t, ctx, opts)
	if err == nil {
		t.Fatalf("terraform apply succeeded, want it refused with [%s] on the value known at apply:\n%s", ruleID, out)
	}
	m := strings.TrimSpace(regexp.MustCompile(`Error: \[` + regexp.QuoteMeta(ruleID) + `\].*?\.(\s|$)`).FindString(Unwrap(out)))
	if m == "" {
		t.Fatalf("terraform apply failed without [%s]:\n%s", ruleID, out)
	}
	state, err := terraform.RunTerraformCommandContextE(t, ctx, opts, "state", "list")
	if err != nil {
		t.Fatalf("terraform state list: %v\n%s", err, state)
	}
	if strings.Contains(state, "k8sguard_") {
		t.Fatalf("after the refused apply the state holds a k8sguard resource:\n%s", state)
	}
	return m
}

// Secret is a credential a test hands to terraform, by the name a failure
// reports.
type Secret struct{ What, Value string }

// RequireSecretsAbsentFromTraceRun applies, plans and destroys opts with
// TF_LOG=trace, afterApply run between apply and plan (to check the apply
// reached its target), and fails for each secret found in terraform's
// output, the state after apply, or the trace log. A log without the
// provider's lines fails too: the search would prove nothing.
func RequireSecretsAbsentFromTraceRun(t *testing.T, opts *terraform.Options, secrets []Secret, afterApply func()) {
	t.Helper()
	ctx := context.Background()
	logFile := filepath.Join(t.TempDir(), "terraform-trace.log")
	opts.EnvVars["TF_LOG"] = "trace"
	opts.EnvVars["TF_LOG_PATH"] = logFile
	outputs := []string{terraform.InitAndApplyContext(t, ctx, opts)}
	if afterApply != nil {
		afterApply()
	}
	outputs = append(outputs, terraform.PlanContext(t, ctx, opts))
	state, err := os.ReadFile(filepath.Join(opts.TerraformDir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, terraform.DestroyContext(t, ctx, opts))
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	const providerLines = "provider.terraform-provider-k8sguard"
	if !strings.Contains(string(log), providerLines) {
		t.Fatalf("the trace log (%d bytes) holds no provider lines: TF_LOG=trace did not reach the provider", len(log))
	}
	for _, s := range secrets {
		for _, where := range []struct{ name, text string }{
			{"terraform's output", strings.Join(outputs, "\n")}, {"the state", string(state)}, {"the TF_LOG=trace log", string(log)},
		} {
			if strings.Contains(where.text, s.Value) {
				t.Errorf("%s appears in %s", s.What, where.name)
			}
		}
	}
	t.Logf("trace log: %d bytes, %d provider lines; no credential in it, in the state or in the output",
		len(log), strings.Count(string(log), providerLines))
}
