package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

// One snapshot of the real etcd into versitygw through the real binary:
// a multipart upload (the data spans several 8 MiB parts), a manifest that
// matches the object, and a database etcdutl accepts at the manifest's
// revision.
func TestSnapshotStreamsToS3AndEtcdutlReadsIt(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 24)

	out, stderr, code := snapRun(t, snapEnv(e, s, ""), "snapshot")
	if code != 0 {
		t.Fatalf("snapshot exit %d\n%s\n%s", code, out, stderr)
	}
	if !regexp.MustCompile(`^snapshot \d{8}T\d{6}Z-r\d+: revision \d+, 84 keys, .* MiB raw -> .* MiB stored`).MatchString(out) {
		t.Fatalf("summary line: %q", out)
	}
	l := snapList(t, s)
	if len(l.Snapshots) != 1 || len(l.Orphans) != 0 {
		t.Fatalf("listing %+v", l)
	}
	m := l.Snapshots[0]
	if !strings.HasPrefix(m.DataKey, snapCluster+"/") || !strings.HasSuffix(m.DataKey, ".db.zst") {
		t.Fatalf("data key %s", m.DataKey)
	}
	want := map[string]int64{"/registry/pods": 20, "/registry/configmaps": 20, "/registry/services": 20, "/registry/secrets": 24}
	for p, n := range want {
		if m.PrefixKeys[p] != n {
			t.Errorf("prefix %s: %d keys, want %d (all: %v)", p, m.PrefixKeys[p], n, m.PrefixKeys)
		}
	}
	if m.Keys != 84 || m.RawSize < 24<<20 || !strings.HasPrefix(m.EtcdVersion, "3.6.") || m.ClusterID == "" || m.MemberID == "" {
		t.Fatalf("manifest %+v", m)
	}
	if multipartUploads(t, s) != 0 {
		t.Fatal("a multipart upload was left open")
	}

	// The stored object is what the manifest says, and decompresses to a
	// snapshot etcdutl accepts (it checks the sha256 trailer itself).
	obj, err := snapStore(s).Get(context.Background(), m.DataKey)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(stored); hex.EncodeToString(sum[:]) != m.StoredSHA256 || int64(len(stored)) != m.StoredSize {
		t.Fatal("stored object does not match the manifest")
	}
	// The random values went into stored frames (raw zstd blocks), and
	// stock zstd reads the whole object, both kinds of frame.
	if e := m.Encoding; e == nil || e.StoredRaw < 20<<20 || e.Frames < 2 {
		t.Fatalf("encoding %+v: want the random values stored, in frames of their own", e)
	}
	zstdBin, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("stock zstd not on PATH (apt-get install zstd): this test proves it reads what etcdguard stores")
	}
	unzstd := exec.Command(zstdBin, "-d", "-c", "--no-progress")
	unzstd.Stdin = bytes.NewReader(stored)
	raw, err := unzstd.Output()
	if err != nil {
		t.Fatalf("stock zstd -d: %v", err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != m.RawSHA256 {
		t.Fatal("decompressed bytes do not match raw_sha256")
	}
	db := filepath.Join(t.TempDir(), "snap.db")
	if err := os.WriteFile(db, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	status, err := exec.Command(infra.Tool(t, "etcdutl"), "snapshot", "status", db, "-w", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("etcdutl snapshot status: %v\n%s", err, status)
	}
	var st struct {
		Revision  int64 `json:"revision"`
		TotalKey  int64 `json:"totalKey"`
		TotalSize int64 `json:"totalSize"`
	}
	if err := json.Unmarshal(status, &st); err != nil {
		t.Fatalf("etcdutl output %s: %v", status, err)
	}
	if st.Revision != m.Revision {
		t.Fatalf("etcdutl says revision %d, manifest %d", st.Revision, m.Revision)
	}

	// And the credentials never appear in what etcdguard printed.
	for _, secret := range []string{s.SecretKey, s.AccessKey} {
		if strings.Contains(out+stderr, secret) {
			t.Fatal("etcdguard printed an AWS credential")
		}
	}
}

// A node-local agent can reach etcd over a unix socket that etcd serves
// beside its TCP listener (etcd.endpoints: [unix:///path]): the whole
// snapshot (status, stream, key counts) goes over it and the manifest
// describes that etcd.
func TestSnapshotOverEtcdUnixSocket(t *testing.T) {
	e := infra.StartEtcdWith(t, infra.EtcdOptions{UnixSocket: true})
	s := infra.StartS3(t)
	fillEtcd(t, e, 2)

	// Only the socket: the TCP endpoint is not in the agent's environment.
	env := append(snapEnv(e, s, ""), "ETCDGUARD_ETCD_ENDPOINTS="+e.UnixEndpoint)
	out, stderr, code := snapRun(t, env, "snapshot")
	if code != 0 {
		t.Fatalf("snapshot over %s: exit %d\n%s\n%s", e.UnixEndpoint, code, out, stderr)
	}
	// The log names the endpoint the snapshot was read from.
	if !strings.Contains(stderr, `endpoint=`+e.UnixEndpoint) {
		t.Fatalf("the log does not name %s as the endpoint:\n%s", e.UnixEndpoint, stderr)
	}
	l := snapList(t, s)
	if len(l.Snapshots) != 1 {
		t.Fatalf("listing %+v", l)
	}
	if m := l.Snapshots[0]; m.Keys != 62 || m.Revision < 62 {
		t.Fatalf("manifest %+v: want the 62 keys fillEtcd wrote", m)
	}
}
