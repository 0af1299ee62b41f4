package infra_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

// fatalTB is a fake testing.TB that records a Fatalf and ends the
// goroutine that called it, as testing.T does, and keeps the cleanups for
// the test to run.
type fatalTB struct {
	*testing.T
	cleanups []func()
	fatal    string
}

func (f *fatalTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fatalTB) Failed() bool      { return f.fatal != "" }
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = format
	runtime.Goexit()
}

// privateSystemdCgroups lists the nested systemd's cgroups (named
// k8sguard-systemd-*) anywhere under /sys/fs/cgroup.
func privateSystemdCgroups(t *testing.T) []string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), "k8sguard-systemd-") {
			found = append(found, p)
			return filepath.SkipDir
		}
		return nil
	})
	return found
}

// A StartSystemd that fails after it made its private cgroups (here: a
// bind of a host path that does not exist) removes them: before, every
// such failure left empty k8sguard-systemd-* cgroups in each hierarchy.
func TestFakeTBStartSystemdFailingAfterItsCgroupsRemovesThem(t *testing.T) {
	infra.NeedSystemd(t)
	before := privateSystemdCgroups(t)
	tb := &fatalTB{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		infra.StartSystemd(tb, infra.SystemdOptions{Binds: map[string]string{
			"/usr/local/bin/etcd": filepath.Join(t.TempDir(), "no-such-etcd"),
		}})
	}()
	<-done
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
	if !strings.HasPrefix(tb.fatal, "systemd test bind %s") {
		t.Fatalf("StartSystemd failed with %q, want the missing bind", tb.fatal)
	}
	var left []string
	for _, c := range privateSystemdCgroups(t) {
		if !slices.Contains(before, c) {
			left = append(left, c)
		}
	}
	if len(left) > 0 {
		t.Fatalf("left behind after the failed start: %q", left)
	}
}
