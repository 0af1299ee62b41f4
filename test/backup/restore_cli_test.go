package backup_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

var (
	restoreCLIOnce sync.Once
	restoreCLIPath string
	restoreCLIErr  error
)

// etcdguardForRestore returns the etcdguard binary: the one `make test`
// just built ($K8SGUARD_BIN), or one built from this checkout once per
// test process, so a test never runs a stale binary.
func etcdguardForRestore(t *testing.T) string {
	t.Helper()
	restoreCLIOnce.Do(func() {
		if bin := os.Getenv("K8SGUARD_BIN"); bin != "" {
			if _, err := os.Stat(filepath.Join(bin, "etcdguard")); err == nil {
				restoreCLIPath = filepath.Join(bin, "etcdguard")
				return
			}
		}
		root, err := infra.RepoRoot()
		if err != nil {
			restoreCLIErr = err
			return
		}
		dir, err := os.MkdirTemp("", "etcdguard-bin-")
		if err != nil {
			restoreCLIErr = err
			return
		}
		restoreCLIPath = filepath.Join(dir, "etcdguard")
		cmd := exec.Command("go", "build", "-o", restoreCLIPath, "./backup/cmd/etcdguard")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			restoreCLIErr = fmt.Errorf("go build etcdguard: %v\n%s", err, out)
		}
	})
	if restoreCLIErr != nil {
		t.Fatal(restoreCLIErr)
	}
	return restoreCLIPath
}

// cliResult is one finished etcdguard run.
type cliResult struct {
	Output string // stdout and stderr, interleaved
	Code   int
	Took   time.Duration
}

// runEtcdguard runs the binary with env added to the test's environment.
func runEtcdguard(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(etcdguardForRestore(t), args...)
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
