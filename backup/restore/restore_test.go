package restore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/internal/loopback"
	"github.com/k8sguard/k8sguard/backup/internal/storetest"
	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

const cluster = "prod-eu1"

var t0 = time.Date(2026, 11, 22, 3, 15, 0, 0, time.UTC)

// seeded is a store holding one snapshot of an etcd with a few
// Kubernetes-shaped keys, and those keys.
type seeded struct {
	store    store.Store
	manifest *snapshot.Manifest
	keys     map[string]string
}

func seed(t *testing.T, compression string) seeded {
	t.Helper()
	s, err := store.NewFile(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.StartIn(t, "")
	keys := map[string]string{}
	for i := range 20 {
		keys[fmt.Sprintf("/registry/configmaps/team-%d/settings", i)] = fmt.Sprintf(`{"replicas":%d}`, i)
		keys[fmt.Sprintf("/registry/certificatesigningrequests/node-%d", i)] = fmt.Sprintf("csr-%d", i)
	}
	keys["/registry/namespaces/kube-system"] = "kube-system"
	e.Put(t, keys)
	m := e.Snapshot(t, s, cluster, t0, compression)
	return seeded{store: s, manifest: m, keys: keys}
}

// readBack starts etcd on a restored data dir and returns every key.
func readBack(t *testing.T, dataDir string) (map[string]string, int64) {
	t.Helper()
	e := etcdtest.StartIn(t, dataDir)
	resp, err := e.Client.Get(context.Background(), "\x00", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	return got, resp.Header.Revision
}

func TestRestoreBringsEveryKeyBack(t *testing.T) {
	for _, compression := range []string{snapshot.CompressionZstd, snapshot.CompressionNone} {
		t.Run(compression, func(t *testing.T) {
			sd := seed(t, compression)
			m, err := restore.Find(context.Background(), sd.store, cluster, restore.Selector{Snapshot: restore.Latest})
			if err != nil {
				t.Fatal(err)
			}
			dataDir := filepath.Join(t.TempDir(), "restored")
			res, err := restore.Restore(context.Background(), sd.store, m, restore.Options{DataDir: dataDir})
			if err != nil {
				t.Fatal(err)
			}
			if res.Checked.RawSHA256 != m.RawSHA256 || res.Checked.EtcdHash == "" {
				t.Errorf("checked = %+v, manifest raw sha256 %s", res.Checked, m.RawSHA256)
			}
			got, rev := readBack(t, dataDir)
			if rev != m.Revision {
				t.Errorf("restored revision %d, manifest %d", rev, m.Revision)
			}
			for k, v := range sd.keys {
				if got[k] != v {
					t.Errorf("key %s = %q after restore, want %q", k, got[k], v)
				}
			}
			if len(got) != len(sd.keys) {
				t.Errorf("restored %d keys, want %d", len(got), len(sd.keys))
			}
			assertNoWorkDirs(t, filepath.Dir(dataDir))
		})
	}
}

func TestRestoreRefusesNonEmptyDataDir(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	dataDir := t.TempDir()
	precious := filepath.Join(dataDir, "member", "wal", "0000.wal")
	writeFile(t, precious, "the only copy")

	_, err := restore.Restore(context.Background(), sd.store, sd.manifest, restore.Options{DataDir: dataDir})
	want := fmt.Sprintf("data dir %s is not empty (holds member); refusing to overwrite it: restore into an empty or new directory, or pass --force to move it aside to %s.etcdguard-moved-<time> (nothing is deleted)", dataDir, dataDir)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant   %s", err, want)
	}
	assertFile(t, precious, "the only copy")
}

func TestRestoreForceMovesOldDataDirAside(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	dataDir := filepath.Join(t.TempDir(), "etcd")
	writeFile(t, filepath.Join(dataDir, "member", "wal", "0000.wal"), "the only copy")

	res, err := restore.Restore(context.Background(), sd.store, sd.manifest, restore.Options{DataDir: dataDir, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.MovedAside, dataDir+".etcdguard-moved-") {
		t.Fatalf("moved aside to %q", res.MovedAside)
	}
	assertFile(t, filepath.Join(res.MovedAside, "member", "wal", "0000.wal"), "the only copy")
	got, _ := readBack(t, dataDir)
	if got["/registry/namespaces/kube-system"] != "kube-system" {
		t.Fatalf("restored data dir lacks kube-system: %v", got)
	}
}

// --force moves aside only an etcd data dir: on a mistyped path (/var/lib,
// say) it would move the directory away and put the member in its place.
func TestRestoreForceRefusesADirThatIsNotAnEtcdDataDir(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	dir := filepath.Join(t.TempDir(), "lib")
	precious := filepath.Join(dir, "dpkg", "status")
	writeFile(t, precious, "not etcd's")

	_, err := restore.Restore(context.Background(), sd.store, sd.manifest, restore.Options{DataDir: dir, Force: true})
	want := fmt.Sprintf("data dir %s is not empty (holds dpkg) and is not an etcd data dir (it has no member/), so --force will not move it aside: check the path; an etcd data dir holds member/", dir)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant   %s", err, want)
	}
	assertFile(t, precious, "not etcd's")
	if moved, _ := filepath.Glob(dir + ".etcdguard-moved-*"); len(moved) > 0 {
		t.Fatalf("moved aside: %v", moved)
	}
}

// --force never moves aside the data dir of a running etcd: it would go on
// writing into the moved dir while the restored one takes its place.
func TestRestoreForceRefusesARunningMembersDataDir(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	live := etcdtest.Start(t)
	live.Put(t, map[string]string{"/registry/namespaces/live": "still here"})

	_, err := restore.Restore(context.Background(), sd.store, sd.manifest, restore.Options{DataDir: live.DataDir, Force: true})
	want := fmt.Sprintf("data dir %s is in use: %s is locked, so an etcd is running on it; stop etcd (every member) before restoring, then restore again",
		live.DataDir, filepath.Join(live.DataDir, "member", "snap", "db"))
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant   %s", err, want)
	}
	if moved, _ := filepath.Glob(live.DataDir + ".etcdguard-moved-*"); len(moved) > 0 {
		t.Fatalf("the live data dir was moved aside: %v", moved)
	}
	live.Put(t, map[string]string{"/registry/namespaces/after": "written"})
	live.Stop()
	if _, err := restore.Restore(context.Background(), sd.store, sd.manifest, restore.Options{DataDir: live.DataDir, Force: true}); err != nil {
		t.Fatalf("once etcd stopped, --force restores: %v", err)
	}
}

