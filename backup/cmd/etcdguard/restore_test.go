package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// restoreFixture is a file store with two snapshots of cluster "prod":
// a healthy one and one taken after the CSR prefix was deleted.
type restoreFixture struct {
	storeURL        string
	store           store.Store
	healthy, shrunk *snapshot.Manifest
}

func newRestoreFixture(t *testing.T) restoreFixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := store.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.StartIn(t, "")
	kvs := map[string]string{"/registry/namespaces/kube-system": "ns"}
	for i := range 8 {
		kvs[fmt.Sprintf("/registry/certificatesigningrequests/csr-%d", i)] = "csr"
	}
	e.Put(t, kvs)
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	healthy := e.Snapshot(t, s, "prod", t0, snapshot.CompressionZstd)
	if _, err := e.Client.Delete(context.Background(), "/registry/certificatesigningrequests/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	shrunk := e.Snapshot(t, s, "prod", t0.Add(30*time.Minute), snapshot.CompressionZstd)
	return restoreFixture{storeURL: "file://" + dir, store: s, healthy: healthy, shrunk: shrunk}
}

func (f restoreFixture) args(args ...string) []string {
	return append(args, "--store-url", f.storeURL, "--cluster-name", "prod")
}

func TestListShowsSnapshotsNewestFirstWithTheShrink(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	f := newRestoreFixture(t)
	out, err := run(t, f.args("list")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME ") {
		t.Fatalf("want a header and two snapshots:\n%s", out)
	}
	if !strings.HasPrefix(lines[1], f.shrunk.Name()) || !strings.HasPrefix(lines[2], f.healthy.Name()) {
		t.Errorf("not newest first:\n%s", out)
	}
	if want := "SHRUNK to 11% of " + f.healthy.Name() + ", vanished [/registry/certificatesigningrequests]"; !strings.HasSuffix(lines[1], want) {
		t.Errorf("line %q lacks the shrink marker %q", lines[1], want)
	}
	if strings.Contains(lines[2], "SHRUNK") {
		t.Errorf("healthy snapshot marked: %q", lines[2])
	}

	out, err = run(t, f.args("list", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Name      string `json:"name"`
		Keys      int64  `json:"keys"`
		RawSHA256 string `json:"raw_sha256"`
		Shrink    *struct {
			Previous string   `json:"previous"`
			Vanished []string `json:"vanished"`
			Open     bool     `json:"open"`
		} `json:"shrink"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(entries) != 2 || entries[0].Shrink == nil || !entries[0].Shrink.Open || entries[0].Shrink.Previous != f.healthy.Name() ||
		entries[1].Shrink != nil || entries[1].Keys != 9 || entries[1].RawSHA256 != f.healthy.RawSHA256 {
		t.Errorf("--json = %s", out)
	}
}

func TestVerifySaysIntactOrCorruptWithExitStatus(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	f := newRestoreFixture(t)
	out, err := run(t, f.args("verify", "--snapshot", f.healthy.Name())...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "snapshot "+f.healthy.DataKey+" is intact") || !strings.Contains(out, "sha256 "+f.healthy.RawSHA256+", as in the manifest") {
		t.Errorf("verify output:\n%s", out)
	}

	b, _ := os.ReadFile(filepath.Join(strings.TrimPrefix(f.storeURL, "file://"), filepath.FromSlash(f.healthy.DataKey)))
	b[len(b)/2] ^= 1
	if _, err := f.store.Put(context.Background(), f.healthy.DataKey, strings.NewReader(string(b))); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, f.args("verify", "--snapshot", f.healthy.Name())...)
	if exitCode(err) != exitCorrupt || !strings.HasPrefix(err.Error(), "verify: snapshot "+f.healthy.DataKey+" is corrupt: sha256 of the stored object is ") ||
		!strings.HasSuffix(err.Error(), "; do not restore it, pick an older snapshot ('etcdguard list')") {
		t.Errorf("exit %d, err = %v", exitCode(err), err)
	}
}

func TestRestorePrintsTheCommandForEveryOtherMember(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	f := newRestoreFixture(t)
	dataDir := filepath.Join(t.TempDir(), "etcd")
	cluster := "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380"
	out, err := run(t, f.args("restore", "--before", "2026-11-22T09:10:00Z", "--data-dir", dataDir, "--name", "a",
		"--initial-cluster", cluster, "--initial-cluster-token", "prod-restored")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("\n%s", out)
	// No watermark in this store: the snapshot's age at the unrecorded
	// rate, doubled, and every other member gets exactly that bump.
	bumped := regexp.MustCompile(`revision bump: (\d+) \(at most \d+ revisions after the snapshot's \d+ \(no revision watermark recorded; `).FindStringSubmatch(out)
	if bumped == nil {
		t.Fatalf("output does not say the derived bump")
	}
	for _, want := range []string{
		"restoring " + f.healthy.DataKey + " (taken 2026-11-22T09:00:00Z, ",
		"the revision was bumped by " + bumped[1] + " to ",
		"--initial-cluster-token prod-restored --bump-revision " + bumped[1] + "\n",
		fmt.Sprintf("restored %s (revision %d, 9 keys) into %s as member \"a\" in ", f.healthy.DataKey, f.healthy.Revision, dataDir),
		"etcd --name a --data-dir " + dataDir + " --initial-advertise-peer-urls http://10.0.0.1:2380 --initial-cluster " + cluster + " --initial-cluster-token prod-restored",
		"etcdguard restore --cluster-name prod --store-url " + f.storeURL + " --snapshot " + f.healthy.DataKey + " --data-dir " + dataDir + " --name b --initial-cluster " + cluster + " --initial-advertise-peer-urls http://10.0.0.2:2380 --initial-cluster-token prod-restored",
		"--name c --initial-cluster " + cluster + " --initial-advertise-peer-urls http://10.0.0.3:2380 --initial-cluster-token prod-restored",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "member", "snap", "db")); err != nil {
		t.Errorf("restored data dir: %v", err)
	}

	// Without --initial-cluster-token: one derived from the snapshot, not
	// etcd's own default, which the old cluster most likely ran with.
	other := filepath.Join(t.TempDir(), "etcd")
	out, err = run(t, f.args("restore", "--before", "2026-11-22T09:10:00Z", "--data-dir", other, "--name", "a", "--initial-cluster", cluster)...)
	token := "etcdguard-restore-" + f.healthy.Name()
	if err != nil || strings.Count(out, "--initial-cluster-token "+token) != 3 {
		t.Errorf("restore without a token: %v; want the etcd command and both other members' with --initial-cluster-token %s:\n%s", err, token, out)
	}

	// Twice into the same dir: refused, nothing touched.
	_, err = run(t, f.args("restore", "--snapshot", f.healthy.Name(), "--data-dir", dataDir)...)
	if err == nil || !strings.Contains(err.Error(), "data dir "+dataDir+" is not empty (holds member); refusing to overwrite it") {
		t.Errorf("second restore: %v", err)
	}
}

func TestRestoreBumpFlags(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	f := newRestoreFixture(t)
	for _, c := range []struct {
		flags []string
		want  string
		err   string
	}{
		{flags: []string{"--bump-revision", "5000"}, want: "revision bump: 5000 (--bump-revision)"},
		{flags: []string{"--no-bump-revision"}, want: "the revision was NOT bumped: restart every client that watched the old cluster"},
		{flags: []string{"--bump-revision", "5", "--no-bump-revision"}, err: "--bump-revision and --no-bump-revision exclude each other"},
		{flags: []string{"--bump-revision", "0"}, err: "--bump-revision 0 is no bump: say --no-bump-revision"},
		{flags: []string{"--bump-revision", "2000000000000000000"}, err: "--bump-revision 2000000000000000000 is more than 1152921504606846976: it could overflow etcd's int64 revisions"},
	} {
		dataDir := filepath.Join(t.TempDir(), "etcd")
		// Named: "latest" is the shrunk snapshot, which restore refuses
		// to pick by itself (TestRestoreRefusesToPickAShrunkSnapshot).
		out, err := run(t, f.args(append([]string{"restore", "--snapshot", f.shrunk.Name(), "--data-dir", dataDir}, c.flags...)...)...)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%v: err = %v, want %q", c.flags, err, c.err)
			}
			if _, serr := os.Stat(dataDir); serr == nil {
				t.Errorf("%v: refused, yet %s was created", c.flags, dataDir)
			}
			continue
		}
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("%v: err %v, output lacks %q:\n%s", c.flags, err, c.want, out)
		}
	}
}

