package snapshot_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/internal/storetest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
)

// quorum_lost is optional: a manifest written before it (or by a normal
// snapshot, which omits it) reads as false, with the same format version;
// one that has it reads back true.
func TestManifestQuorumLostIsOptional(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	old := `{"format_version": 1, "cluster": "prod", "data_key": "prod/20261122T031500Z-r7.db.zst", "revision": 7, "compression": "zstd"}`
	if _, err := st.Put(ctx, "prod/20261122T031500Z-r7.json", strings.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	m, err := snapshot.Read(ctx, st, "prod/20261122T031500Z-r7.json")
	if err != nil || m.QuorumLost {
		t.Fatalf("a manifest from before quorum_lost: %+v, %v", m, err)
	}
	if err := snapshot.Write(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	if b := storetest.Read(t, st, "prod/20261122T031500Z-r7.json"); strings.Contains(string(b), "quorum_lost") {
		t.Fatalf("a normal manifest carries quorum_lost:\n%s", b)
	}
	m.QuorumLost = true
	if err := snapshot.Write(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	if m, err := snapshot.Read(ctx, st, "prod/20261122T031500Z-r7.json"); err != nil || !m.QuorumLost || m.FormatVersion != snapshot.FormatVersion {
		t.Fatalf("a quorum-lost manifest read back as %+v, %v", m, err)
	}
}

// List reads a store's manifests several at a time and still lists them
// newest first, a damaged one as broken; a manifest the store failed to
// return fails the listing (it says nothing about the snapshot).
func TestListReadsManifestsAhead(t *testing.T) {
	ctx := context.Background()
	fs := fileStore(t)
	base := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	for i := range 60 {
		key := fmt.Sprintf("prod/%s-r%d", base.Add(time.Duration(i)*time.Minute).Format("20060102T150405Z"), 100+i)
		body := fmt.Sprintf(`{"format_version": 1, "cluster": "prod", "data_key": %q, "revision": %d, "created_at": %q, "compression": "zstd"}`,
			key+".db.zst", 100+i, base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
		if i == 30 {
			body = "{not json"
		}
		if _, err := fs.Put(ctx, key+".json", strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	isJSON := func(key string) bool { return strings.HasSuffix(key, ".json") }
	st := &storetest.Slow{Store: fs, Match: isJSON, Delay: 10 * time.Millisecond}
	l, err := snapshot.List(ctx, st, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Snapshots) != 59 || len(l.Broken) != 1 {
		t.Fatalf("%d snapshots and %d broken, want 59 and 1", len(l.Snapshots), len(l.Broken))
	}
	for i, m := range l.Snapshots {
		if want := int64(159 - i - min(1, i/29)); i > 0 && m.Revision != want {
			t.Fatalf("snapshot %d is at revision %d, want %d (newest first)", i, m.Revision, want)
		}
	}
	if st.Most() < 2 || st.Most() > 16 {
		t.Fatalf("%d manifest reads at once, want 2..16", st.Most())
	}

	st = &storetest.Slow{Store: fs, Match: isJSON, Delay: 10 * time.Millisecond, Failing: "prod/20261122T032000Z-r120.json"}
	if _, err := snapshot.List(ctx, st, "prod"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("a manifest the store did not return: %v, want the listing failed", err)
	}
}