// An existing empty directory (typically the mount point of a dedicated
// etcd volume, with lost+found) is filled in place, not replaced.
func TestRestoreFillsAnEmptyExistingDataDirInPlace(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	dataDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dataDir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Restore(context.Background(), sd.store, sd.manifest, restore.Options{DataDir: dataDir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "lost+found")); err != nil {
		t.Errorf("lost+found: %v", err)
	}
	assertNoWorkDirs(t, dataDir)
	got, _ := readBack(t, dataDir)
	if len(got) != len(sd.keys) {
		t.Fatalf("restored %d keys, want %d", len(got), len(sd.keys))
	}
}

func TestRestoreRefusesCorruptSnapshotAndLeavesDataDirUntouched(t *testing.T) {
	tests := []struct {
		name        string
		compression string
		corrupt     func(t *testing.T, s store.Store, m *snapshot.Manifest)
		check       string
	}{
		{
			name:        "a flipped byte in the stored object",
			compression: snapshot.CompressionZstd,
			corrupt:     func(t *testing.T, s store.Store, m *snapshot.Manifest) { flipByte(t, s, m.DataKey, m.StoredSize/2) },
			check:       "sha256 of the stored object",
		},
		{
			name:        "a truncated object",
			compression: snapshot.CompressionZstd,
			corrupt: func(t *testing.T, s store.Store, m *snapshot.Manifest) {
				b := storetest.Read(t, s, m.DataKey)
				putObject(t, s, m.DataKey, b[:len(b)/2])
			},
			check: "sha256 of the stored object",
		},
		{
			name:        "a manifest whose snapshot sha256 does not match",
			compression: snapshot.CompressionZstd,
			corrupt: func(t *testing.T, s store.Store, m *snapshot.Manifest) {
				m.RawSHA256 = strings.Repeat("0", 64)
				if err := snapshot.Write(context.Background(), s, m); err != nil {
					t.Fatal(err)
				}
			},
			check: "sha256 of the etcd snapshot",
		},
		{
			// A manifest may not make restore buffer more than it can hold.
			name:        "a manifest whose chunk size is absurd",
			compression: snapshot.CompressionZstd,
			corrupt: func(t *testing.T, s store.Store, m *snapshot.Manifest) {
				m.Encoding.ChunkBytes = 1 << 40
				if err := snapshot.Write(context.Background(), s, m); err != nil {
					t.Fatal(err)
				}
			},
			check: "the manifest's chunk size",
		},
		{
			// The manifest agrees with the object (written after the damage),
			// so only etcd's own trailing hash can tell.
			name:        "damage inside the bbolt file that only etcd's hash catches",
			compression: snapshot.CompressionNone,
			corrupt: func(t *testing.T, s store.Store, m *snapshot.Manifest) {
				flipByte(t, s, m.DataKey, 4096+100)
				m.RawSHA256, m.StoredSHA256 = "", ""
				if err := snapshot.Write(context.Background(), s, m); err != nil {
					t.Fatal(err)
				}
			},
			check: "etcd's trailing sha256",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := seed(t, tt.compression)
			tt.corrupt(t, sd.store, sd.manifest)
			m, err := restore.Find(context.Background(), sd.store, cluster, restore.Selector{Snapshot: sd.manifest.Name()})
			if err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			dataDir := filepath.Join(parent, "etcd")
			_, err = restore.Restore(context.Background(), sd.store, m, restore.Options{DataDir: dataDir})
			var ie *restore.IntegrityError
			if !errors.As(err, &ie) || ie.Check != tt.check {
				t.Fatalf("err = %v, want an integrity error on %q", err, tt.check)
			}
			prefix := fmt.Sprintf("refusing to restore %s into %s (left untouched): snapshot %s is corrupt: %s is ", m.Name(), dataDir, m.DataKey, tt.check)
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("message %q\nwant prefix %q", err, prefix)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data dir %s was created: %v", dataDir, err)
			}
			assertNoWorkDirs(t, parent)
		})
	}
}

