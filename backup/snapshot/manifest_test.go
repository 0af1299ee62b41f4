package snapshot_test

import (
	"context"
	"strings"
	"testing"

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
	if b := readAll(t, st, "prod/20261122T031500Z-r7.json"); strings.Contains(string(b), "quorum_lost") {
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
