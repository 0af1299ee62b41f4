package agent

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/metrics"
	"github.com/k8sguard/k8sguard/backup/store"
)

// A new leader bridges its predecessor's chain, the newest chain before
// its own snapshot, past a snapshot taken by hand meanwhile (which starts
// none), up to its own snapshot's revision; counted once; a second bridge
// finds nothing to do.
func TestBridgeExtendsThePredecessorsChainPastAHandSnapshot(t *testing.T) {
	e := etcdtest.Start(t)
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.ClusterName = "c"
	a := &Agent{Config: cfg, Store: st, Etcd: e.Config(), Log: slog.New(slog.DiscardHandler), Metrics: metrics.New("c")}
	ctx := context.Background()
	puts := func(prefix string, n int) int64 {
		var rev int64
		for i := range n {
			r, err := e.Client.Put(ctx, fmt.Sprintf("/registry/%s/%d", prefix, i), "v")
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		}
		return rev
	}
	puts("before", 5)
	old, err := a.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(fctx, e.Client, st, old.Manifest, old.StatusRevision, delta.Options{Cluster: "c", Interval: 50 * time.Millisecond})
	}()
	last := puts("old-leader", 10)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := delta.Load(ctx, st, old.Manifest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.LastRevision() >= last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old chain did not reach %d", last)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	E := puts("gap-1", 1) - 1
	puts("gap-1", 10)
	if _, err := a.Once(ctx); err != nil { // by hand: no chain
		t.Fatal(err)
	}
	puts("gap-2", 10)
	next, err := a.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	S := next.Manifest.Revision
	r := a.Bridge(ctx, next.Manifest, 0)
	if r.err != nil || r.b == nil || r.b.Snapshot.Name() != old.Manifest.Name() || r.b.From != E || r.b.LastRevision() != S {
		t.Fatalf("bridge: %+v, %v; want the chain of %s from %d to %d", r.b, r.err, old.Manifest.Name(), E, S)
	}
	a.bridged(r)
	if n := testutil.ToFloat64(a.Metrics.DeltaBridges.WithLabelValues(delta.BridgeCommitted)); n != 1 {
		t.Fatalf("etcdguard_delta_bridges_total{result=committed} = %v, want 1", n)
	}
	t.Logf("bridged the chain of %s from revision %d to %d in %d segment(s), past the hand snapshot", old.Manifest.Name(), E+1, S, len(r.b.Segments))
	if r := a.Bridge(ctx, next.Manifest, 0); r.err != nil || r.b != nil {
		t.Fatalf("a second bridge: %+v, %v; want nothing to do", r.b, r.err)
	}
}