// Objects written before snapshots were compressed in chunks are one long
// zstd frame per run, and their manifests have no chunk size: they are
// read with the streaming decoder and restore as they always did.
func TestRestoreReadsObjectsWrittenWithoutChunks(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	m := sd.manifest
	if m.Encoding == nil || m.Encoding.ChunkBytes != 512<<10 {
		t.Fatalf("encoding %+v: want 512 KiB chunks recorded", m.Encoding)
	}
	raw, err := zstdDecode(storetest.Read(t, sd.store, m.DataKey))
	if err != nil {
		t.Fatal(err)
	}
	var obj bytes.Buffer
	enc, err := zstd.NewWriter(&obj, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(raw)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	putObject(t, sd.store, m.DataKey, obj.Bytes())
	sum := sha256.Sum256(obj.Bytes())
	m.StoredSize, m.StoredSHA256 = int64(obj.Len()), hex.EncodeToString(sum[:])
	m.Encoding = &snapshot.Encoding{ZstdLevel: "fastest", Frames: 1}
	if err := snapshot.Write(context.Background(), sd.store, m); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "etcd")
	if _, err := restore.Restore(context.Background(), sd.store, m, restore.Options{DataDir: dataDir}); err != nil {
		t.Fatal(err)
	}
	got, _ := readBack(t, dataDir)
	for k, v := range sd.keys {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func zstdDecode(b []byte) ([]byte, error) {
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	return dec.DecodeAll(b, nil)
}

func TestRestoreChecksFreeSpaceBeforeDownloading(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	m := *sd.manifest
	m.RawSize = 1 << 60 // an exbibyte: no test machine has it
	dataDir := filepath.Join(t.TempDir(), "etcd")
	_, err := restore.Restore(context.Background(), sd.store, &m, restore.Options{DataDir: dataDir})
	if err == nil || !strings.Contains(err.Error(), "not enough free space on the filesystem of "+filepath.Dir(dataDir)+": restoring "+m.Name()+" needs 2.0 EiB (the 1.0 EiB snapshot twice while etcdutl copies it, plus the WAL)") {
		t.Fatalf("err = %v", err)
	}
}

func TestOptionsNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      restore.Options
		want    restore.Options
		members int
		err     string
	}{
		{
			name: "single member defaults like etcdutl",
			in:   restore.Options{DataDir: "/var/lib/etcd"},
			want: restore.Options{DataDir: "/var/lib/etcd", Name: "default", InitialCluster: "default=http://localhost:2380", PeerURLs: []string{"http://localhost:2380"}},
		},
		{
			name: "peer URLs come from the member's entry",
			in:   restore.Options{DataDir: "/d", Name: "b", InitialCluster: "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380", InitialClusterToken: "prod"},
			want: restore.Options{DataDir: "/d", Name: "b", InitialCluster: "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380", PeerURLs: []string{"https://10.0.0.2:2380"}, InitialClusterToken: "prod"},
		},
		{
			name: "no data dir",
			in:   restore.Options{},
			err:  "a data dir is required (--data-dir): the directory etcd will be started with",
		},
		{
			name: "name not in the cluster",
			in:   restore.Options{DataDir: "/d", Name: "d", InitialCluster: "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380"},
			err:  `--name "d" is not a member of --initial-cluster "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380"`,
		},
		{
			name: "peer URLs disagree with the cluster",
			in:   restore.Options{DataDir: "/d", Name: "a", InitialCluster: "a=https://10.0.0.1:2380", PeerURLs: []string{"https://10.0.0.9:2380"}},
			err:  "--initial-advertise-peer-urls https://10.0.0.9:2380 do not match a's entry in --initial-cluster (https://10.0.0.1:2380)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.in
			members, err := o.Normalize()
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v\nwant   %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(o) != fmt.Sprint(tt.want) {
				t.Errorf("normalised\n got %+v\nwant %+v", o, tt.want)
			}
			if len(members) == 0 || members[0].Name > members[len(members)-1].Name {
				t.Errorf("members = %+v", members)
			}
		})
	}
}

