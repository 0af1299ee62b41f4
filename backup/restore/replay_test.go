package restore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/internal/storetest"
	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// chained is an etcd that a delta chain followed through a random
// history, and the store holding its snapshot and chain.
type chained struct {
	etcd       *etcdtest.Etcd
	store      store.Store
	snap       *snapshot.Manifest
	lastRev    int64
	earlyLease clientv3.LeaseID // granted before the snapshot
	// pausedAt is a time in the middle of a 600ms pause halfway through
	// the history, and pausedRev the revision etcd was at.
	pausedAt  time.Time
	pausedRev int64
}

// followRandomHistory takes a full snapshot, follows it with a delta
// chain (the agent's own Follow, 100ms segments) while it writes a random
// history of puts, overwrites, deletes, range deletes, multi-key
// transactions and puts with leases, and waits until the chain holds it.
func followRandomHistory(t *testing.T, ops int, seed uint64) *chained {
	t.Helper()
	return followRandomHistoryWith(t, ops, seed, nil)
}

// followRandomHistoryWith is followRandomHistory calling atPause (when not
// nil) in the middle of the pause, while the chain is being followed.
func followRandomHistoryWith(t *testing.T, ops int, seed uint64, atPause func(*chained)) *chained {
	t.Helper()
	ctx := context.Background()
	st, err := store.NewFile(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t)
	early, err := e.Client.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	key := func() string { return fmt.Sprintf("/registry/configmaps/ns-%d/cm-%d", rng.IntN(4), rng.IntN(40)) }
	for i := range 50 {
		opts := []clientv3.OpOption{}
		if i%5 == 0 {
			opts = append(opts, clientv3.WithLease(early.ID))
		}
		if _, err := e.Client.Put(ctx, key(), fmt.Sprintf("before-%d", i), opts...); err != nil {
			t.Fatal(err)
		}
	}
	res, err := snapshot.Take(ctx, e.Config(), st, snapshot.Options{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(fctx, e.Client, st, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: 100 * time.Millisecond})
	}()
	late, err := e.Client.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	c := &chained{etcd: e, store: st, snap: res.Manifest, earlyLease: early.ID}
	for i := range ops {
		if i == ops/2 {
			time.Sleep(300 * time.Millisecond)
			c.pausedAt, c.pausedRev = time.Now(), c.lastRev
			if atPause != nil {
				atPause(c)
			}
			time.Sleep(300 * time.Millisecond)
		}
		if i%10 == 0 {
			time.Sleep(20 * time.Millisecond) // a few segments, not one
		}
		var rev int64
		switch n := rng.IntN(10); {
		case n < 5:
			opts := []clientv3.OpOption{}
			switch rng.IntN(6) {
			case 0:
				opts = append(opts, clientv3.WithLease(early.ID))
			case 1:
				opts = append(opts, clientv3.WithLease(late.ID))
			}
			r, err := e.Client.Put(ctx, key(), fmt.Sprintf("v%d-%s", i, strings.Repeat("x", rng.IntN(200))), opts...)
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		case n < 7:
			r, err := e.Client.Delete(ctx, key())
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		case n < 8:
			r, err := e.Client.Delete(ctx, fmt.Sprintf("/registry/configmaps/ns-%d/cm-1", rng.IntN(4)), clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		default:
			r, err := e.Client.Txn(ctx).Then(
				clientv3.OpPut(key(), fmt.Sprintf("txn-a-%d", i)),
				clientv3.OpPut(fmt.Sprintf("/registry/secrets/s-%d", i), fmt.Sprintf("txn-b-%d", i)),
				clientv3.OpDelete(fmt.Sprintf("/registry/secrets/s-%d", i-3)),
			).Commit()
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		}
		c.lastRev = max(c.lastRev, rev)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ch, err := delta.Load(ctx, st, res.Manifest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ch.LastRevision() >= c.lastRev {
			t.Logf("chain of %s: %d segments up to revision %d", res.Manifest.Name(), len(ch.Segments), ch.LastRevision())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chain reached revision %d, etcd is at %d", ch.LastRevision(), c.lastRev)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	return c
}

type kvState struct {
	value                       string
	create, mod, version, lease int64
}

func keyspace(t *testing.T, cli *clientv3.Client, rev int64) (map[string]kvState, int64) {
	t.Helper()
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cli.Get(context.Background(), "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]kvState{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kvState{string(kv.Value), kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease}
	}
	return out, resp.Header.Revision
}

func restorePoint(t *testing.T, st store.Store, p restore.Point) (*restore.Result, error) {
	t.Helper()
	plan, err := restore.PlanPoint(context.Background(), st, cluster, p)
	if err != nil {
		return nil, err
	}
	return restore.Restore(context.Background(), st, plan.Snapshot, restore.Options{DataDir: filepath.Join(t.TempDir(), "data"), Replay: plan})
}

// TestPointInTimeRestoreMatchesEtcdAtTenRandomRevisions is the issue's
// keyspace comparison: restore --revision N at ten random revisions of a
// random history, each compared key by key with what the live etcd
// returns for Get(prefix "", WithRev(N)) (value, create and mod revision,
// version), and leases as documented on restore.Replay.
func TestPointInTimeRestoreMatchesEtcdAtTenRandomRevisions(t *testing.T) {
	c := followRandomHistory(t, 600, 11)
	rng := rand.New(rand.NewPCG(7, 8))
	revs := []int64{c.snap.Revision, c.lastRev}
	for len(revs) < 10 {
		revs = append(revs, c.snap.Revision+1+rng.Int64N(c.lastRev-c.snap.Revision))
	}
	slices.Sort(revs)
	for _, rev := range revs {
		want, _ := keyspace(t, c.etcd.Client, rev)
		res, err := restorePoint(t, c.store, restore.Point{Revision: rev})
		if err != nil {
			t.Fatalf("restore --revision %d: %v", rev, err)
		}
		restored := etcdtest.StartIn(t, res.DataDir)
		got, gotRev := keyspace(t, restored.Client, 0)
		if gotRev != rev {
			t.Errorf("revision %d: the restored etcd is at revision %d", rev, gotRev)
		}
		for k, w := range want {
			if w.lease != int64(c.earlyLease) {
				w.lease = 0 // a lease granted after the snapshot is not restored (restore.Replay)
			}
			if g, ok := got[k]; !ok {
				t.Errorf("revision %d: %s missing after restore", rev, k)
			} else if g != w {
				t.Errorf("revision %d: %s restored as %+v, etcd had %+v", rev, k, g, w)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("revision %d: %s restored but etcd had no such key", rev, k)
			}
		}
		replayed := 0
		if res.Replayed != nil {
			replayed = res.Replayed.Events
		}
		t.Logf("revision %d: %d keys equal, %d events replayed", rev, len(want), replayed)
	}
}

// TestPointInTimeRestoreByTime restores --at the time of a write and
// gets everything up to that write.
func TestPointInTimeRestoreByTime(t *testing.T) {
	c := followRandomHistory(t, 200, 3)
	res, err := restorePoint(t, c.store, restore.Point{At: c.pausedAt})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed == nil || res.Replayed.ToRevision != c.pausedRev {
		t.Fatalf("restore --at %s replayed %+v, want up to revision %d", c.pausedAt.Format(time.RFC3339Nano), res.Replayed, c.pausedRev)
	}
	want, _ := keyspace(t, c.etcd.Client, c.pausedRev)
	got, _ := keyspace(t, etcdtest.StartIn(t, res.DataDir).Client, 0)
	if len(got) != len(want) {
		t.Fatalf("--at %s: %d keys restored, etcd had %d at revision %d", c.pausedAt.Format(time.RFC3339Nano), len(got), len(want), c.pausedRev)
	}
	for k, w := range want {
		if got[k].value != w.value || got[k].mod != w.mod {
			t.Errorf("%s restored as %+v, etcd had %+v", k, got[k], w)
		}
	}
	t.Logf("--at %s (mid-pause) restored revision %d: %d keys as etcd had them", c.pausedAt.Format(time.RFC3339Nano), res.Replayed.ToRevision, len(got))
}

// TestAChainGoesOnPastASnapshotTakenByHand: a full snapshot taken by hand
// (`etcdguard snapshot`, as the guides advise before a risky change) while
// the agent follows its own snapshot's chain starts no chain; points after
// it are restored from the agent's chain, which goes on past it.
func TestAChainGoesOnPastASnapshotTakenByHand(t *testing.T) {
	var byHand *snapshot.Manifest
	var afterHand time.Time // in the pause, after the snapshot by hand
	c := followRandomHistoryWith(t, 200, 13, func(c *chained) {
		res, err := snapshot.Take(context.Background(), c.etcd.Config(), c.store, snapshot.Options{Cluster: cluster})
		if err != nil {
			t.Fatal(err)
		}
		byHand, afterHand = res.Manifest, time.Now().Add(50*time.Millisecond)
	})
	if byHand.Revision <= c.snap.Revision || byHand.Revision >= c.lastRev {
		t.Fatalf("the snapshot by hand is at revision %d, not between the agent's %d and the last write %d", byHand.Revision, c.snap.Revision, c.lastRev)
	}
	for _, p := range []restore.Point{{Revision: c.lastRev}, {Revision: byHand.Revision + 1}, {At: afterHand}} {
		plan, err := restore.PlanPoint(context.Background(), c.store, cluster, p)
		if err != nil {
			t.Fatalf("restore to %s, after the snapshot by hand %s: %v", p, byHand.Name(), err)
		}
		if plan.Snapshot.Name() != c.snap.Name() {
			t.Fatalf("restore to %s planned from %s, want the agent's %s, whose chain reaches it", p, plan.Snapshot.Name(), c.snap.Name())
		}
	}
	res, err := restorePoint(t, c.store, restore.Point{Revision: c.lastRev})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := keyspace(t, c.etcd.Client, c.lastRev)
	got, _ := keyspace(t, etcdtest.StartIn(t, res.DataDir).Client, 0)
	if len(got) != len(want) {
		t.Fatalf("revision %d: %d keys restored, etcd had %d", c.lastRev, len(got), len(want))
	}
	for k, w := range want {
		if got[k].value != w.value || got[k].mod != w.mod {
			t.Errorf("%s restored as %+v, etcd had %+v", k, got[k], w)
		}
	}
	_, err = restore.PlanPoint(context.Background(), c.store, cluster, restore.Point{Revision: c.lastRev + 1})
	if want := fmt.Sprintf("it is past the newest restorable point: the chain of %s ends at revision %d", c.snap.Name(), c.lastRev); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("restore past the end: %v, want %q", err, want)
	}
	plan, err := restore.PlanPoint(context.Background(), c.store, cluster, restore.Point{Revision: byHand.Revision})
	if err != nil || plan.Snapshot.Name() != byHand.Name() || len(plan.Segments) != 0 {
		t.Fatalf("restore to the snapshot by hand's own revision %d: %+v, %v; want that snapshot alone", byHand.Revision, plan, err)
	}
	// Pinned to the agent's snapshot (as restore prints it for the other
	// members), its revision is replayed from the agent's chain, not taken
	// from the snapshot by hand, whose leases differ.
	plan, err = restore.PlanPointFrom(context.Background(), c.store, c.snap, restore.Point{Revision: byHand.Revision})
	if err != nil || plan.Snapshot.Name() != c.snap.Name() || len(plan.Segments) == 0 {
		t.Fatalf("restore to revision %d from %s: %+v, %v; want its chain replayed", byHand.Revision, c.snap.Name(), plan, err)
	}
	_, err = restore.PlanPointFrom(context.Background(), c.store, byHand, restore.Point{Revision: c.lastRev})
	if want := fmt.Sprintf("cannot restore %s to revision %d: its delta chain ends at revision %d", byHand.Name(), c.lastRev, byHand.Revision); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("restore from the snapshot by hand past it: %v, want %q", err, want)
	}
	_, err = restore.PlanPointFrom(context.Background(), c.store, byHand, restore.Point{Revision: c.snap.Revision})
	if want := fmt.Sprintf("cannot restore %s to revision %d: the snapshot is past it", byHand.Name(), c.snap.Revision); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("restore from a snapshot newer than the point: %v, want %q", err, want)
	}
	t.Logf("snapshot by hand %s (revision %d) between the agent's %s and revision %d: revision %d restored from the agent's chain, %d keys equal",
		byHand.Name(), byHand.Revision, c.snap.Name(), c.lastRev, c.lastRev, len(got))
}

// TestReplayRefusesABrokenLinkAndRestoresBeforeIt corrupts one segment
// and removes another's manifest: a restore past either is refused, naming
// the segment, and a restore before them still works.
func TestReplayRefusesABrokenLinkAndRestoresBeforeIt(t *testing.T) {
	c := followRandomHistory(t, 300, 5)
	ctx := context.Background()
	ch, err := delta.Load(ctx, c.store, c.snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	var withEvents []*delta.Manifest
	for _, m := range ch.Segments {
		if m.Events > 0 {
			withEvents = append(withEvents, m)
		}
	}
	if len(withEvents) < 4 {
		t.Fatalf("only %d segments with events; the test needs 4", len(withEvents))
	}
	bad := withEvents[len(withEvents)/2]
	path := filepath.Join(strings.TrimPrefix(c.store.String(), "file://"), filepath.FromSlash(bad.DataKey))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40 // one flipped bit
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	_, err = restorePoint(t, c.store, restore.Point{Revision: bad.LastRevision})
	var brk *delta.BrokenLinkError
	if !errors.As(err, &brk) || brk.Segment != bad.Name() {
		t.Fatalf("restore past the corrupt segment %s: %v, want a BrokenLinkError naming it", bad.Name(), err)
	}
	t.Logf("refused: %v", err)

	before := bad.FirstRevision - 1
	want, _ := keyspace(t, c.etcd.Client, before)
	res, err := restorePoint(t, c.store, restore.Point{Revision: before})
	if err != nil {
		t.Fatalf("restore before the corrupt segment (revision %d): %v", before, err)
	}
	restored := etcdtest.StartIn(t, res.DataDir)
	got, _ := keyspace(t, restored.Client, 0)
	if len(got) != len(want) {
		t.Fatalf("revision %d: %d keys restored, etcd had %d", before, len(got), len(want))
	}

	// A segment whose manifest is gone is a missing link.
	gone := withEvents[1]
	if err := c.store.Delete(ctx, delta.ManifestKey(gone.DataKey)); err != nil {
		t.Fatal(err)
	}
	_, err = restore.PlanPoint(ctx, c.store, cluster, restore.Point{Revision: gone.LastRevision})
	if !errors.As(err, &brk) || brk.Segment != fmt.Sprintf("%06d", gone.Sequence) {
		t.Fatalf("plan past the missing segment %s: %v, want a BrokenLinkError naming %06d", gone.Name(), err, gone.Sequence)
	}
	t.Logf("refused: %v", err)
}

// relabel gives snapshot m the label rev, below the revision its database
// holds, as etcd 3.6 labels a snapshot taken under writes (the revision
// read just before the stream): its data and manifest move to the keys
// of the new label.
func relabel(t *testing.T, st store.Store, m *snapshot.Manifest, rev int64) *snapshot.Manifest {
	t.Helper()
	ctx := context.Background()
	suffix := fmt.Sprintf("-r%d.db.zst", m.Revision)
	if !strings.HasSuffix(m.DataKey, suffix) {
		t.Fatalf("snapshot key %s does not end in %s", m.DataKey, suffix)
	}
	data, err := st.Get(ctx, m.DataKey)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	n := *m
	n.Revision, n.DataKey = rev, strings.TrimSuffix(m.DataKey, suffix)+fmt.Sprintf("-r%d.db.zst", rev)
	if _, err := st.Put(ctx, n.DataKey, data); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.WriteJSON(ctx, st, snapshot.ManifestKey(n.DataKey), &n); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{snapshot.ManifestKey(m.DataKey), m.DataKey} {
		if err := st.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	return &n
}

// A restore to a snapshot's own label, when its database already holds
// more (taken under writes), is refused; the refusal names the older
// snapshot whose chain reaches the label exactly (after a handover, the
// bridge extends the old chain that far), and following it restores
// etcd's keyspace at that revision.
func TestAPointPastASnapshotsDataNamesTheOlderChainThatReachesIt(t *testing.T) {
	var byHand *snapshot.Manifest
	c := followRandomHistoryWith(t, 200, 17, func(c *chained) {
		res, err := snapshot.Take(context.Background(), c.etcd.Config(), c.store, snapshot.Options{Cluster: cluster})
		if err != nil {
			t.Fatal(err)
		}
		byHand = res.Manifest
	})
	holds := byHand.Revision
	label := holds - 3
	if label <= c.snap.Revision {
		t.Fatalf("the snapshot by hand holds revision %d, too close to the agent's %d", holds, c.snap.Revision)
	}
	byHand = relabel(t, c.store, byHand, label)

	_, err := restorePoint(t, c.store, restore.Point{Revision: label})
	var past *restore.PastPointError
	if !errors.As(err, &past) || past.Instead == nil || past.Instead.Name() != c.snap.Name() {
		t.Fatalf("restore --revision %d (the label of %s, whose data holds %d): %v; want refused naming %s", label, byHand.Name(), holds, err, c.snap.Name())
	}
	if want := fmt.Sprintf("give --snapshot %s --revision %d", c.snap.Name(), label); !strings.Contains(err.Error(), want) {
		t.Fatalf("refusal %q does not say %q", err, want)
	}
	t.Logf("refused: %v", err)

	plan, err := restore.PlanPointFrom(context.Background(), c.store, c.snap, restore.Point{Revision: label})
	if err != nil {
		t.Fatal(err)
	}
	res, err := restore.Restore(context.Background(), c.store, plan.Snapshot, restore.Options{DataDir: filepath.Join(t.TempDir(), "data"), Replay: plan})
	if err != nil {
		t.Fatalf("restore from the chain the refusal named: %v", err)
	}
	want, _ := keyspace(t, c.etcd.Client, label)
	got, _ := keyspace(t, etcdtest.StartIn(t, res.DataDir).Client, 0)
	if len(got) != len(want) {
		t.Fatalf("revision %d: %d keys restored, etcd had %d", label, len(got), len(want))
	}
	for k, w := range want {
		if got[k].value != w.value || got[k].mod != w.mod {
			t.Errorf("%s restored as %+v, etcd had %+v", k, got[k], w)
		}
	}

	// Without an older chain that reaches it, the refusal says so.
	if _, err := delta.Delete(context.Background(), c.store, c.snap); err != nil {
		t.Fatal(err)
	}
	_, err = restorePoint(t, c.store, restore.Point{Revision: label})
	if want := fmt.Sprintf("pick a revision at or after %d (no older snapshot's chain reaches %d)", holds, label); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("refusal %v, want %q", err, want)
	}
}

// The replay downloads segments ahead of the one it applies, and the
// result is the same keyspace as etcd's.
func TestReplayDownloadsSegmentsAhead(t *testing.T) {
	c := followRandomHistory(t, 300, 19)
	isData := func(key string) bool { return strings.HasSuffix(key, ".events.zst") }
	st := &storetest.Slow{Store: c.store, Match: isData, Delay: 20 * time.Millisecond}
	res, err := restorePoint(t, st, restore.Point{Revision: c.lastRev})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed.Segments < 4 || st.Most() < 2 {
		t.Fatalf("%d segments replayed, %d downloads at once; want several, more than one at once", res.Replayed.Segments, st.Most())
	}
	want, _ := keyspace(t, c.etcd.Client, c.lastRev)
	got, _ := keyspace(t, etcdtest.StartIn(t, res.DataDir).Client, 0)
	if len(got) != len(want) {
		t.Fatalf("%d keys restored, etcd had %d", len(got), len(want))
	}
	for k, w := range want {
		if got[k].value != w.value || got[k].mod != w.mod {
			t.Errorf("%s restored as %+v, etcd had %+v", k, got[k], w)
		}
	}
	t.Logf("%d segments replayed, up to %d downloaded at once", res.Replayed.Segments, st.Most())
}
