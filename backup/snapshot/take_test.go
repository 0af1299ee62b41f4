package snapshot_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/internal/storetest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

func put(t *testing.T, cli *clientv3.Client, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		if _, err := cli.Put(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
}

func fileStore(t *testing.T) store.Store {
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestTakeWritesVerifiedDataThenManifest(t *testing.T) {
	e := etcdtest.Start(t)
	put(t, e.Client, map[string]string{
		"/registry/pods/default/a":     "x",
		"/registry/pods/default/b":     "x",
		"/registry/pods/kube-system/c": "x",
		"/registry/configmaps/ns/one":  "x",
		"/registry/health":             "x",
		"/other/key":                   "x",
	})
	for _, compression := range []string{snapshot.CompressionZstd, snapshot.CompressionNone} {
		t.Run(compression, func(t *testing.T) {
			st := fileStore(t)
			now := time.Date(2026, 11, 22, 3, 15, 0, 0, time.UTC)
			res, err := snapshot.Take(context.Background(), e.Config(), st, snapshot.Options{
				Cluster: "prod-eu1", Compression: compression, Now: func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			m := res.Manifest
			status, err := e.Client.Status(context.Background(), e.Endpoints[0])
			if err != nil {
				t.Fatal(err)
			}
			wantKey := fmt.Sprintf("prod-eu1/20261122T031500Z-r%d.db", status.Header.Revision)
			if compression == snapshot.CompressionZstd {
				wantKey += ".zst"
			}
			if m.DataKey != wantKey {
				t.Fatalf("data key %s, want %s", m.DataKey, wantKey)
			}
			if m.Keys != 6 || m.PrefixKeys["/registry/pods"] != 3 || m.PrefixKeys["/registry/configmaps"] != 1 || m.PrefixKeys["/registry/health"] != 1 || len(m.PrefixKeys) != 3 {
				t.Fatalf("keys %d %v", m.Keys, m.PrefixKeys)
			}
			if m.ClusterID != fmt.Sprintf("%x", status.Header.ClusterId) || m.MemberID != fmt.Sprintf("%x", status.Header.MemberId) || !strings.HasPrefix(m.EtcdVersion, "3.6") {
				t.Fatalf("identity %s %s %s", m.ClusterID, m.MemberID, m.EtcdVersion)
			}

			stored := storetest.Read(t, st, m.DataKey)
			if int64(len(stored)) != m.StoredSize || hexSum(stored) != m.StoredSHA256 {
				t.Fatalf("stored object %d bytes %s, manifest says %d %s", len(stored), hexSum(stored), m.StoredSize, m.StoredSHA256)
			}
			raw := stored
			if compression == snapshot.CompressionZstd {
				dec, err := zstd.NewReader(bytes.NewReader(stored))
				if err != nil {
					t.Fatal(err)
				}
				raw, err = io.ReadAll(dec)
				if err != nil {
					t.Fatal(err)
				}
			}
			if int64(len(raw)) != m.RawSize || hexSum(raw) != m.RawSHA256 {
				t.Fatalf("raw %d bytes %s, manifest says %d %s", len(raw), hexSum(raw), m.RawSize, m.RawSHA256)
			}
			body, trailer := raw[:len(raw)-32], raw[len(raw)-32:]
			if sum := sha256.Sum256(body); !bytes.Equal(sum[:], trailer) {
				t.Fatal("stored snapshot lost etcd's sha256 trailer")
			}

			l, err := snapshot.List(context.Background(), st, "prod-eu1")
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Snapshots) != 1 || len(l.Orphans) != 0 || l.Snapshots[0].RawSHA256 != m.RawSHA256 {
				t.Fatalf("listing %+v", l)
			}
		})
	}
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestTakeFailsAtEtcdStageWhenUnreachableAndLeavesNothing(t *testing.T) {
	st := fileStore(t)
	cfg := clientv3.Config{Endpoints: []string{"http://127.0.0.1:1"}, DialTimeout: 500 * time.Millisecond, Logger: zap.NewNop()}
	_, err := snapshot.Take(context.Background(), cfg, st, snapshot.Options{Cluster: "c"})
	if err == nil || snapshot.StageOf(err) != snapshot.StageEtcd || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("err = %v (stage %s)", err, snapshot.StageOf(err))
	}
	objs, _ := st.List(context.Background(), "")
	if len(objs) != 0 {
		t.Fatalf("left %v", objs)
	}
}

// failingStore is an in-memory fake: it stands in for a store whose
// writes fail part-way (the real S3 faults are in test/backup).
type failingStore struct {
	store.Store
	after int64
}

func (f failingStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	n, err := io.CopyN(io.Discard, r, f.after)
	if err != nil {
		return n, err
	}
	return n, errors.New("injected: store write failed")
}

func TestTakeFakeStoreFailureIsUploadStageAndNoManifest(t *testing.T) {
	e := etcdtest.Start(t)
	for i := range 40 {
		big := make([]byte, 64<<10)
		rand.Read(big)
		put(t, e.Client, map[string]string{fmt.Sprintf("/registry/secrets/ns/s%d", i): string(big)})
	}
	st := fileStore(t)
	_, err := snapshot.Take(context.Background(), e.Config(), failingStore{Store: st, after: 1 << 20}, snapshot.Options{Cluster: "c"})
	if err == nil || snapshot.StageOf(err) != snapshot.StageUpload || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("err = %v (stage %s)", err, snapshot.StageOf(err))
	}
	l, err := snapshot.List(context.Background(), st, "c")
	if err != nil || len(l.Snapshots) != 0 {
		t.Fatalf("listing %+v, %v", l, err)
	}
}

// Two snapshots in the same second at the same revision (a manual one
// right after the agent's): the second gets "-2" beside the first instead
// of overwriting it, both are complete, and the later one lists first.
func TestTakeSameSecondSameRevisionKeepsBoth(t *testing.T) {
	e := etcdtest.Start(t)
	put(t, e.Client, map[string]string{"/registry/pods/default/a": "x"})
	st := fileStore(t)
	now := time.Date(2026, 11, 22, 3, 15, 0, 0, time.UTC)
	var keys []string
	for range 3 {
		res, err := snapshot.Take(context.Background(), e.Config(), st, snapshot.Options{
			Cluster: "prod-eu1", Compression: snapshot.CompressionZstd, Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, res.Manifest.DataKey)
	}
	rev := strings.TrimSuffix(strings.TrimPrefix(keys[0], "prod-eu1/20261122T031500Z-r"), ".db.zst")
	want := []string{
		"prod-eu1/20261122T031500Z-r" + rev + ".db.zst",
		"prod-eu1/20261122T031500Z-r" + rev + "-2.db.zst",
		"prod-eu1/20261122T031500Z-r" + rev + "-3.db.zst",
	}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("data keys %v, want %v", keys, want)
	}
	l, err := snapshot.List(context.Background(), st, "prod-eu1")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range l.Snapshots {
		listed = append(listed, m.DataKey)
		if stored := storetest.Read(t, st, m.DataKey); hexSum(stored) != m.StoredSHA256 {
			t.Errorf("%s does not match its manifest: overwritten", m.DataKey)
		}
	}
	if strings.Join(listed, " ") != strings.Join([]string{want[2], want[1], want[0]}, " ") || len(l.Orphans) != 0 {
		t.Fatalf("listing %v (orphans %v), want newest first %v", listed, l.Orphans, []string{want[2], want[1], want[0]})
	}
	if got := snapshot.ManifestKey(want[1]); got != "prod-eu1/20261122T031500Z-r"+rev+"-2.json" {
		t.Fatalf("manifest key %s", got)
	}
}

// A snapshot of several MiB arrives in hundreds of 32 KiB messages, each
// decoded into the buffer of the one before (etcdStream): the stored
// object must be etcd's stream byte for byte, which etcd's own trailing
// sha256 (computed by the server over every byte it sent) checks.
func TestTakeManyMessagesKeepsEveryByte(t *testing.T) {
	e := etcdtest.Start(t)
	for i := range 96 {
		v := make([]byte, 64<<10)
		rand.Read(v)
		if _, err := e.Client.Put(context.Background(), fmt.Sprintf("/registry/secrets/ns/%03d", i), string(v)); err != nil {
			t.Fatal(err)
		}
	}
	st := fileStore(t)
	res, err := snapshot.Take(context.Background(), e.Config(), st, snapshot.Options{Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if m.RawSize < 6<<20 {
		t.Fatalf("snapshot of %d bytes: too small to span many messages", m.RawSize)
	}
	// The random values are stored, not compressed, and the manifest says so.
	if e := m.Encoding; e == nil || e.StoredRaw < 4<<20 || e.Frames < 2 || e.ZstdLevel != "fastest" {
		t.Fatalf("encoding %+v: want the random values in stored frames", e)
	}
	dec, err := zstd.NewReader(bytes.NewReader(storetest.Read(t, st, m.DataKey)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	if hexSum(raw) != m.RawSHA256 || int64(len(raw)) != m.RawSize {
		t.Fatalf("raw %d bytes %s, manifest says %d %s", len(raw), hexSum(raw), m.RawSize, m.RawSHA256)
	}
	if sum := sha256.Sum256(raw[:len(raw)-32]); !bytes.Equal(sum[:], raw[len(raw)-32:]) {
		t.Fatal("stored snapshot does not match etcd's sha256 trailer")
	}
}
