package check_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/check"
	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// TestRPOAndBrokenChain judges a real delta chain (the agent's Follow on
// an embedded etcd, a file store): OK while fresh, WARNING and CRITICAL as
// its coverage ages past max_rpo_warning and max_rpo_critical, CRITICAL
// once a segment goes missing; and no judgement without any deltas.
func TestRPOAndBrokenChain(t *testing.T) {
	const cluster = "prod-eu1"
	ctx := context.Background()
	st, e := storeAndEtcd(t)
	res, err := snapshot.Take(ctx, e.Config(), st, snapshot.Options{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	finding := func(now time.Time, name string) check.Finding {
		t.Helper()
		r := check.Run(ctx, st, check.Options{Cluster: cluster, MaxAge: time.Hour, ShrinkRatio: 0.5, Now: now,
			Deltas: true, MaxRPOWarning: time.Minute, MaxRPOCritical: 5 * time.Minute})
		for _, f := range r.Findings {
			if f.Check == name {
				return f
			}
		}
		t.Fatalf("no %s finding in %+v", name, r.Findings)
		return check.Finding{}
	}
	if f := finding(time.Now().Add(time.Hour), "rpo"); f.Status != check.OK || !strings.Contains(f.Message, "not in use") {
		t.Fatalf("without deltas: %+v, want OK, not in use", f)
	}

	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(fctx, e.Client, st, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: 50 * time.Millisecond})
	}()
	for i := range 3 {
		e.Put(t, map[string]string{fmt.Sprintf("/registry/configmaps/default/cm-%d", i): "v"})
		time.Sleep(120 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, err := delta.Load(ctx, st, res.Manifest, nil)
	if err != nil || len(c.Segments) < 3 {
		t.Fatalf("chain: %v, %d segments", err, len(c.Segments))
	}
	covered := c.CoveredAt()
	for _, tc := range []struct {
		age  time.Duration
		want check.Status
	}{{10 * time.Second, check.OK}, {2 * time.Minute, check.Warning}, {10 * time.Minute, check.Critical}} {
		f := finding(covered.Add(tc.age), "rpo")
		if f.Status != tc.want {
			t.Errorf("rpo %s: %+v, want %s", tc.age, f, tc.want)
		}
		t.Logf("rpo %s: %s %s", tc.age, f.Status, f.Message)
	}

	gone := c.Segments[1]
	if err := st.Delete(ctx, delta.ManifestKey(gone.DataKey)); err != nil {
		t.Fatal(err)
	}
	f := finding(covered, "chain")
	if f.Status != check.Critical || !strings.Contains(f.Message, fmt.Sprintf("segment %06d is missing", gone.Sequence)) {
		t.Fatalf("missing segment: %+v, want CRITICAL naming %06d", f, gone.Sequence)
	}
	t.Logf("%s %s", f.Status, f.Message)
}

// A snapshot taken by hand while the agent runs (the guides advise one
// before a risky change) starts no chain; the agent's chain, from its own
// older snapshot, goes on past it and is the recovery point check judges,
// not the hand-taken snapshot's age.
func TestRPOFollowsTheAgentsChainPastASnapshotTakenByHand(t *testing.T) {
	const cluster = "prod-eu1"
	ctx := context.Background()
	st, e := storeAndEtcd(t)
	agents, stop := e.Follow(t, st, cluster, 50*time.Millisecond)
	e.Put(t, map[string]string{"/registry/configmaps/default/before": "v"})
	byHand, err := snapshot.Take(ctx, e.Config(), st, snapshot.Options{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := range 3 {
		time.Sleep(120 * time.Millisecond)
		r, err := e.Client.Put(ctx, fmt.Sprintf("/registry/configmaps/default/after-%d", i), "v")
		if err != nil {
			t.Fatal(err)
		}
		last = r.Header.Revision
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := delta.Load(ctx, st, agents.Manifest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.LastRevision() >= last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's chain reached revision %d, etcd is at %d", c.LastRevision(), last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	c, err := delta.Load(ctx, st, agents.Manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := check.Run(ctx, st, check.Options{Cluster: cluster, MaxAge: time.Hour, ShrinkRatio: 0.5, Now: c.CoveredAt().Add(10 * time.Second),
		Deltas: true, MaxRPOWarning: time.Minute, MaxRPOCritical: 5 * time.Minute})
	want := fmt.Sprintf("recovery point 10s old: the delta chain of %s, %d segment(s) up to revision %d", agents.Manifest.Name(), len(c.Segments), last)
	var rpo check.Finding
	for _, f := range r.Findings {
		if f.Check == "rpo" {
			rpo = f
		}
	}
	if rpo.Status != check.OK || rpo.Message != want || r.Chain == nil || r.Chain.Snapshot != agents.Manifest.Name() {
		t.Fatalf("rpo after %s (by hand, revision %d): %+v, chain %+v\nwant OK %q", byHand.Manifest.Name(), byHand.Manifest.Revision, rpo, r.Chain, want)
	}
	t.Logf("%s %s (newest snapshot %s, taken by hand)", rpo.Status, rpo.Message, byHand.Manifest.Name())
}

// storeAndEtcd is a file store and an embedded etcd holding one namespace.
func storeAndEtcd(t *testing.T) (store.Store, *etcdtest.Etcd) {
	t.Helper()
	st, err := store.NewFile(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t)
	e.Put(t, map[string]string{"/registry/namespaces/default": "ns"})
	return st, e
}

// After a handover the new leader's bridge extends the old chain up to its
// first snapshot's revision S, keeping the old chain's coverage time (the
// bridge restores by revision). Until the new snapshot's own chain commits
// its first segment, the bridged chain reaches S and no further: the
// recovery point is the new snapshot, taken after the old chain's coverage
// time, not the old leader's last segment. Judging the bridged chain made
// the RPO the whole handover older than it was (a WARNING here).
func TestRPOAfterABridgeIsTheNewSnapshotsTime(t *testing.T) {
	const cluster = "prod-eu1"
	ctx := context.Background()
	st, e := storeAndEtcd(t)
	old, stop := e.Follow(t, st, cluster, 50*time.Millisecond)
	e.Put(t, map[string]string{"/registry/configmaps/default/old-leader": "v"})
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	oldChain, err := delta.Load(ctx, st, old.Manifest, nil)
	if err != nil || oldChain.Broken != nil {
		t.Fatalf("old chain: %v, broken %v", err, oldChain.Broken)
	}
	// The handover: the old leader's last segment, then the new leader's
	// snapshot seconds later (created_at is truncated to the second).
	time.Sleep(3 * time.Second)
	for i := range 3 {
		e.Put(t, map[string]string{fmt.Sprintf("/registry/configmaps/default/handover-%d", i): "v"})
	}
	next, err := snapshot.Take(ctx, e.Config(), st, snapshot.Options{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	b, err := delta.Extend(ctx, e.Client, st, old.Manifest, next.Manifest.Revision, delta.Options{Cluster: cluster})
	if err != nil || b.LastRevision() != next.Manifest.Revision {
		t.Fatalf("bridge: %v, up to %d, want %d", err, b.LastRevision(), next.Manifest.Revision)
	}
	if !oldChain.CoveredAt().Before(next.Manifest.CreatedAt) {
		t.Fatalf("the old chain's coverage %s is not before the new snapshot %s", oldChain.CoveredAt(), next.Manifest.CreatedAt)
	}
	now := next.Manifest.CreatedAt.Add(59 * time.Second)
	r := check.Run(ctx, st, check.Options{Cluster: cluster, MaxAge: time.Hour, ShrinkRatio: 0.5, Now: now,
		Deltas: true, MaxRPOWarning: time.Minute, MaxRPOCritical: 5 * time.Minute})
	var rpo check.Finding
	for _, f := range r.Findings {
		if f.Check == "rpo" {
			rpo = f
		}
	}
	if rpo.Status != check.OK || r.RPOSeconds > 59 {
		t.Fatalf("59s after the new snapshot %s, the old chain bridged up to it (covered %s): rpo %+v (%.1fs), chain %+v; want OK, 59s",
			next.Manifest.Name(), oldChain.CoveredAt().Format(time.RFC3339Nano), rpo, r.RPOSeconds, r.Chain)
	}
	t.Logf("%s %s", rpo.Status, rpo.Message)
}
