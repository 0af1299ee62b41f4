package infra

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

var (
	etcdguardOnce sync.Once
	etcdguardBin  string
	etcdguardErr  error
)

// Etcdguard returns the etcdguard binary: the one `make build` put in
// $K8SGUARD_BIN, or one built from this checkout once per test process, so
// a test never runs a stale etcdguard.
func Etcdguard(t TB) string {
	t.Helper()
	if dir := os.Getenv("K8SGUARD_BIN"); dir != "" {
		p := filepath.Join(dir, "etcdguard")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	etcdguardOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			etcdguardErr = err
			return
		}
		dir, err := os.MkdirTemp("", "etcdguard-bin-")
		if err != nil {
			etcdguardErr = err
			return
		}
		version, err := Version()
		if err != nil {
			etcdguardErr = err
			return
		}
		bin := filepath.Join(dir, "etcdguard")
		// Built in the root module, as `make build` does.
		build := exec.Command("go", "build", "-ldflags", LDFlags(version), "-o", bin, "./backup/cmd/etcdguard")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			etcdguardErr = fmt.Errorf("build etcdguard: %v\n%s", err, out)
			return
		}
		etcdguardBin = bin
	})
	if etcdguardErr != nil {
		t.Fatalf("%v", etcdguardErr)
	}
	return etcdguardBin
}