func TestFindSelectsBySelector(t *testing.T) {
	s, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.StartIn(t, "")
	var ms []*snapshot.Manifest
	for i := range 3 {
		e.Put(t, map[string]string{fmt.Sprintf("/registry/pods/p%d", i): "x"})
		ms = append(ms, e.Snapshot(t, s, cluster, t0.Add(time.Duration(i)*time.Hour), snapshot.CompressionZstd))
	}
	// An interrupted upload (data without manifest) is never selected.
	putObject(t, s, snapshot.DataKey(cluster, t0.Add(5*time.Hour), 999, snapshot.CompressionZstd), []byte("partial"))

	ctx := context.Background()
	tests := []struct {
		sel  restore.Selector
		want string
		err  string
	}{
		{sel: restore.Selector{Snapshot: "latest"}, want: ms[2].DataKey},
		{sel: restore.Selector{}, want: ms[2].DataKey},
		{sel: restore.Selector{Before: t0.Add(90 * time.Minute)}, want: ms[1].DataKey},
		{sel: restore.Selector{Before: t0.Add(time.Hour)}, want: ms[1].DataKey},
		{sel: restore.Selector{Snapshot: ms[0].Name()}, want: ms[0].DataKey},
		{sel: restore.Selector{Snapshot: ms[0].DataKey}, want: ms[0].DataKey},
		{sel: restore.Selector{Snapshot: snapshot.ManifestKey(ms[1].DataKey)}, want: ms[1].DataKey},
		{
			sel: restore.Selector{Before: t0.Add(-time.Minute)},
			err: fmt.Sprintf(`no snapshot of cluster "prod-eu1" taken at or before 2026-11-22T03:14:00Z in %s; the oldest is %s (2026-11-22T03:15:00Z)`, s, ms[0].Name()),
		},
		{
			sel: restore.Selector{Snapshot: "20261122T081500Z-r999"},
			err: fmt.Sprintf(`snapshot "20261122T081500Z-r999": no manifest prod-eu1/20261122T081500Z-r999.json in %s (an upload that never finished has none); 'etcdguard list' shows the complete snapshots`, s),
		},
		{
			sel: restore.Selector{Snapshot: ms[0].Name(), Before: t0},
			err: fmt.Sprintf(`--before picks the newest snapshot before a time; it cannot be combined with the key %q`, ms[0].Name()),
		},
	}
	for _, tt := range tests {
		m, err := restore.Find(ctx, s, cluster, tt.sel)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Find(%+v) err = %v\nwant %s", tt.sel, err, tt.err)
			}
			continue
		}
		if err != nil || m.DataKey != tt.want {
			t.Errorf("Find(%+v) = %v, %v; want %s", tt.sel, m, err, tt.want)
		}
	}
	if _, err := restore.Find(ctx, s, "other", restore.Selector{}); err == nil || err.Error() != fmt.Sprintf(`no complete snapshot of cluster "other" in %s`, s) {
		t.Errorf("empty cluster: %v", err)
	}
}

