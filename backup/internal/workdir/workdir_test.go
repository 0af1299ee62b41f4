package workdir

import (
	"os"
	"path/filepath"
	"testing"
)

// A dir a live run holds stays; one nobody holds (its run was killed: the
// kernel dropped the lock) goes; other names are never touched.
func TestRemoveAbandonedLeavesWhatALiveRunHolds(t *testing.T) {
	parent := t.TempDir()
	live, err := New(parent, "etcdguard-drill-")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	killed := filepath.Join(parent, "etcdguard-drill-killed")
	other := filepath.Join(parent, "etcdguard-drilling-notes")
	for _, d := range []string{filepath.Join(killed, "data", "member"), other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveAbandoned(parent, "etcdguard-drill-")
	if err != nil || len(removed) != 1 || removed[0] != killed {
		t.Fatalf("removed %v, %v; want only %s", removed, err, killed)
	}
	for _, d := range []string{live.Path, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if err := live.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Path); !os.IsNotExist(err) {
		t.Fatalf("Remove left %s: %v", live.Path, err)
	}
}
