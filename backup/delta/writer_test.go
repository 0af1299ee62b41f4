package delta_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/internal/storetest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

const cluster = "prod-eu1"

func fileStore(t *testing.T) *store.File {
	t.Helper()
	s, err := store.NewFile(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func takeSnapshot(t *testing.T, e *etcdtest.Etcd, st store.Store) *snapshot.Result {
	t.Helper()
	res, err := snapshot.Take(context.Background(), e.Config(), st, snapshot.Options{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func put(t *testing.T, e *etcdtest.Etcd, n int, prefix string) int64 {
	t.Helper()
	var rev int64
	for i := range n {
		r, err := e.Client.Put(context.Background(), fmt.Sprintf("/registry/%s/%d", prefix, i), strings.Repeat("v", 100))
		if err != nil {
			t.Fatal(err)
		}
		rev = r.Header.Revision
	}
	return rev
}

// waitChain waits until the chain of snap reaches rev.
func waitChain(t *testing.T, st store.Store, snap *snapshot.Manifest, rev int64) *delta.Chain {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := delta.Load(context.Background(), st, snap, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.LastRevision() >= rev {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("chain of %s at revision %d after 20s, want %d", snap.Name(), c.LastRevision(), rev)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSegmentsLinkToTheSnapshotAndEachOther: every segment names the
// sha256 of the one before it, the first its full snapshot's; revisions
// follow each other; the data decodes to the events etcd made.
func TestSegmentsLinkToTheSnapshotAndEachOther(t *testing.T) {
	e := etcdtest.Start(t)
	st := fileStore(t)
	put(t, e, 5, "before")
	res := takeSnapshot(t, e, st)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(ctx, e.Client, st, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: 50 * time.Millisecond})
	}()
	var last int64
	for i := range 5 {
		last = put(t, e, 20, fmt.Sprintf("round-%d", i))
		time.Sleep(80 * time.Millisecond)
	}
	c := waitChain(t, st, res.Manifest, last)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.Broken != nil || len(c.Segments) < 2 {
		t.Fatalf("chain: %d segments, broken %v; want several, whole", len(c.Segments), c.Broken)
	}
	prev, next := res.Manifest.StoredSHA256, res.StatusRevision+1
	events := 0
	for _, m := range c.Segments {
		if m.PrevSHA256 != prev || m.FirstRevision != next {
			t.Fatalf("segment %s links to %s at revision %d, want %s at %d", m.Name(), m.PrevSHA256, m.FirstRevision, prev, next)
		}
		prev, next = m.SHA256, m.LastRevision+1
		events += m.Events
	}
	if want := int(last - res.StatusRevision); events != want {
		t.Fatalf("%d events in the chain, etcd made %d", events, want)
	}
}

// TestFollowBreaksWhenEtcdCompactedPastIt: a chain that must start at a
// revision etcd has compacted cannot go on: a ChainBreak "compacted".
func TestFollowBreaksWhenEtcdCompactedPastIt(t *testing.T) {
	e := etcdtest.Start(t)
	st := fileStore(t)
	put(t, e, 5, "before")
	res := takeSnapshot(t, e, st)
	rev := put(t, e, 10, "after")
	if _, err := e.Client.Compact(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	err := delta.Follow(context.Background(), e.Client, st, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: 50 * time.Millisecond})
	var brk *delta.ChainBreak
	if !errors.As(err, &brk) || brk.Reason != delta.BreakCompacted {
		t.Fatalf("Follow after compaction: %v, want a ChainBreak %q", err, delta.BreakCompacted)
	}
	t.Logf("%v", err)
}

// failingStore is the real file store with its Puts refused while down
// is set: an in-process stand-in for an unreachable bucket (the test
// module's fault tests stop the real S3 gateway).
type failingStore struct {
	*store.File
	down atomic.Bool
}

func (f *failingStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if f.down.Load() {
		return 0, errors.New("store down (injected)")
	}
	return f.File.Put(ctx, key, r)
}

// TestStoreOutageWithFakeFailingStore: while the store refuses writes the
// segments wait in memory and nothing half-written is visible; when it is
// back they are committed in order; past max_bytes the chain breaks
// ("store") instead of growing.
func TestStoreOutageWithFakeFailingStore(t *testing.T) {
	e := etcdtest.Start(t)
	st := &failingStore{File: fileStore(t)}
	put(t, e, 5, "before")
	res := takeSnapshot(t, e, st)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(ctx, e.Client, st, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: 50 * time.Millisecond, MaxBytes: 256 << 10})
	}()
	first := put(t, e, 10, "up")
	waitChain(t, st, res.Manifest, first)

	st.down.Store(true)
	during := put(t, e, 50, "down")
	time.Sleep(300 * time.Millisecond)
	c, err := delta.Load(context.Background(), st, res.Manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastRevision() >= during || len(c.Orphans) > 0 {
		t.Fatalf("while the store is down the chain reached %d with %d orphans; want nothing new and nothing half-written", c.LastRevision(), len(c.Orphans))
	}
	st.down.Store(false)
	c = waitChain(t, st, res.Manifest, during)
	if c.Broken != nil {
		t.Fatalf("after the outage: %v", c.Broken)
	}
	t.Logf("after the outage the chain holds %d segments up to revision %d", len(c.Segments), c.LastRevision())

	// A longer outage: past max_bytes (256 KiB here) the chain breaks.
	st.down.Store(true)
	for i := 0; ; i++ {
		noise := make([]byte, 4096)
		rand.Read(noise) // incompressible: segments held while the store is down are compressed
		if _, err := e.Client.Put(context.Background(), fmt.Sprintf("/registry/big/%d", i), string(noise)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			var brk *delta.ChainBreak
			if !errors.As(err, &brk) || brk.Reason != delta.BreakStore {
				t.Fatalf("Follow during a long outage: %v, want a ChainBreak %q", err, delta.BreakStore)
			}
			t.Logf("after %d puts: %v", i+1, err)
			return
		default:
		}
		if i > 5000 {
			t.Fatal("the chain never broke while the store stayed down")
		}
	}
}

// TestIdleEtcdStillAdvancesCoverage: with no writes, the agent still
// learns from etcd (a progress request each interval) that nothing
// changed, and commits that: the recovery point of an idle etcd stays
// fresh.
func TestIdleEtcdStillAdvancesCoverage(t *testing.T) {
	e := etcdtest.Start(t)
	st := fileStore(t)
	put(t, e, 5, "before")
	res := takeSnapshot(t, e, st)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(ctx, e.Client, st, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: 100 * time.Millisecond})
	}()
	time.Sleep(time.Second)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, err := delta.Load(context.Background(), st, res.Manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Segments) == 0 || time.Since(c.CoveredAt()) > 500*time.Millisecond {
		t.Fatalf("idle etcd: %d segments, covered at %s; want segments covering the last half second", len(c.Segments), c.CoveredAt())
	}
	for _, m := range c.Segments {
		if m.Events != 0 || m.LastRevision != m.FirstRevision-1 {
			t.Fatalf("idle segment %s has %d events", m.Name(), m.Events)
		}
	}
}

// TestIncompressibleChangesAreCutIntoSegmentsOfOnePart: values that do
// not compress (encrypted Secrets) fill segments as fast as etcd writes
// them; a segment is cut at 4 MiB stored, not at delta.max_bytes, so the
// agent never holds more than that per segment, each goes up in one PUT,
// and no change is lost or reordered across the cuts (the watch is
// reopened from the next revision after each).
func TestIncompressibleChangesAreCutIntoSegmentsOfOnePart(t *testing.T) {
	e := etcdtest.Start(t)
	st := fileStore(t)
	res := takeSnapshot(t, e, st)
	want := map[int64]string{} // revision → value
	var last int64
	for i := range 200 { // 200 × 100 KiB = 20 MiB of random values
		v := make([]byte, 100<<10)
		rand.Read(v)
		r, err := e.Client.Put(context.Background(), fmt.Sprintf("/registry/secrets/default/s-%d", i%50), string(v))
		if err != nil {
			t.Fatal(err)
		}
		last = r.Header.Revision
		want[last] = string(v)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(ctx, e.Client, st, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: time.Second, MaxBytes: 64 << 20})
	}()
	c := waitChain(t, st, res.Manifest, last)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	full := 0
	for _, m := range c.Segments {
		if m.StoredSize > store.DefaultPartSize {
			t.Errorf("segment %s holds %d bytes stored, more than one part (%d)", m.Name(), m.StoredSize, store.DefaultPartSize)
		}
		if m.StoredSize >= 4<<20 {
			full++
		}
		if err := delta.Decode(storetest.Read(t, st, m.DataKey), func(ch delta.Change) error {
			for _, ev := range ch.Events {
				if string(ev.Kv.Value) != want[ch.Revision] {
					return fmt.Errorf("revision %d: value differs from what was written", ch.Revision)
				}
				delete(want, ch.Revision)
			}
			return nil
		}); err != nil {
			t.Fatalf("segment %s: %v", m.Name(), err)
		}
	}
	if full < 4 || len(want) != 0 {
		t.Fatalf("%d segments, %d of them cut at 4 MiB (want ≥ 4 of 20 MiB); %d revisions missing from the chain", len(c.Segments), full, len(want))
	}
}

// TestTransactionsSplitAcrossWatchFragmentsStayWhole: the agent asks etcd
// to fragment large watch answers (pieces of about its 1.5 MiB request
// limit); a piece can end inside a transaction's revision. Every event of
// every transaction must still land in the chain, in order, with its
// value, and each revision once.
func TestTransactionsSplitAcrossWatchFragmentsStayWhole(t *testing.T) {
	e := etcdtest.Start(t)
	st := fileStore(t)
	res := takeSnapshot(t, e, st)
	want := map[string]string{} // "revision/key" → value
	var last int64
	for i := range 30 {
		var ops []clientv3.Op
		for k := range 1 + i%9 { // 1 to 9 keys of 120 KiB: up to 1.08 MB a revision
			v := make([]byte, 120<<10)
			rand.Read(v)
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("/registry/configmaps/txn-%d/%d", i, k), string(v)))
		}
		r, err := e.Client.Txn(context.Background()).Then(ops...).Commit()
		if err != nil {
			t.Fatal(err)
		}
		last = r.Header.Revision
		for _, op := range ops {
			want[fmt.Sprintf("%d/%s", last, op.KeyBytes())] = string(op.ValueBytes())
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(ctx, e.Client, st, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: time.Second})
	}()
	c := waitChain(t, st, res.Manifest, last)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	revisions := 0
	next := res.StatusRevision + 1
	for _, m := range c.Segments {
		if err := delta.Decode(storetest.Read(t, st, m.DataKey), func(ch delta.Change) error {
			if ch.Revision != next {
				return fmt.Errorf("revision %d follows %d", ch.Revision, next-1)
			}
			next++
			revisions++
			for _, ev := range ch.Events {
				k := fmt.Sprintf("%d/%s", ch.Revision, ev.Kv.Key)
				if v, ok := want[k]; !ok || v != string(ev.Kv.Value) {
					return fmt.Errorf("event %s: not what the transaction wrote", k)
				}
				delete(want, k)
			}
			return nil
		}); err != nil {
			t.Fatalf("segment %s: %v", m.Name(), err)
		}
	}
	if revisions != 30 || len(want) != 0 {
		t.Fatalf("%d revisions in the chain (want 30), %d events missing", revisions, len(want))
	}
}
