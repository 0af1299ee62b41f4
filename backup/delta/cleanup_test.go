package delta

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// A segment's data object without a manifest younger than CommitGrace may
// be another agent's commit in flight (a leader that stopped and resigned,
// its last manifest still to come): cleanup leaves it, whatever olderThan
// says, and removes an older one.
func TestCleanupLeavesAYoungSegmentToItsWriter(t *testing.T) {
	dir := t.TempDir()
	st, err := store.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	snap := &snapshot.Manifest{DataKey: "c/20261122T021500Z-r10.db.zst"}
	if _, err := st.Put(ctx, snapshot.ManifestKey(snap.DataKey), bytes.NewReader([]byte("{}"))); err != nil {
		t.Fatal(err)
	}
	committed := DataKey(snap, SegmentName(1, 11, 20))
	old, young := DataKey(snap, SegmentName(2, 21, 30)), DataKey(snap, SegmentName(3, 31, 40))
	for _, k := range []string{committed, ManifestKey(committed), old, young} {
		if _, err := st.Put(ctx, k, bytes.NewReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	longAgo := time.Now().Add(-snapshot.CommitGrace - time.Minute)
	if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(old)), longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	n, err := Cleanup(ctx, st, "c", []*snapshot.Manifest{snap}, time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("cleanup removed %d objects, err %v; want the old uncommitted segment only", n, err)
	}
	for k, want := range map[string]bool{committed: true, ManifestKey(committed): true, old: false, young: true} {
		if _, err := st.Stat(ctx, k); (err == nil) != want {
			t.Errorf("%s: present %v, want %v", k, err == nil, want)
		}
	}
}