func flipByte(t *testing.T, s store.Store, key string, at int64) {
	t.Helper()
	b := storetest.Read(t, s, key)
	b[at] ^= 0xff
	putObject(t, s, key, b)
}

func putObject(t *testing.T, s store.Store, key string, b []byte) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, strings.NewReader(string(b))); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != want {
		t.Fatalf("%s = %q, %v; want %q", path, b, err, want)
	}
}

// assertNoWorkDirs fails when a restore left its temp work dir behind.
func assertNoWorkDirs(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.Contains(de.Name(), ".etcdguard-restore-") {
			t.Errorf("work dir %s left behind", filepath.Join(dir, de.Name()))
		}
	}
}

// Three invocations, one per member, with the same snapshot, cluster and
// token, give three data dirs that start as one healthy cluster holding
// the snapshot's keys.
func TestRestoreEachMemberThenTheyFormOneCluster(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	names := []string{"etcd-a", "etcd-b", "etcd-c"}
	peers, clients := map[string]*url.URL{}, map[string]*url.URL{}
	var cluster []string
	for _, n := range names {
		peers[n], clients[n] = freeURL(t), freeURL(t)
		cluster = append(cluster, n+"="+peers[n].String())
	}
	dirs := map[string]string{}
	for _, n := range names {
		dirs[n] = filepath.Join(t.TempDir(), n)
		res, err := restore.Restore(context.Background(), sd.store, sd.manifest, restore.Options{
			DataDir: dirs[n], Name: n, InitialCluster: strings.Join(cluster, ","), InitialClusterToken: "prod-eu1-restored",
		})
		if err != nil {
			t.Fatalf("restore %s: %v", n, err)
		}
		if len(res.Members) != 3 || res.Options.PeerURLs[0] != peers[n].String() {
			t.Fatalf("restore %s: members %+v, peer URLs %v", n, res.Members, res.Options.PeerURLs)
		}
	}

	var servers []*embed.Etcd
	for _, n := range names {
		cfg := embed.NewConfig()
		cfg.Name, cfg.Dir = n, dirs[n]
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*clients[n]}, []url.URL{*clients[n]}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peers[n]}, []url.URL{*peers[n]}
		cfg.InitialCluster = strings.Join(cluster, ",")
		cfg.InitialClusterToken = "prod-eu1-restored"
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			t.Fatalf("start %s: %v", n, err)
		}
		t.Cleanup(e.Close)
		servers = append(servers, e)
	}
	for i, e := range servers {
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			t.Fatalf("%s: %v", names[i], err)
		case <-time.After(60 * time.Second):
			t.Fatalf("%s not ready after 60s", names[i])
		}
	}

	for _, n := range names {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clients[n].String()}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		members, err := cli.MemberList(context.Background())
		if err != nil || len(members.Members) != 3 {
			t.Fatalf("%s: member list %v, %v", n, members, err)
		}
		// Serializable: what this member itself holds, not the leader.
		resp, err := cli.Get(context.Background(), "\x00", clientv3.WithFromKey(), clientv3.WithSerializable())
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != len(sd.keys) {
			t.Errorf("%s holds %d keys, want %d", n, len(resp.Kvs), len(sd.keys))
		}
		for _, kv := range resp.Kvs {
			if sd.keys[string(kv.Key)] != string(kv.Value) {
				t.Errorf("%s: %s = %q", n, kv.Key, kv.Value)
			}
		}
	}
	// The restored cluster takes writes: it has a quorum of restored members.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clients["etcd-b"].String()}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(context.Background(), "/registry/namespaces/after-restore", "ok"); err != nil {
		t.Fatalf("write to the restored cluster: %v", err)
	}
}

