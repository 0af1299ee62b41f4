package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	etcdutlsnapshot "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/pkg/v3/traceutil"
	"go.etcd.io/etcd/server/v3/lease"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.uber.org/zap"
)

// TestEtcdHashAgreesWithEtcdutl is differential: EtcdHash's verdict on a
// snapshot stream (Verify: the stream has etcd's sha256 trailer, and it
// matches) against etcdutl's own restore (v3Manager.copyAndVerifyDB at the
// pinned etcdutl: a trailer when the size is 32 more than a multiple of
// 512, checked unless --skip-hash-check), over generated streams: real
// etcd databases with the right trailer, a damaged body or trailer, a
// trailer cut short or missing, bytes appended, and bodies of every
// length. EtcdHash reads each in random chunk sizes, as the network hands
// it over. A stream EtcdHash accepts and etcdutl refuses would pass the
// drill's download check and then be restored with the hash check
// skipped (drill.go passes SkipHashCheck: the download phase checked it).
func TestEtcdHashAgreesWithEtcdutl(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 12))
	lg := zap.NewNop()
	dir := t.TempDir()
	var bodies [][]byte
	for i, keys := range []int{0, 3, 60, 300} {
		bodies = append(bodies, etcdDatabase(t, filepath.Join(dir, fmt.Sprintf("db%d", i)), keys, r))
	}

	type variant struct {
		name string
		make func(body []byte) []byte
	}
	withTrailer := func(b []byte) []byte {
		sum := sha256.Sum256(b)
		return append(append([]byte{}, b...), sum[:]...)
	}
	flip := func(b []byte, at int) []byte {
		c := append([]byte{}, b...)
		c[at] ^= byte(1 << r.IntN(8))
		return c
	}
	variants := []variant{
		{"etcd's snapshot", withTrailer},
		{"body damaged", func(b []byte) []byte { s := withTrailer(b); return flip(s, r.IntN(len(b))) }},
		{"trailer damaged", func(b []byte) []byte { s := withTrailer(b); return flip(s, len(b)+r.IntN(sha256.Size)) }},
		{"no trailer", func(b []byte) []byte { return append([]byte{}, b...) }},
		{"trailer cut short", func(b []byte) []byte { s := withTrailer(b); return s[:len(s)-1-r.IntN(sha256.Size)] }},
		{"cut short by pages", func(b []byte) []byte { s := withTrailer(b); return s[:len(s)-512*(1+r.IntN(8))] }},
		{"bytes appended", func(b []byte) []byte { return append(withTrailer(b), make([]byte, 1+r.IntN(600))...) }},
		{"512 bytes appended", func(b []byte) []byte { return append(withTrailer(b), make([]byte, 512)...) }},
		{"trailer of a shorter body", func(b []byte) []byte {
			cut := 512 * (1 + r.IntN(4))
			sum := sha256.Sum256(b[:len(b)-cut])
			return append(append([]byte{}, b...), sum[:]...)
		}},
		{"odd-sized body with its trailer", func(b []byte) []byte { return withTrailer(b[:len(b)-1-r.IntN(511)]) }},
		{"whole stream's sha256 as trailer", func(b []byte) []byte {
			s := withTrailer(b)
			sum := sha256.Sum256(s[:len(s)-sha256.Size-1])
			copy(s[len(s)-sha256.Size:], sum[:])
			return s
		}},
		{"tiny", func(b []byte) []byte { return append([]byte{}, b[:r.IntN(sha256.Size+1)]...) }},
	}

	cases, accepted := 0, 0
	for round := range 30 {
		for _, v := range variants {
			body := bodies[r.IntN(len(bodies))]
			stream := v.make(body)
			cases++
			name := fmt.Sprintf("round %d, %s (%d bytes)", round, v.name, len(stream))

			upstream, detail := etcdutlAccepts(t, lg, stream, filepath.Join(dir, fmt.Sprintf("case%d", cases)))
			for chunking := range 4 {
				h := NewEtcdHash()
				feed(h, stream, r, chunking)
				err := h.Verify()
				if ours := err == nil; ours != upstream {
					t.Errorf("%s: EtcdHash.Verify() = %v, but etcdutl restore %s", name, err, detail)
					break
				}
				whole := sha256.Sum256(stream)
				if _, _, got := h.Sums(); got != hex.EncodeToString(whole[:]) || h.Size() != int64(len(stream)) {
					t.Errorf("%s: whole-stream sha256 %s over %d bytes, want %x over %d", name, got, h.Size(), whole, len(stream))
				}
			}
			if upstream {
				accepted++
			}
		}
	}
	t.Logf("%d streams, %d accepted by etcdutl, each read in 4 chunkings", cases, accepted)
	if accepted < 30 || accepted == cases {
		t.Fatalf("the generator is lopsided: etcdutl accepted %d of %d", accepted, cases)
	}
}

