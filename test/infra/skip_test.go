package infra_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestMain ends the run with the skip summary (TestMotoAnswersSTS skips
// only with K8SGUARD_SKIP_AWS=1).
func TestMain(m *testing.M) { infra.Main(m) }

// A missing moto_server fails a moto test with where it looked and how to
// install it; only K8SGUARD_SKIP_AWS=1 turns that into a skip, and then the
// run says so at its end and in the report `make test` summarises. Runs
// TestMotoAnswersSTS in a child test process whose PATH, pyenv root and
// $MOTO_SERVER hold no moto.
func TestMissingMotoFailsUnlessOptedOut(t *testing.T) {
	empty := t.TempDir()
	bin := t.TempDir() // PATH: bash (find-moto.sh needs it) and nothing else
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	if err := os.Symlink(bash, filepath.Join(bin, "bash")); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + bin, "PYENV_ROOT=" + empty, "HOME=" + empty}
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "PATH", "PYENV_ROOT", "HOME", "MOTO_SERVER", infra.SkipAWSEnv, infra.SkipReportEnv:
		default:
			env = append(env, kv)
		}
	}
	run := func(extra ...string) (string, int) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestMotoAnswersSTS$", "-test.v", "-test.count=1")
		cmd.Env = append(append([]string{}, env...), extra...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &exit):
			return string(out), exit.ExitCode()
		default:
			t.Fatalf("run %s: %v", os.Args[0], err)
			return "", -1
		}
	}

	out, code := run()
	t.Logf("without moto:\n%s", out)
	want := "moto_server not found: no working moto_server at $MOTO_SERVER (unset), on PATH, " + empty + "/versions/*/bin/moto_server and " +
		empty + "/shims/moto_server. The AWS tests run against it: install it with `pip install \"moto[server]\"`"
	if code == 0 || !strings.Contains(out, "--- FAIL: TestMotoAnswersSTS") || !strings.Contains(out, want) ||
		!strings.Contains(out, "set K8SGUARD_SKIP_AWS=1") {
		t.Fatalf("without moto the test exited %d, want a failure saying %q and naming K8SGUARD_SKIP_AWS=1", code, want)
	}

	report := filepath.Join(t.TempDir(), "skips.txt")
	out, code = run(infra.SkipAWSEnv+"=1", infra.SkipReportEnv+"="+report)
	t.Logf("with %s=1:\n%s", infra.SkipAWSEnv, out)
	if code != 0 || !strings.Contains(out, "--- SKIP: TestMotoAnswersSTS") ||
		!strings.Contains(out, "SKIPPED 1 test: K8SGUARD_SKIP_AWS=1 (moto-backed AWS tests)\n") {
		t.Fatalf("with %s=1 the run exited %d, want a pass ending with the skip summary", infra.SkipAWSEnv, code)
	}
	got, err := os.ReadFile(report)
	if err != nil || string(got) != "K8SGUARD_SKIP_AWS=1 (moto-backed AWS tests)\tTestMotoAnswersSTS\n" {
		t.Fatalf("skip report = %q, %v", got, err)
	}
}

func TestSkipSummaryCountsPerReason(t *testing.T) {
	got := infra.FormatSkipSummary(map[string]int{infra.ReasonRealAWSOff: 5, infra.ReasonSkipAWS: 12, "one reason": 1})
	want := "SKIPPED 12 tests: K8SGUARD_SKIP_AWS=1 (moto-backed AWS tests)\n" +
		"SKIPPED 5 tests: K8SGUARD_AWS_ACCEPTANCE unset (real-AWS runs, billable)\n" +
		"SKIPPED 1 test: one reason\n"
	if got != want {
		t.Fatalf("summary:\n%s\nwant:\n%s", got, want)
	}
	if s := infra.FormatSkipSummary(nil); s != "" {
		t.Fatalf("summary of no skips = %q, want empty", s)
	}
}
