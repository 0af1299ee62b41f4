package delta_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/internal/storetest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// oldChain is a handover as the agents leave it: a full snapshot A and its
// chain, whose writer stopped at revision E; changes made after it; the
// next leader's snapshot B at revision S; changes after B.
type oldChain struct {
	e     *etcdtest.Etcd
	a, b  *snapshot.Result
	chain *delta.Chain // A's chain before any bridge
}

func handover(t *testing.T, st store.Store) *oldChain {
	t.Helper()
	e := etcdtest.Start(t)
	put(t, e, 5, "before")
	a := takeSnapshot(t, e, st)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(ctx, e.Client, st, a.Manifest, a.StatusRevision, delta.Options{Cluster: cluster, Interval: 50 * time.Millisecond})
	}()
	waitChain(t, st, a.Manifest, put(t, e, 20, "old-leader"))
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, err := delta.Load(context.Background(), st, a.Manifest, nil)
	if err != nil || c.Broken != nil || len(c.Segments) == 0 {
		t.Fatalf("old chain: %v, broken %v", err, c.Broken)
	}
	put(t, e, 40, "in-between")
	b := takeSnapshot(t, e, st)
	put(t, e, 10, "new-leader")
	return &oldChain{e: e, a: a, b: b, chain: c}
}

// TestExtendBridgesTheOldChainUpToTheNewSnapshot: the bridge continues the
// old chain link by link (sequence, revisions, prev_sha256), holds every
// revision from its end to the new snapshot's and none after, is cut at
// max_bytes, keeps the old chain's coverage time, and is not written twice.
func TestExtendBridgesTheOldChainUpToTheNewSnapshot(t *testing.T) {
	st := fileStore(t)
	h := handover(t, st)
	E, S := h.chain.LastRevision(), h.b.Manifest.Revision
	start := time.Now()
	b, err := delta.Extend(context.Background(), h.e.Client, st, h.a.Manifest, S, delta.Options{Cluster: cluster, MaxBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bridged %s from revision %d to %d: %d segments in %s", h.a.Manifest.Name(), E+1, S, len(b.Segments), time.Since(start).Round(time.Millisecond))
	c, err := delta.Load(context.Background(), st, h.a.Manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Broken != nil || c.LastRevision() != S || b.LastRevision() != S {
		t.Fatalf("after the bridge the chain ends at %d (bridge %d), broken %v; want %d, whole", c.LastRevision(), b.LastRevision(), c.Broken, S)
	}
	if len(b.Segments) < 2 {
		t.Fatalf("%d bridge segments; max_bytes 2048 should have cut several", len(b.Segments))
	}
	old := h.chain.Segments[len(h.chain.Segments)-1]
	revs := 0
	for i, m := range c.Segments[len(h.chain.Segments):] {
		if m.Sequence != old.Sequence+1+i || m.Snapshot != h.a.Manifest.Name() || m.CoveredAt != old.CoveredAt {
			t.Fatalf("bridge segment %s: sequence %d, snapshot %s, covered_at %s; want %d, %s, %s", m.Name(), m.Sequence, m.Snapshot, m.CoveredAt, old.Sequence+1+i, h.a.Manifest.Name(), old.CoveredAt)
		}
		revs += m.Revisions
	}
	if want := int(S - E); revs != want {
		t.Fatalf("the bridge holds %d revisions, etcd made %d between %d and %d", revs, want, E, S)
	}
	again, err := delta.Extend(context.Background(), h.e.Client, st, h.a.Manifest, S, delta.Options{Cluster: cluster})
	if err != nil || len(again.Segments) != 0 {
		t.Fatalf("a second bridge: %d segments, %v; want none", len(again.Segments), err)
	}
}

// TestExtendWritesNothingWhenEtcdCompactedPastTheChain: the revisions
// after the chain's end are gone; the chain is left as it was.
func TestExtendWritesNothingWhenEtcdCompactedPastTheChain(t *testing.T) {
	st := fileStore(t)
	h := handover(t, st)
	if _, err := h.e.Client.Compact(context.Background(), h.b.Manifest.Revision); err != nil {
		t.Fatal(err)
	}
	b, err := delta.Extend(context.Background(), h.e.Client, st, h.a.Manifest, h.b.Manifest.Revision, delta.Options{Cluster: cluster})
	var be *delta.BridgeError
	if !errors.As(err, &be) || be.Result != delta.BridgeCompacted || len(b.Segments) != 0 {
		t.Fatalf("Extend after compaction: %v, %d segments; want a BridgeError %q and none", err, len(b.Segments), delta.BridgeCompacted)
	}
	t.Log(err)
	assertChainAsBefore(t, st, h)
}

// TestExtendLeavesABrokenChainAlone: a chain with a missing segment is
// not bridged (a restore could not reach the bridge anyway).
func TestExtendLeavesABrokenChainAlone(t *testing.T) {
	st := fileStore(t)
	h := handover(t, st)
	if len(h.chain.Segments) < 2 {
		t.Skipf("the old chain has %d segment(s)", len(h.chain.Segments))
	}
	if err := st.Delete(context.Background(), delta.ManifestKey(h.chain.Segments[0].DataKey)); err != nil {
		t.Fatal(err)
	}
	_, err := delta.Extend(context.Background(), h.e.Client, st, h.a.Manifest, h.b.Manifest.Revision, delta.Options{Cluster: cluster})
	var be *delta.BridgeError
	if !errors.As(err, &be) || be.Result != delta.BridgeFailed || !strings.Contains(err.Error(), "not whole") {
		t.Fatalf("Extend of a broken chain: %v; want a BridgeError %q", err, delta.BridgeFailed)
	}
	objs, err := st.List(context.Background(), delta.ChainDir(h.a.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2*len(h.chain.Segments) - 1; len(objs) != want {
		t.Fatalf("%d objects in the chain, want the %d it had", len(objs), want)
	}
}

// TestExtendLeavesARecentInterruptedCommit: data without a manifest after
// the chain's end may be its writer's last commit, in flight: no bridge.
func TestExtendLeavesARecentInterruptedCommit(t *testing.T) {
	st := fileStore(t)
	h := handover(t, st)
	last := h.chain.Segments[len(h.chain.Segments)-1]
	inFlight := delta.DataKey(h.a.Manifest, delta.SegmentName(last.Sequence+1, last.LastRevision+1, last.LastRevision+3))
	if _, err := st.Put(context.Background(), inFlight, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	_, err := delta.Extend(context.Background(), h.e.Client, st, h.a.Manifest, h.b.Manifest.Revision, delta.Options{Cluster: cluster})
	var be *delta.BridgeError
	if !errors.As(err, &be) || be.Result != delta.BridgeFailed || !strings.Contains(err.Error(), "in flight") {
		t.Fatalf("Extend beside a commit in flight: %v; want a BridgeError %q", err, delta.BridgeFailed)
	}
	t.Log(err)
	if _, err := st.Stat(context.Background(), inFlight); err != nil {
		t.Fatalf("the writer's data object: %v", err)
	}
}

// racingStore is the real file store; when the bridge commits its first
// segment, race runs first (another writer, or retention).
type racingStore struct {
	*store.File
	once sync.Once
	race func(ctx context.Context, bridgeKey string)
}

func (r *racingStore) Put(ctx context.Context, key string, body io.Reader) (int64, error) {
	if strings.Contains(key, ".deltas/") && strings.HasSuffix(key, ".events.zst") && r.race != nil {
		r.once.Do(func() { r.race(ctx, key) })
	}
	return r.File.Put(ctx, key, body)
}

// TestExtendWithdrawsWhenAnotherWriterCommitted: the old leader, late,
// commits its last segment with the sequence the bridge writes (or it
// commits just after the bridge's): two segments of one sequence break
// the chain. The bridge, listing the chain after its commit, removes its
// own segments, manifests first: the old leader's segment stands and the
// chain is whole. When retention deleted the old snapshot meanwhile, the
// bridge leaves no committed-looking segment behind either.
func TestExtendWithdrawsWhenAnotherWriterCommitted(t *testing.T) {
	for _, tc := range []struct {
		name string
		race func(t *testing.T, st *racingStore, h *oldChain) func(ctx context.Context, key string)
	}{
		{"competing segment", func(t *testing.T, st *racingStore, h *oldChain) func(context.Context, string) {
			return func(ctx context.Context, key string) {
				// The old leader's last segment: its stop read two more revisions.
				last := h.chain.Segments[len(h.chain.Segments)-1]
				data := []byte("the old leader's last segment")
				sum := sha256.Sum256(data)
				name := delta.SegmentName(last.Sequence+1, last.LastRevision+1, last.LastRevision+2)
				m := *last
				m.Sequence, m.FirstRevision, m.LastRevision = last.Sequence+1, last.LastRevision+1, last.LastRevision+2
				m.DataKey, m.SHA256, m.PrevSHA256 = delta.DataKey(h.a.Manifest, name), hex.EncodeToString(sum[:]), last.SHA256
				if err := snapshot.Commit(ctx, st.File, m.DataKey, data, delta.ManifestKey(m.DataKey), &m); err != nil {
					t.Error(err)
				}
			}
		}},
		{"snapshot deleted", func(t *testing.T, st *racingStore, h *oldChain) func(context.Context, string) {
			return func(ctx context.Context, key string) {
				if err := st.File.Delete(ctx, snapshot.ManifestKey(h.a.Manifest.DataKey)); err != nil {
					t.Error(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &racingStore{File: fileStore(t)}
			h := handover(t, st)
			st.race = tc.race(t, st, h)
			b, err := delta.Extend(context.Background(), h.e.Client, st, h.a.Manifest, h.b.Manifest.Revision, delta.Options{Cluster: cluster, MaxBytes: 2048})
			var be *delta.BridgeError
			if !errors.As(err, &be) || be.Result != delta.BridgeWithdrawn || len(b.Segments) != 0 || len(b.Withdrawn) == 0 {
				t.Fatalf("Extend racing: %v, %d segments standing; want a BridgeError %q and none", err, len(b.Segments), delta.BridgeWithdrawn)
			}
			t.Logf("%v (%d segments withdrawn)", err, len(b.Withdrawn))
			for _, m := range b.Withdrawn {
				for _, k := range []string{m.DataKey, delta.ManifestKey(m.DataKey)} {
					if _, err := st.Stat(context.Background(), k); !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("the bridge's %s is still there (%v)", k, err)
					}
				}
			}
			c, err := delta.Load(context.Background(), st, h.a.Manifest, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Broken != nil || len(c.Orphans) != 0 {
				t.Fatalf("after the withdrawal: broken %v, %d orphans", c.Broken, len(c.Orphans))
			}
			if tc.name == "competing segment" && (len(c.Segments) != len(h.chain.Segments)+1 || c.LastRevision() != h.chain.LastRevision()+2) {
				t.Fatalf("the chain has %d segments up to %d; want the old leader's last one standing", len(c.Segments), c.LastRevision())
			}
		})
	}
}

func assertChainAsBefore(t *testing.T, st store.Store, h *oldChain) {
	t.Helper()
	c, err := delta.Load(context.Background(), st, h.a.Manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Broken != nil || len(c.Segments) != len(h.chain.Segments) || c.LastRevision() != h.chain.LastRevision() || len(c.Orphans) != 0 {
		t.Fatalf("the chain changed: %d segments to %d (broken %v, %d orphans); it had %d to %d",
			len(c.Segments), c.LastRevision(), c.Broken, len(c.Orphans), len(h.chain.Segments), h.chain.LastRevision())
	}
}

// cancellingStore is the real file store; the n-th segment manifest put
// after arm lands, then ends the bridge's context and reports the
// cancellation, as a PUT that S3 applied while its caller gave up.
type cancellingStore struct {
	*store.File
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
}

func (c *cancellingStore) Put(ctx context.Context, key string, body io.Reader) (int64, error) {
	c.mu.Lock()
	trap := false
	if c.cancel != nil && strings.Contains(key, ".deltas/") && strings.HasSuffix(key, ".json") {
		c.n--
		trap = c.n == 0
	}
	c.mu.Unlock()
	n, err := c.File.Put(ctx, key, body)
	if trap && err == nil {
		c.cancel()
		return n, ctx.Err()
	}
	return n, err
}

// TestExtendEndedMidCommitLeavesTheChainWhole: the bridge's context ends
// (leadership lost, its minute up) while a segment's manifest is on its
// way; the store applied it, the bridge saw an error (and Commit deleted
// the segment's data). The bridge must not leave that manifest: the chain
// would hold a manifest without data, or, after the bridge withdrew its
// own earlier segments on seeing a sequence "not its own", a missing
// segment before it: a chain that was whole, broken by its bridge.
func TestExtendEndedMidCommitLeavesTheChainWhole(t *testing.T) {
	for _, nth := range []int{1, 2} {
		t.Run(fmt.Sprintf("manifest %d", nth), func(t *testing.T) {
			st := &cancellingStore{File: fileStore(t)}
			h := handover(t, st)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st.mu.Lock()
			st.n, st.cancel = nth, cancel
			st.mu.Unlock()
			b, err := delta.Extend(ctx, h.e.Client, st, h.a.Manifest, h.b.Manifest.Revision, delta.Options{Cluster: cluster, MaxBytes: 2048})
			t.Logf("bridge ended: %v (%d segments standing, %d withdrawn)", err, len(b.Segments), len(b.Withdrawn))
			c, lerr := delta.Load(context.Background(), st, h.a.Manifest, nil)
			if lerr != nil {
				t.Fatal(lerr)
			}
			if c.Broken != nil {
				t.Fatalf("the chain after a bridge ended mid-commit: %v", c.Broken)
			}
			for _, m := range c.Segments {
				if _, err := st.Stat(context.Background(), m.DataKey); err != nil {
					t.Fatalf("segment %s stands without its data: %v", m.Name(), err)
				}
			}
			if got, want := len(c.Segments), len(h.chain.Segments)+len(b.Segments); got != want {
				t.Fatalf("the chain has %d segments; the old chain's %d and the bridge's %d standing make %d", got, len(h.chain.Segments), len(b.Segments), want)
			}
		})
	}
}

// sameNameStore is the real file store; between the bridge's data put of
// its first segment and that segment's manifest, another writer puts its
// own data under the same key (the old leader, late, whose last segment
// holds the same revisions: the same name).
type sameNameStore struct {
	*store.File
	mu    sync.Mutex
	armed bool
	whole bool   // the other writer's manifest lands too, last
	data  string // the bridge's first data key, once put
	done  bool
}

func (s *sameNameStore) Put(ctx context.Context, key string, body io.Reader) (int64, error) {
	n, err := s.File.Put(ctx, key, body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.armed || err != nil || s.done || !strings.Contains(key, ".deltas/") {
		return n, err
	}
	theirs := []byte("the old leader's segment, same revisions")
	switch {
	case s.data == "" && strings.HasSuffix(key, ".events.zst"):
		s.data = key
		if !s.whole {
			s.done = true
			_, err = s.File.Put(ctx, key, bytes.NewReader(theirs))
		}
	case s.whole && key == delta.ManifestKey(s.data):
		s.done = true
		var m delta.Manifest
		if err := snapshot.ReadJSON(ctx, s.File, key, &m); err != nil {
			return 0, err
		}
		sum := sha256.Sum256(theirs)
		m.SHA256, m.StoredSize = hex.EncodeToString(sum[:]), int64(len(theirs))
		if _, err := s.File.Put(ctx, s.data, bytes.NewReader(theirs)); err != nil {
			return 0, err
		}
		err = snapshot.WriteJSON(ctx, s.File, key, &m)
	}
	return n, err
}

// TestExtendNotesAnotherWritersSegmentUnderItsName: two writers that
// write the same revisions after the same segment give them the same key.
// The listing after the bridge sees only its own keys, yet the data under
// one of them is the other writer's: the chain looked whole (Load, list,
// check), a restore into it failed on the segment's sha256. The bridge
// reads its segments back and withdraws when one is not what it wrote.
func TestExtendNotesAnotherWritersSegmentUnderItsName(t *testing.T) {
	for _, whole := range []bool{false, true} {
		t.Run(fmt.Sprintf("their manifest too %v", whole), func(t *testing.T) { sameName(t, whole) })
	}
}

func sameName(t *testing.T, whole bool) {
	st := &sameNameStore{File: fileStore(t), whole: whole}
	h := handover(t, st)
	st.mu.Lock()
	st.armed = true
	st.mu.Unlock()
	b, err := delta.Extend(context.Background(), h.e.Client, st, h.a.Manifest, h.b.Manifest.Revision, delta.Options{Cluster: cluster})
	t.Logf("bridge: %v (%d standing, %d withdrawn)", err, len(b.Segments), len(b.Withdrawn))
	c, lerr := delta.Load(context.Background(), st, h.a.Manifest, nil)
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, m := range c.Segments {
		data := storetest.Read(t, st, m.DataKey)
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != m.SHA256 {
			t.Fatalf("segment %s stands in a chain Load finds whole (bridge result %v), but its data is not what its manifest committed", m.Name(), err)
		}
	}
	var be *delta.BridgeError
	if !errors.As(err, &be) || be.Result != delta.BridgeWithdrawn {
		t.Fatalf("Extend beside another writer's segment under its name: %v; want a BridgeError %q", err, delta.BridgeWithdrawn)
	}
	if c.Broken != nil || len(c.Orphans) != 0 {
		t.Fatalf("after the withdrawal: broken %v, %d orphans", c.Broken, len(c.Orphans))
	}
	if want := len(h.chain.Segments) + map[bool]int{false: 0, true: 1}[whole]; len(c.Segments) != want {
		t.Fatalf("after the withdrawal the chain has %d segments, want %d (the other writer's whole segment stays: %v)", len(c.Segments), want, whole)
	}
}
