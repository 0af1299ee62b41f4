package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/internal/fanout"
	"github.com/k8sguard/k8sguard/backup/internal/storetest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// writeChain stores the manifests of a linked chain of n segments of
// 10 revisions each after snap (no data objects: Load reads manifests
// only); corrupt, when > 0, gives that segment a wrong prev_sha256.
func writeChain(t *testing.T, st store.Store, snap *snapshot.Manifest, n, corrupt int) {
	t.Helper()
	prev := snap.StoredSHA256
	for seq := 1; seq <= n; seq++ {
		first := snap.Revision + int64(seq-1)*10 + 1
		m := Manifest{FormatVersion: FormatVersion, Kind: Kind, Snapshot: snap.Name(), Sequence: seq,
			FirstRevision: first, LastRevision: first + 9, PrevSHA256: prev, SHA256: fmt.Sprintf("%064x", seq)}
		m.DataKey = DataKey(snap, m.Name())
		if seq == corrupt {
			m.PrevSHA256 = fmt.Sprintf("%064x", 0)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(context.Background(), ManifestKey(m.DataKey), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		prev = m.SHA256
	}
}

func slowChain(t *testing.T, n, corrupt int) (*storetest.Slow, *snapshot.Manifest) {
	t.Helper()
	fs, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	snap := &snapshot.Manifest{DataKey: "c/20261122T021500Z-r10.db.zst", Revision: 10, StoredSHA256: fmt.Sprintf("%064x", 999)}
	writeChain(t, fs, snap, n, corrupt)
	isManifest := func(key string) bool { return strings.HasSuffix(key, ".json") && strings.Contains(key, ".deltas/") }
	return &storetest.Slow{Store: fs, Match: isManifest, Delay: 20 * time.Millisecond}, snap
}

// Load reads a long chain's manifests several at a time, never more than
// fanout.Window at once, and still checks every link in order.
func TestLoadReadsManifestsAheadOfTheLinkCheck(t *testing.T) {
	st, snap := slowChain(t, 200, 0)
	c, err := Load(context.Background(), st, snap, nil)
	if err != nil || c.Broken != nil {
		t.Fatalf("load: %v, broken %v", err, c.Broken)
	}
	if len(c.Segments) != 200 {
		t.Fatalf("%d segments, want 200", len(c.Segments))
	}
	for i, m := range c.Segments {
		if m.Sequence != i+1 {
			t.Fatalf("segment %d has sequence %d", i, m.Sequence)
		}
	}
	if c.LastRevision() != 10+200*10 {
		t.Fatalf("chain ends at %d", c.LastRevision())
	}
	// One after another, 200 reads of 20 ms are 4 s; the window makes
	// it about 200/16 round trips. Concurrency is asserted, not time.
	if st.Most() < 2 || st.Most() > fanout.Window {
		t.Fatalf("%d manifest reads at once, want 2..%d", st.Most(), fanout.Window)
	}
	if st.Reads() != 200 {
		t.Fatalf("%d manifest reads, want 200", st.Reads())
	}
}

// A restore to an early point reads the manifests it needs and at most a
// window more; a broken link is still found where it is.
func TestLoadReadsAheadNoFurtherThanItsWindow(t *testing.T) {
	st, snap := slowChain(t, 200, 0)
	c, err := Load(context.Background(), st, snap, func(m *Manifest) bool { return m.Sequence == 5 })
	if err != nil || len(c.Segments) != 5 {
		t.Fatalf("load: %v, %d segments", err, len(c.Segments))
	}
	if n := st.Reads(); n > 5+fanout.Window {
		t.Fatalf("%d manifest reads for 5 segments, want at most %d", n, 5+fanout.Window)
	}

	st, snap = slowChain(t, 120, 50)
	c, err = Load(context.Background(), st, snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	var brk *BrokenLinkError
	if !errors.As(c.Broken, &brk) || !strings.HasPrefix(brk.Segment, "000050-") || len(c.Segments) != 49 {
		t.Fatalf("broken %v after %d segments, want at segment 50 after 49", c.Broken, len(c.Segments))
	}
}

// A cancelled load returns the cancellation, and leaves no read running.
func TestLoadCancelledStopsReading(t *testing.T) {
	st, snap := slowChain(t, 100, 0)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := Load(ctx, st, snap, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.Running() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d manifest reads still running", st.Running())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := st.Reads(); n >= 100 {
		t.Fatalf("%d manifest reads after the cancel at 50 ms", n)
	}
}

// deleteLog is a file store that records the order of deletes and how
// many ran at once, each taking a round trip.
type deleteLog struct {
	store.Store
	mu      sync.Mutex
	order   []string
	running int
	most    int
}

func (d *deleteLog) Delete(ctx context.Context, key string) error {
	d.mu.Lock()
	d.running++
	d.most = max(d.most, d.running)
	d.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	err := d.Store.Delete(ctx, key)
	d.mu.Lock()
	d.running--
	d.order = append(d.order, key)
	d.mu.Unlock()
	return err
}

// Delete removes a chain several objects at a time, every manifest before
// any data object (an interrupted delete never leaves a manifest whose
// data is gone).
func TestDeleteRemovesAChainManifestsFirstSeveralAtATime(t *testing.T) {
	ctx := context.Background()
	fs, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	snap := &snapshot.Manifest{DataKey: "c/20261122T021500Z-r10.db.zst", Revision: 10, StoredSHA256: fmt.Sprintf("%064x", 999)}
	writeChain(t, fs, snap, 100, 0)
	c, err := Load(ctx, fs, snap, nil)
	if err != nil || len(c.Segments) != 100 {
		t.Fatalf("load: %v, %d segments", err, len(c.Segments))
	}
	for _, m := range c.Segments {
		if _, err := fs.Put(ctx, m.DataKey, strings.NewReader("data")); err != nil {
			t.Fatal(err)
		}
	}
	d := &deleteLog{Store: fs}
	n, err := Delete(ctx, d, snap)
	if err != nil || n != 100 {
		t.Fatalf("delete: %d manifests, %v", n, err)
	}
	if left, err := fs.List(ctx, ChainDir(snap)); err != nil || len(left) != 0 {
		t.Fatalf("%d objects left (%v)", len(left), err)
	}
	if len(d.order) != 200 || d.most < 2 || d.most > 16 {
		t.Fatalf("%d deletes, %d at once; want 200, 2..16", len(d.order), d.most)
	}
	for i, k := range d.order {
		if manifest := strings.HasSuffix(k, ".json"); manifest != (i < 100) {
			t.Fatalf("delete %d is %s: a data object went before a manifest", i, k)
		}
	}
}
