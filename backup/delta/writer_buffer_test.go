package delta

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
	"unsafe"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/k8sguard/k8sguard/backup/internal/storetest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// failingPuts is a file store whose puts fail while down is set: an
// in-memory stand-in for an S3 outage, where only the writer's buffers,
// not the store, are under test (the real outage is tested against
// versitygw in the agent's tests).
type failingPuts struct {
	*store.File
	down bool
}

func (f *failingPuts) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if f.down {
		return 0, errors.New("store down")
	}
	return f.File.Put(ctx, key, r)
}

// writeChanges adds n single-put revisions of 2 KiB random values (what
// encrypted Secrets look like) after the writer's last revision, as the
// watch would hand them over.
func writeChanges(t *testing.T, w *writer, n int) {
	t.Helper()
	for range n {
		rev := w.lastRev + 1
		v := make([]byte, 2<<10)
		rand.Read(v)
		ev := mvccpb.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: fmt.Appendf(nil, "/registry/secrets/default/s-%d", rev%50),
			Value: v, CreateRevision: rev, ModRevision: rev, Version: 1}}
		data, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.add([]rawEvent{{revision: rev, data: data}}, false, &dater{}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// While the store keeps up, the writer reuses one segment buffer for
// every segment: the next segment starts in the buffer of the one just
// committed, not in a second one allocated when it was cut. While the
// store is down, each held segment keeps its own buffer (bounded by
// max_bytes), and once they are committed the writer is back to one. The
// chain written meanwhile is whole.
func TestWriterKeepsOneSegmentBufferWhileTheStoreKeepsUpWithFakeFailingStore(t *testing.T) {
	fs, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := &failingPuts{File: fs}
	snap := &snapshot.Manifest{DataKey: "c/20261122T021500Z-r10.db.zst", Revision: 10, StoredSHA256: fmt.Sprintf("%064x", 999)}
	log := slog.New(slog.DiscardHandler)
	w := &writer{st: st, snap: snap, log: log, o: Options{Cluster: "c", Interval: time.Second, MaxBytes: 64 << 20, Now: time.Now, Logger: log},
		prevSHA: snap.StoredSHA256, nextFirst: snap.Revision + 1, lastRev: snap.Revision, zw: segmentZstd()}
	ctx := context.Background()
	buffers := map[*byte]int{} // a segment buffer's array → segments written in it
	commit := func() {
		t.Helper()
		data := w.segment().buf.Bytes()
		buffers[unsafe.SliceData(data[:cap(data)])]++
		if err := w.commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		writeChanges(t, w, 300)
		commit()
	}
	if len(buffers) != 1 || len(w.pending) != 0 {
		t.Fatalf("4 segments committed as they were cut: written in %d buffers (want 1), %d pending", len(buffers), len(w.pending))
	}

	st.down = true
	for range 3 {
		writeChanges(t, w, 300)
		w.retryAt = time.Time{} // try the store at every commit
		commit()
	}
	if len(w.pending) != 3 || len(buffers) != 3 {
		t.Fatalf("store down: %d segments held (want 3), in %d buffers (want 3: each held segment its own)", len(w.pending), len(buffers))
	}

	st.down = false
	w.retryAt = time.Time{}
	writeChanges(t, w, 300)
	commit()
	clear(buffers)
	for range 3 {
		writeChanges(t, w, 300)
		commit()
	}
	if len(buffers) != 1 || len(w.pending) != 0 {
		t.Fatalf("store back, 3 segments committed as they were cut: written in %d buffers (want 1), %d pending", len(buffers), len(w.pending))
	}

	c, err := Load(ctx, fs, snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Broken != nil || len(c.Segments) != 11 || c.LastRevision() != w.lastRev {
		t.Fatalf("chain: broken %v, %d segments (want 11), last revision %d (want %d)", c.Broken, len(c.Segments), c.LastRevision(), w.lastRev)
	}
	next := snap.Revision + 1
	for _, m := range c.Segments {
		if err := Decode(storetest.Read(t, fs, m.DataKey), func(ch Change) error {
			if ch.Revision != next {
				return fmt.Errorf("revision %d after %d", ch.Revision, next-1)
			}
			next++
			return nil
		}); err != nil {
			t.Fatalf("segment %s: %v", m.Name(), err)
		}
	}
}