func freeURL(t *testing.T) *url.URL {
	t.Helper()
	u, err := loopback.FreeURL()
	if err != nil {
		t.Fatal(err)
	}
	return &u
}

// With a bump the restored etcd starts that many revisions later and
// treats everything before as compacted: a watch resumed from a revision
// a client saw before the disaster fails with "compacted" (the client
// relists) instead of silently skipping changes.
func TestRestoreBumpsTheRevisionAndMarksItCompacted(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	const bump = 1_000_000
	dataDir := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Restore(context.Background(), sd.store, sd.manifest, restore.Options{DataDir: dataDir, RevisionBump: bump}); err != nil {
		t.Fatal(err)
	}
	e := etcdtest.StartIn(t, dataDir)
	ctx := context.Background()
	resp, err := e.Client.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if want := sd.manifest.Revision + bump; resp.Header.Revision != want || resp.Count != int64(len(sd.keys)) {
		t.Fatalf("restored etcd at revision %d with %d keys, want %d (snapshot %d + %d) with %d", resp.Header.Revision, resp.Count, want, sd.manifest.Revision, bump, len(sd.keys))
	}
	// A client that saw a few revisions past the snapshot resumes its watch.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	wresp := <-e.Client.Watch(wctx, "/registry/", clientv3.WithPrefix(), clientv3.WithRev(sd.manifest.Revision+5))
	if !errors.Is(wresp.Err(), rpctypes.ErrCompacted) || wresp.CompactRevision != sd.manifest.Revision+bump {
		t.Fatalf("resumed watch: err %v, compact revision %d; want compacted at %d", wresp.Err(), wresp.CompactRevision, sd.manifest.Revision+bump)
	}
	if _, err := restore.Restore(ctx, sd.store, sd.manifest, restore.Options{DataDir: t.TempDir(), RevisionBump: restore.MaxBump + 1}); err == nil || !strings.Contains(err.Error(), "could overflow") {
		t.Fatalf("a bump above MaxBump: err = %v", err)
	}
}

// checksummedStore stands for S3 with an object damaged at rest: the SDK
// hands over every byte and then fails the read, because they do not match
// the checksum the store kept from the upload.
type checksummedStore struct{ store.Store }

type failAtEOF struct{ io.ReadCloser }

func (f failAtEOF) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if err == io.EOF {
		err = errors.New("checksum did not match: algorithm CRC32, expect FGPJ7w==, actual wVz+NQ==")
	}
	return n, err
}

func (c checksummedStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := c.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return failAtEOF{rc}, nil
}

func TestStreamCallsAnObjectTheStoresChecksumRefusesCorrupt(t *testing.T) {
	sd := seed(t, snapshot.CompressionZstd)
	flipByte(t, sd.store, sd.manifest.DataKey, sd.manifest.StoredSize/2)
	_, err := restore.Stream(context.Background(), checksummedStore{sd.store}, sd.manifest, io.Discard)
	var ie *restore.IntegrityError
	if !errors.As(err, &ie) || ie.Check != "sha256 of the stored object" {
		t.Fatalf("Stream of an object damaged at rest: %v, want an IntegrityError on the stored object's sha256", err)
	}
}
