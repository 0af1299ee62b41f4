package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// A data object without a manifest younger than CommitGrace may be another
// writer's, its manifest still to come: cleanup leaves it, whatever
// olderThan says, and removes an older one.
func TestCleanupLeavesAYoungOrphanToItsWriter(t *testing.T) {
	dir := t.TempDir()
	st, err := store.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	young, old := "c/20261122T031500Z-r2.db.zst", "c/20261122T021500Z-r1.db.zst"
	for _, k := range []string{young, old} {
		if _, err := st.Put(ctx, k, strings.NewReader("data")); err != nil {
			t.Fatal(err)
		}
	}
	longAgo := time.Now().Add(-snapshot.CommitGrace - time.Minute)
	if err := os.Chtimes(filepath.Join(dir, old), longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	r, err := snapshot.Cleanup(ctx, st, "c", time.Now().Add(time.Second))
	if err != nil || r.Orphans != 1 {
		t.Fatalf("cleanup removed %d orphans, err %v; want the old one only", r.Orphans, err)
	}
	l, err := snapshot.List(ctx, st, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Orphans) != 1 || l.Orphans[0].Key != young {
		t.Fatalf("left %v, want only %s", l.Orphans, young)
	}
}

// An unfinished upload younger than CommitGrace may be a live writer's
// (the agent's, while a snapshot is taken by hand): cleanup leaves it,
// whatever olderThan says, and removes an older one.
func TestCleanupLeavesAYoungUploadToItsWriter(t *testing.T) {
	dir := t.TempDir()
	st, err := store.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	young, old := filepath.Join(dir, "c", "young.db.zst.partial"), filepath.Join(dir, "c", "old.db.zst.partial")
	if err := os.MkdirAll(filepath.Dir(young), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{young, old} {
		if err := os.WriteFile(p, []byte("part"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	longAgo := time.Now().Add(-snapshot.CommitGrace - time.Minute)
	if err := os.Chtimes(old, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	r, err := snapshot.Cleanup(context.Background(), st, "c", time.Now().Add(time.Second))
	if err != nil || r.IncompleteUploads != 1 {
		t.Fatalf("cleanup removed %d incomplete uploads, err %v; want the old one only", r.IncompleteUploads, err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Fatalf("the young upload is gone: %v", err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("the old upload is still there: %v", err)
	}
}