// feed writes data to h in chunks: random small ones (down to one byte,
// less than the trailer), random large ones, all at once, or page-sized.
func feed(h *EtcdHash, data []byte, r *rand.Rand, how int) {
	for len(data) > 0 {
		var n int
		switch how {
		case 0:
			n = 1 + r.IntN(40)
		case 1:
			n = 1 + r.IntN(20000)
		case 2:
			n = len(data)
		default:
			n = 4096
		}
		n = min(n, len(data))
		h.Write(data[:n])
		data = data[n:]
	}
}

// etcdutlAccepts restores stream with etcdutl (hash check on) into a new
// data dir and reports whether its integrity check passed, with what it
// said. Any failure other than the hash check's (there is none for these
// databases) is fatal.
func etcdutlAccepts(t *testing.T, lg *zap.Logger, stream []byte, dir string) (bool, string) {
	t.Helper()
	path := dir + ".snapshot"
	if err := os.WriteFile(path, stream, 0o600); err != nil {
		t.Fatal(err)
	}
	err := etcdutlsnapshot.NewV3(lg).Restore(etcdutlsnapshot.RestoreConfig{
		SnapshotPath:        path,
		Name:                "m1",
		OutputDataDir:       dir,
		PeerURLs:            []string{"http://127.0.0.1:2380"},
		InitialCluster:      "m1=http://127.0.0.1:2380",
		InitialClusterToken: "differential",
	})
	os.Remove(path)
	os.RemoveAll(dir)
	switch {
	case err == nil:
		return true, "accepts it"
	case strings.Contains(err.Error(), "missing hash"), strings.Contains(err.Error(), "expected sha256"):
		return false, "refuses it: " + err.Error()
	case len(stream) < sha256.Size: // it cannot seek to a trailer
		return false, "refuses it: " + err.Error()
	}
	t.Fatalf("etcdutl restore of %d bytes failed outside its hash check: %v", len(stream), err)
	return false, ""
}

// etcdDatabase makes an etcd backend database with keys random keys and
// returns its snapshot: the bytes etcd streams before the trailer.
func etcdDatabase(t *testing.T, path string, keys int, r *rand.Rand) []byte {
	t.Helper()
	lg := zap.NewNop()
	be := backend.NewDefaultBackend(lg, path)
	le := lease.NewLessor(lg, be, nil, lease.LessorConfig{MinLeaseTTL: 1})
	kv := mvcc.NewStore(lg, be, le, mvcc.StoreConfig{})
	for i := range keys {
		txn := kv.Write(traceutil.TODO())
		val := make([]byte, r.IntN(400))
		for j := range val {
			val[j] = byte(r.Uint32())
		}
		txn.Put([]byte(fmt.Sprintf("/registry/k%d", i)), val, lease.NoLease)
		txn.End()
	}
	kv.Close()
	le.Stop()
	be.ForceCommit()
	// What etcd's Maintenance.Snapshot streams before its trailer: the
	// backend's snapshot (bbolt's Tx.WriteTo, the pages in use).
	var buf bytes.Buffer
	snap := be.Snapshot()
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b)%512 != 0 {
		t.Fatalf("database of %d bytes is not whole pages", len(b))
	}
	return b
}
