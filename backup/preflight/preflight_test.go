package preflight_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/preflight"
	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

const cluster = "prod-eu1"

// The preflight reads the database in a child process: this test binary.
func TestMain(m *testing.M) {
	preflight.ServeChild()
	os.Exit(m.Run())
}

// stoppedMember is a real etcd data dir (etcd's embedded server wrote it)
// with Kubernetes-shaped keys and some history, and its last revision.
func stoppedMember(t *testing.T) (dataDir string, rev int64) {
	t.Helper()
	e := etcdtest.Start(t)
	value := strings.Repeat("x", 1024)
	for i := range 300 {
		if _, err := e.Client.Put(context.Background(), fmt.Sprintf("/registry/configmaps/team-%d/settings", i%30), value); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := e.Client.Get(context.Background(), "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	e.Stop()
	return e.DataDir, resp.Header.Revision
}

func dbOf(dataDir string) string { return filepath.Join(dataDir, "member", "snap", "db") }

func TestHealthyDataDirPassesAndReportsItsRevision(t *testing.T) {
	dir, rev := stoppedMember(t)
	r, err := preflight.Run(context.Background(), preflight.Options{DataDir: dir, MaxRevisionLag: preflight.DefaultMaxRevisionLag})
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision != rev || r.Keys < 300 || r.ConsistentIndex == 0 {
		t.Fatalf("report = %+v, want revision %d, at least 300 key revisions, a consistent index", r, rev)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "lag check skipped: no store configured") {
		t.Errorf("notes do not say the lag check was skipped: %q", r.Notes)
	}
}

func TestRefusesADamagedDatabase(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, db string)
		want   string
	}{{
		// bbolt grows the file ahead of use: cut into the pages in use.
		name: "truncated to half of the pages in use",
		damage: func(t *testing.T, db string) {
			var inUse int64
			withDB(t, db, func(tx *bolt.Tx) { inUse = tx.Size() })
			if err := os.Truncate(db, inUse/2); err != nil {
				t.Fatal(err)
			}
		},
		want: `is corrupt: truncated: \d+ bytes, but its \d+ pages of 4096 bytes need \d+`,
	}, {
		name:   "truncated inside the first page",
		damage: func(t *testing.T, db string) { os.Truncate(db, 100) },
		want:   `is corrupt: meta page 1: the file ends before it`,
	}, {
		name:   "a flipped bit in meta page 0 (bbolt itself would fall back to meta page 1)",
		damage: func(t *testing.T, db string) { flipByte(t, db, 16+48) }, // the txid
		want:   `is corrupt: meta page 0: checksum 0x[0-9a-f]+, computed 0x[0-9a-f]+ \(damaged\)`,
	}, {
		name:   "a flipped bit in meta page 1",
		damage: func(t *testing.T, db string) { flipByte(t, db, 4096+16+40) }, // the high-water mark
		want:   `is corrupt: meta page 1: checksum`,
	}, {
		name: "a flipped bit in the page type of etcd's key bucket root",
		damage: func(t *testing.T, db string) {
			flipByte(t, db, keyBucketRoot(t, db)*4096+8)
		},
		// bbolt's check reports it, or bbolt panics on it (in the child).
		want: `is corrupt: (bbolt check: |reading it crashed bbolt \(panic: )`,
	}, {
		name: "a flipped bit in a stored revision record",
		damage: func(t *testing.T, db string) {
			off := recordOffset(t, db)
			flipByte(t, db, off)
		},
		want: `is corrupt: key revision [0-9a-f]+: `,
	}} {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := stoppedMember(t)
			c.damage(t, dbOf(dir))
			_, err := preflight.Run(context.Background(), preflight.Options{DataDir: dir, MaxRevisionLag: preflight.DefaultMaxRevisionLag})
			var p *preflight.Problem
			if !errors.As(err, &p) || p.Kind != preflight.Corrupt {
				t.Fatalf("err = %v, want a Corrupt problem", err)
			}
			if !matches(c.want, err.Error()) || !strings.Contains(err.Error(), dbOf(dir)) {
				t.Fatalf("message %q does not name the db and match %q", err, c.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestRefusesAMemberWithoutItsDatabase(t *testing.T) {
	dir, _ := stoppedMember(t)
	if err := os.Remove(dbOf(dir)); err != nil {
		t.Fatal(err)
	}
	_, err := preflight.Run(context.Background(), preflight.Options{DataDir: dir})
	var p *preflight.Problem
	if !errors.As(err, &p) || p.Kind != preflight.Missing || !strings.Contains(err.Error(), "database "+dbOf(dir)+" is missing, but "+filepath.Join(dir, "member")+" exists") {
		t.Fatalf("err = %v, want Missing naming the db", err)
	}
}

// The stale-data check against a real store with a committed backup.
func TestStaleRevisionAgainstTheNewestBackup(t *testing.T) {
	st, err := store.NewFile(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	first := etcdtest.Start(t)
	first.Put(t, map[string]string{"/registry/namespaces/kube-system": "ns"})
	first.Stop()
	oldDisk := copyDir(t, first.DataDir) // a volume snapshot of the stopped member
	e := etcdtest.StartIn(t, first.DataDir)
	for i := range 50 {
		e.Put(t, map[string]string{fmt.Sprintf("/registry/leases/l%d", i): "renewed"})
	}
	backup := e.Snapshot(t, st, cluster, time.Now(), snapshot.CompressionZstd)
	e.Stop()

	o := preflight.Options{Store: st, Cluster: cluster, MaxRevisionLag: 10}
	o.DataDir = e.DataDir
	r, err := preflight.Run(context.Background(), o)
	if err != nil || r.Newest == nil || r.Newest.Revision != backup.Revision {
		t.Fatalf("the live member's own dir: %v (report %+v)", err, r)
	}

	o.DataDir = oldDisk
	r, err = preflight.Run(context.Background(), o)
	var p *preflight.Problem
	want := fmt.Sprintf("is at revision %d, %d behind the newest backup %s (revision %d, ", r.Revision, backup.Revision-r.Revision, backup.Name(), backup.Revision)
	if !errors.As(err, &p) || p.Kind != preflight.Stale || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "more than --max-revision-lag 10") {
		t.Fatalf("old disk: err = %v\nwant Stale with %q", err, want)
	}
	t.Logf("refused: %v", err)

	o.MaxRevisionLag = backup.Revision - r.Revision
	if _, err := preflight.Run(context.Background(), o); err != nil {
		t.Fatalf("a lag equal to the threshold is allowed: %v", err)
	}

	// An empty data dir while backups exist: refused unless allowed.
	o.DataDir = t.TempDir()
	if _, err := preflight.Run(context.Background(), o); !errors.As(err, &p) || p.Kind != preflight.Stale || !strings.Contains(err.Error(), "is empty, but the store holds backup "+backup.Name()) {
		t.Fatalf("empty data dir: err = %v", err)
	}
	o.AllowEmpty = true
	if _, err := preflight.Run(context.Background(), o); err != nil {
		t.Fatalf("empty data dir with AllowEmpty: %v", err)
	}
}

// A restore with the revision bump (etcdguard's default) holds the record
// etcdutl writes at the bumped revision, an empty value with no key: the
// preflight must pass it, before etcd ever started on the dir and after it
// has served writes, and see the member ahead of the backup it came from.
func TestABumpedRestorePasses(t *testing.T) {
	st, err := store.NewFile(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t)
	for i := range 20 {
		e.Put(t, map[string]string{fmt.Sprintf("/registry/pods/team-a/p%d", i): "spec"})
	}
	backup := e.Snapshot(t, st, cluster, time.Now(), snapshot.CompressionZstd)
	e.Stop()

	const bump = 1000
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Restore(context.Background(), st, backup, restore.Options{DataDir: dir, RevisionBump: bump}); err != nil {
		t.Fatal(err)
	}
	o := preflight.Options{DataDir: dir, Store: st, Cluster: cluster, MaxRevisionLag: preflight.DefaultMaxRevisionLag}
	r, err := preflight.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("preflight of a restore bumped by %d: %v", bump, err)
	}
	if r.Revision != backup.Revision+bump {
		t.Errorf("restored revision %d, want the backup's %d + %d", r.Revision, backup.Revision, bump)
	}
	// What the report says of it: ahead of the backup by the bump (not
	// "within the lag"), and compacted at the bump once etcd starts.
	if r.ScheduledCompactRevision != backup.Revision+bump || r.CompactRevision != 0 {
		t.Errorf("compaction finished %d, scheduled %d; want none finished and %d scheduled", r.CompactRevision, r.ScheduledCompactRevision, backup.Revision+bump)
	}
	ahead := fmt.Sprintf("revision %d is %d ahead of the newest backup %s (revision %d, taken %s)", r.Revision, bump, backup.Name(), backup.Revision, backup.CreatedAt.UTC().Format(time.RFC3339))
	if !slices.Contains(r.Notes, ahead) {
		t.Errorf("notes %q, want %q", r.Notes, ahead)
	}

	after := etcdtest.StartIn(t, dir)
	after.Put(t, map[string]string{"/registry/pods/team-a/after": "spec"})
	after.Stop()
	if r, err = preflight.Run(context.Background(), o); err != nil {
		t.Fatalf("preflight after etcd served the restored dir: %v", err)
	}
	t.Logf("bumped restore passes: revision %d, backup %d", r.Revision, backup.Revision)
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x04
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// keyBucketRoot is the page of etcd's "key" bucket root.
func keyBucketRoot(t *testing.T, db string) int64 {
	t.Helper()
	var root int64
	withDB(t, db, func(tx *bolt.Tx) {
		root = int64(tx.Bucket([]byte("key")).Root())
	})
	if root == 0 {
		t.Fatal("the key bucket is inline: not enough data for this test")
	}
	return root
}

// recordOffset is the file offset of the ModRevision field inside the
// last key revision's record: found by searching the file for the record.
func recordOffset(t *testing.T, db string) int64 {
	t.Helper()
	var rec []byte
	withDB(t, db, func(tx *bolt.Tx) {
		_, v := tx.Bucket([]byte("key")).Cursor().Last()
		rec = append([]byte(nil), v...)
	})
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), string(rec))
	if i < 0 || strings.Count(string(b), string(rec)) != 1 {
		t.Fatal("the last record is not in the file exactly once")
	}
	// The record starts with key (field 1), then create_revision (2),
	// then mod_revision (field 3, tag 0x18): flip the varint after it.
	j := strings.IndexByte(string(rec[2+int(rec[1]):]), 0x18)
	if j < 0 {
		t.Fatal("no mod_revision in the record")
	}
	return int64(i + 2 + int(rec[1]) + j + 1)
}

func withDB(t *testing.T, path string, f func(*bolt.Tx)) {
	t.Helper()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error { f(tx); return nil })
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "old-disk")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func matches(pattern, s string) bool {
	return regexpMust(pattern).MatchString(s)
}

func regexpMust(p string) *regexp.Regexp { return regexp.MustCompile(p) }
