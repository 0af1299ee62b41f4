package infra_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

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

// Inside the nested systemd's namespace every mount a path reaches is
// read-only, but those the harness made for it (its k8sguard-* tmpfs and
// overlays, the cgroup hierarchies, devpts, /proc, device nodes bound into
// its /dev, and what is mounted on those), checked from its own mount table: a host mount left writable
// (a /sys submount, a host tmpfs) fails it.
func TestStartSystemdLeavesOnlyItsOwnMountsWritable(t *testing.T) {
	sd := infra.StartSystemd(t, infra.SystemdOptions{})
	out, err := sd.Exec(10*time.Second, "cat", "/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("mountinfo inside: %v\n%s", err, out)
	}
	type mount struct{ id, parent, mp, opts, fstype, source, line string }
	var mounts []mount
	byID := map[string]mount{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 2 {
			t.Fatalf("mountinfo line %q", line)
		}
		m := mount{f[0], f[1], f[4], f[5], g[0], g[1], line}
		mounts = append(mounts, m)
		byID[m.id] = m
	}
	// A mount is out of reach when another covers its mount point (the
	// host's /dev under the namespace's), or its parent is.
	covered := func(m mount) bool {
		return slices.ContainsFunc(mounts, func(o mount) bool { return o.parent == m.id && o.mp == m.mp })
	}
	var reachable func(m mount, depth int) bool
	reachable = func(m mount, depth int) bool {
		if covered(m) {
			return false
		}
		p, ok := byID[m.parent]
		return !ok || p.id == m.id || depth > 64 || reachable(p, depth+1)
	}
	// What the harness mounted, and what is mounted on it (systemd's
	// /run/lock, a bound data dir: made inside the namespace).
	var own func(m mount, depth int) bool
	own = func(m mount, depth int) bool {
		if strings.HasPrefix(m.source, "k8sguard-") || m.source == "cgroup-root" || strings.HasPrefix(m.mp, "/dev/") ||
			slices.Contains([]string{"proc", "devpts", "cgroup", "cgroup2", "mqueue"}, m.fstype) {
			return true
		}
		p, ok := byID[m.parent]
		return ok && p.id != m.id && depth < 64 && own(p, depth+1)
	}
	checked := 0
	for _, m := range mounts {
		if !reachable(m, 0) {
			continue
		}
		checked++
		if !own(m, 0) && !slices.Contains(strings.Split(m.opts, ","), "ro") {
			t.Errorf("inside the nested systemd's namespace %s (%s %s) is writable: %s", m.mp, m.fstype, m.source, m.line)
		}
	}
	if checked < 10 {
		t.Fatalf("only %d reachable mounts inside: the mount table was misread\n%s", checked, out)
	}
}
