package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/preflight"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// preflight reads etcd's database in a child process: this test binary.
func TestMain(m *testing.M) {
	preflight.ServeChild()
	os.Exit(m.Run())
}

func TestPreflightCommandExitCodes(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	storeDir := filepath.Join(t.TempDir(), "store")
	st, err := store.NewFile(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t)
	e.Put(t, map[string]string{"/registry/namespaces/kube-system": "ns"})
	e.Stop()
	old := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(old, os.DirFS(e.DataDir)); err != nil {
		t.Fatal(err)
	}
	live := etcdtest.StartIn(t, e.DataDir)
	for i := range 20 {
		live.Put(t, map[string]string{fmt.Sprintf("/registry/leases/l%d", i): "x"})
	}
	backup := live.Snapshot(t, st, "prod", time.Now(), snapshot.CompressionZstd)
	live.Stop()
	withStore := []string{"--store-url", "file://" + storeDir, "--cluster-name", "prod"}

	out, err := run(t, "preflight", "--data-dir", e.DataDir)
	if err != nil || !strings.HasPrefix(out, "preflight passed: "+filepath.Join(e.DataDir, "member", "snap", "db")) || !strings.Contains(out, "lag check skipped: no store configured") {
		t.Errorf("healthy, no store: err %v\n%s", err, out)
	}
	out, err = run(t, append([]string{"preflight", "--data-dir", e.DataDir}, withStore...)...)
	if err != nil || !strings.Contains(out, fmt.Sprintf("of the newest backup %s (revision %d, taken ", backup.Name(), backup.Revision)) {
		t.Errorf("healthy, with store: err %v\n%s", err, out)
	}
	// A file store whose directory does not exist fails open, like a
	// store that does not answer, and is not created.
	missing := filepath.Join(t.TempDir(), "no-such-store")
	out, err = run(t, "preflight", "--data-dir", e.DataDir, "--store-url", "file://"+missing, "--cluster-name", "prod")
	if err != nil || !strings.Contains(out, "WARNING: lag check skipped: file store file://"+missing+": the directory does not exist") {
		t.Errorf("healthy, missing file store: err %v\n%s", err, out)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("preflight created the missing store directory %s", missing)
	}
	out, err = run(t, append([]string{"preflight", "--data-dir", old, "--max-revision-lag", "5"}, withStore...)...)
	if exitCode(err) != exitStale || !strings.HasPrefix(err.Error(), "refusing to start etcd: database "+filepath.Join(old, "member", "snap", "db")+" is at revision ") {
		t.Errorf("old disk: exit %d, err %v\n%s", exitCode(err), err, out)
	}
	if _, err := run(t, append([]string{"preflight", "--data-dir", old, "--no-lag-check"}, withStore...)...); err != nil {
		t.Errorf("old disk with --no-lag-check: %v", err)
	}
	if err := os.Truncate(filepath.Join(old, "member", "snap", "db"), 5000); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "preflight", "--data-dir", old)
	if exitCode(err) != exitCorrupt || !strings.Contains(err.Error(), "is corrupt: truncated: 5000 bytes") {
		t.Errorf("truncated: exit %d, err %v", exitCode(err), err)
	}
	_, err = run(t, "preflight")
	if exitCode(err) != 1 || err.Error() != "--data-dir is required: etcd's data dir, as in its unit" {
		t.Errorf("no --data-dir: exit %d, err %v", exitCode(err), err)
	}
	empty := t.TempDir()
	_, err = run(t, append([]string{"preflight", "--data-dir", empty}, withStore...)...)
	if exitCode(err) != exitStale || !strings.Contains(err.Error(), "is empty, but the store holds backup "+backup.Name()) {
		t.Errorf("empty with backups: exit %d, err %v", exitCode(err), err)
	}
	if out, err := run(t, append([]string{"preflight", "--data-dir", empty, "--allow-empty"}, withStore...)...); err != nil || !strings.Contains(out, "has no database yet") {
		t.Errorf("empty with --allow-empty: %v\n%s", err, out)
	}
}

// The store's timeout bounds the lag check's listing, not the reading of
// the database: a large one on a cold, throttled disk at boot takes longer
// than the store is given, and a preflight cut short keeps etcd down.
func TestPreflightStoreTimeoutDoesNotBoundTheDatabaseCheck(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	storeDir := t.TempDir()
	e := etcdtest.Start(t)
	e.Put(t, map[string]string{"/registry/namespaces/kube-system": "ns"})
	e.Stop()
	defer func(d time.Duration) { preflightStoreTimeout = d }(preflightStoreTimeout)
	preflightStoreTimeout = time.Millisecond // shorter than the child's read of the database
	for _, args := range [][]string{nil, {"--store-url", "file://" + storeDir, "--cluster-name", "prod"}} {
		out, err := run(t, append([]string{"preflight", "--data-dir", e.DataDir}, args...)...)
		if err != nil || !strings.HasPrefix(out, "preflight passed: ") {
			t.Errorf("preflight %v with a store timeout shorter than the database check: exit %d, err %v\n%s", args, exitCode(err), err, out)
		}
	}
}

// The passed line's compaction: the one etcd finished, and the one a
// bumped restore scheduled for etcd's start (not "compacted at 0").
func TestPreflightCompactionWording(t *testing.T) {
	for _, c := range []struct {
		finished, scheduled int64
		want                string
	}{
		{0, 0, "compacted at 0"},
		{120, 120, "compacted at 120"},
		{0, 1_000_001_500, "compacted at 0, to 1000001500 when etcd starts"},
		{120, 1_000_001_500, "compacted at 120, to 1000001500 when etcd starts"},
	} {
		if got := compaction(&preflight.Report{CompactRevision: c.finished, ScheduledCompactRevision: c.scheduled}); got != c.want {
			t.Errorf("finished %d, scheduled %d: %q, want %q", c.finished, c.scheduled, got, c.want)
		}
	}
}