func TestDrillCommandReportsAndWritesTheTextfile(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	f := newRestoreFixture(t)
	prom := filepath.Join(t.TempDir(), "drill.prom")
	out, err := run(t, f.args("drill", "--json", "--textfile", prom, "--work-dir", t.TempDir(),
		"--expect-prefix", "/registry/namespaces/kube-system")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r struct {
		OK       bool   `json:"ok"`
		Snapshot string `json:"snapshot"`
		Phases   []struct {
			Phase string `json:"phase"`
		} `json:"phases"`
	}
	// stderr (the derived revision bump) comes first in this test's output.
	bump, report, _ := strings.Cut(out, "\n{")
	if !strings.HasPrefix(bump, "revision bump: ") {
		t.Errorf("drill does not say its revision bump: %q", bump)
	}
	if err := json.Unmarshal([]byte("{"+report), &r); err != nil || !r.OK || r.Snapshot != f.shrunk.DataKey || len(r.Phases) != 5 {
		t.Fatalf("drill --json = %s (%v)", out, err)
	}
	b, _ := os.ReadFile(prom)
	if !strings.Contains(string(b), `etcdguard_drill_success{cluster="prod"} 1`) {
		t.Errorf("textfile:\n%s", b)
	}

	// The shrunk snapshot has no CSRs: expecting them fails the drill.
	out, err = run(t, f.args("drill", "--work-dir", t.TempDir(), "--expect-prefix", "/registry/certificatesigningrequests/")...)
	if exitCode(err) != 1 || !strings.Contains(out, "): FAILED in ") ||
		!strings.HasSuffix(err.Error(), "check expect /registry/certificatesigningrequests/ failed: 0 keys") {
		t.Errorf("exit %d, err %v:\n%s", exitCode(err), err, out)
	}

	// The same expectation from the configuration's drill section, as the
	// agent's scheduled drills read it; its work_dir is used too.
	workDir := filepath.Join(t.TempDir(), "missing")
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("drill:\n  expect_prefixes: [/registry/certificatesigningrequests/]\n  work_dir: "+workDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, f.args("drill", "--config", cfg)...)
	if exitCode(err) != 1 || !strings.Contains(fmt.Sprint(err)+out, workDir) {
		t.Errorf("drill with the configuration's work_dir %s (missing): exit %d, err %v:\n%s", workDir, exitCode(err), err, out)
	}
	if err := os.Mkdir(workDir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, f.args("drill", "--config", cfg)...)
	if exitCode(err) != 1 || !strings.HasSuffix(fmt.Sprint(err), "check expect /registry/certificatesigningrequests/ failed: 0 keys") {
		t.Errorf("drill with the configuration's expect_prefixes: exit %d, err %v:\n%s", exitCode(err), err, out)
	}
	if out, err = run(t, f.args("drill", "--config", cfg, "--work-dir", t.TempDir(), "--expect-prefix", "/registry/namespaces/kube-system")...); err != nil {
		t.Errorf("flags override the configuration's drill section: %v\n%s", err, out)
	}
}

// TestRestoreRefusesToPickAShrunkSnapshot: "latest" (and --before past the
// accident) would pick the snapshot taken after the CSR prefix was deleted;
// restore refuses it, naming the snapshot before the shrink, and restores
// it when it is named.
func TestRestoreRefusesToPickAShrunkSnapshot(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	f := newRestoreFixture(t)
	for _, pick := range [][]string{nil, {"--before", "2026-11-22T09:40:00Z"}} {
		dataDir := filepath.Join(t.TempDir(), "etcd")
		_, err := run(t, f.args(append([]string{"restore", "--data-dir", dataDir}, pick...)...)...)
		if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "refusing to restore "+f.shrunk.Name()) ||
			!strings.Contains(err.Error(), "--snapshot "+f.healthy.Name()+",") {
			t.Errorf("restore %v picked the shrunk snapshot: %v", pick, err)
		}
		if _, serr := os.Stat(dataDir); serr == nil {
			t.Errorf("restore %v: refused, yet %s was created", pick, dataDir)
		}
	}
	dataDir := filepath.Join(t.TempDir(), "etcd")
	if _, err := run(t, f.args("restore", "--snapshot", f.shrunk.Name(), "--data-dir", dataDir)...); err != nil {
		t.Errorf("restore of the shrunk snapshot by name: %v", err)
	}
}
