package backup_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cliResult is one finished etcdguard run.
type cliResult struct {
	Output string // stdout and stderr, interleaved
	Code   int
	Took   time.Duration
}

// runEtcdguard runs the binary with env added to the test's environment.
func runEtcdguard(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(snapEtcdguard(t), args...) // the binary the snapshot tests build
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "ETCDGUARD_CONFIG=") // only what the test passes
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := cliResult{Output: string(out), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run etcdguard %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustRunEtcdguard runs etcdguard and fails the test unless it exits 0.
func mustRunEtcdguard(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := runEtcdguard(t, env, args...)
	if r.Code != 0 {
		t.Fatalf("etcdguard %s: exit %d:\n%s", strings.Join(args, " "), r.Code, r.Output)
	}
	return r.Output
}

// logBlock prefixes every line of s for t.Logf.
func logBlock(s string) string {
	return "    | " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    | ")
}
