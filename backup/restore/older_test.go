package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// olderStore is a file store with the manifests of full snapshots and
// their delta chains, no data: olderChainReaching reads manifests only.
func olderStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// putSnapshot stores the manifest of a snapshot of cluster "c" of the
// etcd cluster clusterID at rev, taken at minute min, and a whole chain
// of segments of 10 revisions after it up to last.
func putSnapshot(t *testing.T, st store.Store, clusterID string, rev int64, min int, last int64) *snapshot.Manifest {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 3, min, 0, 0, time.UTC)
	m := &snapshot.Manifest{FormatVersion: snapshot.FormatVersion, Cluster: "c", DataKey: snapshot.DataKey("c", at, rev, snapshot.CompressionZstd),
		CreatedAt: at, Revision: rev, ClusterID: clusterID, Compression: snapshot.CompressionZstd, StoredSHA256: fmt.Sprintf("%064x", rev)}
	if err := snapshot.Write(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	prev := m.StoredSHA256
	for seq, first := 1, rev+1; first <= last; seq, first = seq+1, first+10 {
		d := &delta.Manifest{FormatVersion: delta.FormatVersion, Kind: delta.Kind, Snapshot: m.Name(), Sequence: seq,
			FirstRevision: first, LastRevision: min64(first+9, last), PrevSHA256: prev, SHA256: fmt.Sprintf("%064x", 1000*rev+int64(seq)),
			CoveredAt: at.Add(time.Duration(seq) * time.Second)}
		d.DataKey = delta.DataKey(m, d.Name())
		if err := snapshot.WriteJSON(ctx, st, delta.ManifestKey(d.DataKey), d); err != nil {
			t.Fatal(err)
		}
		prev = d.SHA256
	}
	return m
}

func min64(a, b int64) int64 { return min(a, b) }

// An older snapshot of another etcd cluster under the same name (the
// cluster before a restore without a revision bump, whose revisions the
// new one numbers again) is not named: its chain reaches the revision
// number, not the state.
func TestOlderChainReachingIsOfTheSameEtcdCluster(t *testing.T) {
	st := olderStore(t)
	same := putSnapshot(t, st, "aaaa", 10, 0, 200)
	other := putSnapshot(t, st, "ffff", 20, 1, 200) // the cluster before the restore
	refused := putSnapshot(t, st, "aaaa", 50, 2, 50)
	plan := &Plan{Point: Point{Revision: 60}, Snapshot: refused}
	got, err := olderChainReaching(context.Background(), st, plan)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Name() != same.Name() {
		name := "none"
		if got != nil {
			name = got.Name()
		}
		t.Fatalf("named %s, want %s (not %s, of etcd cluster %s)", name, same.Name(), other.Name(), other.ClusterID)
	}
}

// unlistable fails every listing, as an unreachable store does.
type unlistable struct{ store.Store }

func (unlistable) List(context.Context, string) ([]store.Object, error) {
	return nil, errors.New("dial tcp 127.0.0.1:9: connection refused")
}

// A store that cannot say whether an older chain reaches the point does
// not make the refusal claim that none does.
func TestPastPointErrorWhenTheStoreCannotSay(t *testing.T) {
	st := olderStore(t)
	putSnapshot(t, st, "aaaa", 10, 0, 200)
	refused := putSnapshot(t, st, "aaaa", 50, 2, 50)
	plan := &Plan{Point: Point{Revision: 60}, Snapshot: refused}
	m, err := olderChainReaching(context.Background(), unlistable{st}, plan)
	if m != nil || err == nil {
		t.Fatalf("an unlistable store: %v, %v; want an error", m, err)
	}
	msg := (&PastPointError{Snapshot: refused, Holds: 53, Want: 60, Unknown: err}).Error()
	if strings.Contains(msg, "no older snapshot") || !strings.Contains(msg, "connection refused") {
		t.Fatalf("refusal %q: want the store's failure, not that no older chain reaches 60", msg)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := olderChainReaching(ctx, st, plan); m != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled lookup: %v, %v; want context.Canceled", m, err)
	}
}

// A restore to a revision past the newest chain does not fall back to
// the chain of another etcd cluster under the same name (the one before a
// restore without a revision bump, whose history numbers the same
// revisions): it is refused, and the older cluster's chain is restored
// only when pinned with --snapshot. The same cluster's older chain, one
// that goes on past a snapshot taken by hand, is still used.
func TestPlanPointKeepsToTheNewestSnapshotsEtcdCluster(t *testing.T) {
	ctx := context.Background()
	st := olderStore(t)
	before := putSnapshot(t, st, "ffff", 100, 0, 300) // the cluster before the restore
	after := putSnapshot(t, st, "aaaa", 120, 10, 150) // restored, no bump: revisions from 100 on again
	_, err := PlanPoint(ctx, st, "c", Point{Revision: 200})
	if want := fmt.Sprintf("the chain of %s ends at revision 150", after.Name()); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("restore to revision 200: %v; want refused: %q", err, want)
	}
	plan, err := PlanPointFrom(ctx, st, before, Point{Revision: 200})
	if err != nil || plan.Snapshot.Name() != before.Name() {
		t.Fatalf("pinned to %s: %+v, %v", before.Name(), plan, err)
	}

	agent := putSnapshot(t, st, "aaaa", 160, 20, 400)
	putSnapshot(t, st, "aaaa", 200, 21, 200) // by hand: no chain
	plan, err = PlanPoint(ctx, st, "c", Point{Revision: 300})
	if err != nil || plan.Snapshot.Name() != agent.Name() {
		t.Fatalf("restore to revision 300 past a snapshot by hand: %+v, %v; want the agent's chain from %s", plan, err, agent.Name())
	}
}
