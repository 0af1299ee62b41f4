package backup_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/test/infra"
)

// check against a real store through the life of a cluster: empty
// (CRITICAL), healthy (OK, in three formats), an "etcdctl del -r" accident
// (CRITICAL naming the vanished prefixes, the good snapshot kept past
// retention), the acknowledgement, an orphan (WARNING), a corrupted object
// (check --verify CRITICAL) and an unreachable store (UNKNOWN).
func TestCheckThroughAnAccident(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 1)
	textfile := filepath.Join(t.TempDir(), "etcdguard.prom")
	// keep_last 1: without shrink protection retention would rotate the
	// good snapshot out with the next one.
	env := append(snapEnv(e, s, ""), "ETCDGUARD_RETENTION_KEEP_LAST=1", "ETCDGUARD_RETENTION_KEEP_DAILY=0", "ETCDGUARD_RETENTION_KEEP_WEEKLY=0")
	snap := func() {
		t.Helper()
		if out, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
			t.Fatalf("snapshot exit %d\n%s%s", code, out, stderr)
		}
	}

	out, stderr, code := snapRun(t, env, "check")
	if code != 2 || !strings.HasPrefix(out, `ETCDGUARD CRITICAL - no complete snapshot of cluster "prod-eu1" in s3://`) ||
		!strings.Contains(out, "| age=U snapshots=0 ") {
		t.Fatalf("empty store: exit %d (want 2, and the age unknown, not 0s)\n%s", code, out)
	}
	// The verdict is the report on stdout and the exit code; a last line
	// "etcdguard: critical" on stderr only buried its reason.
	if stderr != "" {
		t.Fatalf("empty store: check wrote to stderr beside its report:\n%s", stderr)
	}
	// A configuration it cannot read is a verdict too: UNKNOWN, as a
	// status line a monitoring system shows (it used to be a stderr line).
	missing := filepath.Join(t.TempDir(), "config.yaml")
	out, stderr, code = snapRun(t, env, "check", "--config", missing)
	if want := "ETCDGUARD UNKNOWN - config: open " + missing + ": no such file or directory\n"; code != 3 || out != want || stderr != "" {
		t.Fatalf("unreadable config: exit %d, stdout %q, stderr %q; want 3, %q and nothing", code, out, stderr, want)
	}

	snap()
	out, _, code = snapRun(t, env, "check", "--verify", "--textfile", textfile)
	if code != 0 || !regexp.MustCompile(`^ETCDGUARD OK - 1 snapshot\(s\) of prod-eu1 in s3://\S+ \| age=\d+s snapshots=1 keys=61 orphans=0 open_shrinks=0\n`).MatchString(out) ||
		!strings.Contains(out, "OK verify: newest snapshot") {
		t.Fatalf("healthy: exit %d\n%s", code, out)
	}
	prom, err := os.ReadFile(textfile)
	if err != nil || !strings.Contains(string(prom), `etcdguard_check_status{cluster="prod-eu1"} 0`) || !strings.Contains(string(prom), `etcdguard_check_verify_ok{cluster="prod-eu1"} 1`) {
		t.Fatalf("textfile %v:\n%s", err, prom)
	}
	out, _, _ = snapRun(t, env, "check", "--format", "json")
	var report struct {
		Status    string `json:"status"`
		Snapshots int    `json:"snapshots"`
		Newest    struct {
			Keys int64 `json:"keys"`
		} `json:"newest"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || report.Status != "OK" || report.Snapshots != 1 || report.Newest.Keys != 61 {
		t.Fatalf("json %v:\n%s", err, out)
	}
	out, _, _ = snapRun(t, env, "check", "--format", "prometheus")
	if !strings.Contains(out, `etcdguard_check_newest_snapshot_keys{cluster="prod-eu1"} 61`) {
		t.Fatalf("prometheus:\n%s", out)
	}

	// The accident: Zalando's "etcdctl del -r" on a range wiped most of
	// the registry. Here: the range from configmaps up to secrets.
	good := snapList(t, s).Snapshots[0]
	cli := etcdClient(t, e)
	if _, err := cli.Delete(context.Background(), "/registry/configmaps/", clientv3.WithRange("/registry/secrets/")); err != nil {
		t.Fatal(err)
	}
	snap()
	snap() // a second small snapshot: keep_last 1 would now delete the good one
	out, _, code = snapRun(t, env, "check")
	if code != 2 || !strings.Contains(out, "vanished: /registry/configmaps, /registry/pods;") ||
		!strings.Contains(out, good.Name()+" is kept until a snapshot is as large again") {
		t.Fatalf("after the accident: exit %d\n%s", code, out)
	}
	l := snapList(t, s)
	if len(l.Snapshots) != 2 || l.Snapshots[1].Name() != good.Name() {
		t.Fatalf("retention did not keep the pre-shrink snapshot: %d snapshots", len(l.Snapshots))
	}
	shrunk := l.Snapshots[0].Name()
	// The first shrunken snapshot was rotated out; acknowledging names the
	// one check reports now.
	m := regexp.MustCompile(`--ack-shrink (\S+)`).FindStringSubmatch(out)
	if m == nil || m[1] != shrunk {
		t.Fatalf("check does not say how to acknowledge %s:\n%s", shrunk, out)
	}
	if _, stderr, code := snapRun(t, env, "check", "--ack-shrink", "20990101T000000Z-r1"); code != 3 || !strings.Contains(stderr, "not a shrunken snapshot; unresolved shrinks: "+shrunk) {
		t.Fatalf("ack of a wrong name: exit %d %s", code, stderr)
	}
	out, stderr, code = snapRun(t, env, "check", "--ack-shrink", shrunk)
	if code != 0 || !strings.Contains(stderr, "acknowledged") {
		t.Fatalf("after ack: exit %d\n%s%s", code, out, stderr)
	}

	// An orphaned data object (an interrupted upload) is a warning.
	if _, err := snapStore(s).Put(context.Background(), snapCluster+"/20200101T000000Z-r1.db.zst", strings.NewReader("partial")); err != nil {
		t.Fatal(err)
	}
	out, _, code = snapRun(t, env, "check")
	if code != 1 || !strings.Contains(out, "1 data object(s) without a manifest") {
		t.Fatalf("orphan: exit %d\n%s", code, out)
	}
	if err := snapStore(s).Delete(context.Background(), snapCluster+"/20200101T000000Z-r1.db.zst"); err != nil {
		t.Fatal(err)
	}

	// Corrupt the newest object on the gateway's disk: --verify catches it.
	newest := snapList(t, s).Snapshots[0]
	damageAtRest(t, s, newest.DataKey)
	if out, _, code := snapRun(t, env, "check"); code != 0 {
		t.Fatalf("without --verify the corruption is invisible, yet exit %d\n%s", code, out)
	}
	// Damaged at rest, the object no longer matches the checksum the store
	// kept either, and the SDK fails the read at its end: still a corrupt
	// snapshot (exit 2, pick an older one), not a store to retry (exit 1).
	if _, stderr, code := snapRun(t, env, "verify", "--snapshot", newest.Name()); code != 2 || !strings.Contains(stderr, "is corrupt: sha256 of the stored object") {
		t.Fatalf("verify of an object damaged at rest: exit %d\n%s", code, stderr)
	}
	target := t.TempDir()
	if _, stderr, code := snapRun(t, env, "restore", "--snapshot", newest.Name(), "--data-dir", target); code != 2 || !strings.Contains(stderr, "pick an older snapshot") {
		t.Fatalf("restore of an object damaged at rest: exit %d\n%s", code, stderr)
	}
	out, _, code = snapRun(t, env, "check", "--verify", "--textfile", textfile)
	if code != 2 || !strings.Contains(out, "CRITICAL verify: snapshot "+newest.Name()) {
		t.Fatalf("corrupt: exit %d\n%s", code, out)
	}
	if prom, _ := os.ReadFile(textfile); !strings.Contains(string(prom), `etcdguard_check_verify_ok{cluster="prod-eu1"} 0`) {
		t.Fatalf("textfile after corruption:\n%s", prom)
	}

	// A store that cannot be reached is UNKNOWN.
	s.Stop()
	out, _, code = snapRun(t, env, "check")
	if code != 3 || !strings.HasPrefix(out, "ETCDGUARD UNKNOWN - cannot list") {
		t.Fatalf("store down: exit %d\n%s", code, out)
	}
}

// damageAtRest flips a byte of the object under the test prefix on the
// gateway's own disk: damage at rest, which the store's stored checksum no
// longer matches either (a rewrite through S3 would refresh it).
func damageAtRest(t *testing.T, s *infra.S3, key string) {
	t.Helper()
	path := filepath.Join(s.RootDir, s.Bucket, snapPrefix, key)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
