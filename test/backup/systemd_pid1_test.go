package backup_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	units "github.com/k8sguard/k8sguard/backup/systemd"
	"github.com/k8sguard/k8sguard/test/infra"
)

// etcdBackupGID is the group the operator gives the etcd client key, as
// etcdguard.service's comment documents (chgrp etcd-backup, chmod 0640,
// SupplementaryGroups=etcd-backup). Below the dynamic-user range.
const etcdBackupGID = 2379

// The shipped unit files under a real systemd as PID 1 (see
// infra.StartSystemd for how it is kept away from the host): installed
// unchanged from backup/systemd, with etcdguard at /usr/local/bin, the
// configuration in /etc/etcdguard, and the etcd client key of a TLS etcd
// (client certificates required, as kubeadm's) root:etcd-backup 0640.
//
//   - a start with a wrong secret key fails at once (not hangs, despite
//     TimeoutStartSec=infinity) and the journal names the store's answer;
//   - `systemctl start etcdguard` returns after READY=1, the sandbox
//     (DynamicUser, PrivateUsers, the operator's SupplementaryGroups= for
//     the key) lets the agent read the key and reach etcd and S3, a
//     snapshot lands in S3, the agent outlives WatchdogSec=60s (the
//     shipped value) without a restart or a watchdog timeout, and
//     `systemctl stop` ends it cleanly well inside TimeoutStopSec;
//   - meanwhile the preflight drop-in on an etcd.service (the harness's
//     etcd binary) refuses a truncated database and one with a flipped
//     byte, with preflight's reason in the journal, and lets a healthy
//     data dir start;
//   - etcdguard-snapshot.service, started by hand, takes a snapshot and
//     exits 0;
//   - a wedged agent (SIGSTOP) is killed by the watchdog and restarted,
//     READY again (with a test-only WatchdogSec=5s drop-in, so it takes
//     seconds; the shipped 60s is what the part above keeps).
func TestSystemdPID1ShippedUnits(t *testing.T) {
	testStart := time.Now()
	infra.NeedSystemd(t)
	e := infra.StartEtcdWith(t, infra.EtcdOptions{ClientTLS: true})
	s := infra.StartS3(t)
	putTLS(t, e, "/registry/configmaps/default/", 1200)

	// The etcd the preflight drop-in guards (part 5): a healthy data dir
	// ahead of anything the agent will back up, and an old disk more than
	// --max-revision-lag (1000) behind it.
	preflightData := preflightDirs{live: filepath.Join(t.TempDir(), "etcd"), healthy: preflightDataDir(t, 1500), old: preflightDataDir(t, 5)}
	copyDataDir(t, preflightData.healthy, preflightData.live)

	agentUnit := readUnit(t, units.Units, units.Agent)
	snapshotUnit := readUnit(t, units.Units, units.Snapshot)
	timerUnit := readUnit(t, units.Units, units.SnapshotTimer)
	preflightDropIn := readUnit(t, units.DropIns, units.EtcdPreflight)
	if !strings.Contains(string(agentUnit), "\nWatchdogSec=60s\n") || !strings.Contains(string(agentUnit), "\nPrivateUsers=yes\n") {
		t.Fatalf("etcdguard.service no longer says WatchdogSec=60s and PrivateUsers=yes: update this test's expectations")
	}

	metricsAddr := fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t))
	etcdClientPort, etcdPeerPort := infra.FreePort(t), infra.FreePort(t)
	readFile := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sd := infra.StartSystemd(t, infra.SystemdOptions{
		Units: map[string][]byte{
			units.Agent:         agentUnit,
			units.Snapshot:      snapshotUnit,
			units.SnapshotTimer: timerUnit,
			// What the unit's comment tells the operator to add for a key
			// that is root:etcd-backup 0640.
			units.Agent + ".d/50-etcd-key-group.conf":    []byte("[Service]\nSupplementaryGroups=etcd-backup\n"),
			units.Snapshot + ".d/50-etcd-key-group.conf": []byte("[Service]\nSupplementaryGroups=etcd-backup\n"),
			units.EtcdPreflight:                          preflightDropIn,
			"etcd.service":                               etcdUnit(etcdClientPort, etcdPeerPort),
		},
		Groups: []string{fmt.Sprintf("etcd-backup:x:%d:", etcdBackupGID)},
		Files: []infra.SystemdFile{
			{Path: "/etc/etcdguard/config.yaml", Mode: 0o644, Data: []byte(agentConfig(e, s, metricsAddr))},
			// A wrong secret first: the failing start.
			{Path: "/etc/etcdguard/env", Mode: 0o600, Data: []byte(agentEnv(s, "wrong"+s.SecretKey[5:]))},
			{Path: "/etc/kubernetes/pki/etcd/ca.crt", Mode: 0o644, Data: readFile(e.TLS.CAFile)},
			{Path: "/etc/kubernetes/pki/etcd/etcdguard.crt", Mode: 0o644, Data: readFile(e.TLS.ClientCertFile)},
			{Path: "/etc/kubernetes/pki/etcd/etcdguard.key", Mode: 0o640, GID: etcdBackupGID, Data: readFile(e.TLS.ClientKeyFile)},
		},
		Binds: map[string]string{
			"/usr/local/bin/etcdguard": infra.Etcdguard(t),
			"/usr/local/bin/etcd":      infra.Tool(t, "etcd"),
			"/var/lib/etcd":            preflightData.live,
		},
	})
	t.Logf("nested systemd up (PID %d on the host) %s after the test started", sd.PID, time.Since(testStart).Round(time.Millisecond))
	if out, err := sd.Exec(10*time.Second, "stat", "-c", "%U:%G %a", "/etc/kubernetes/pki/etcd/etcdguard.key"); err != nil || strings.TrimSpace(out) != "root:etcd-backup 640" {
		t.Fatalf("the client key inside is %q (%v), want root:etcd-backup 640", out, err)
	}

	// 2. The group is what lets the dynamic user read the key: without the
	// operator's drop-in the start fails on the key (a control for the
	// start below, which has it).
	groupDropIn := "/etc/systemd/system/" + units.Agent + ".d/50-etcd-key-group.conf"
	if out, err := sd.Exec(10*time.Second, "mv", groupDropIn, groupDropIn+".off"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	mustSystemctl(t, sd, "daemon-reload")
	if out, err := sd.Systemctl(60*time.Second, "start", units.Agent); err == nil {
		t.Fatalf("the agent started without SupplementaryGroups=etcd-backup: the key's mode is not what the test means it to be\n%s", out)
	}
	journal := journalSince(sd, units.Agent)
	if !strings.Contains(journal, "etcdguard.key: permission denied") {
		t.Fatalf("without the group drop-in the start failed, but not on the key:\n%s", journal)
	}
	t.Logf("without SupplementaryGroups=etcd-backup: %s", preflightLine(journal, "permission denied"))
	mustSystemctl(t, sd, "stop", units.Agent)
	_, _ = sd.Systemctl(10*time.Second, "reset-failed", units.Agent)
	if out, err := sd.Exec(10*time.Second, "mv", groupDropIn+".off", groupDropIn); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	mustSystemctl(t, sd, "daemon-reload")

	// 3. A wrong secret: the start fails, fast, and says why.
	start := time.Now()
	out, err := sd.Systemctl(90*time.Second, "start", units.Agent)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("systemctl start with a wrong secret key succeeded\n%s", sd.Journal(units.Agent))
	}
	journal = journalSince(sd, units.Agent)
	t.Logf("a start with a wrong secret key failed after %s: %s\n%s", took.Round(time.Millisecond), strings.TrimSpace(out), preflightLine(journal, "SignatureDoesNotMatch"))
	if took > 30*time.Second {
		t.Errorf("the failing start took %s: it should fail at once, not wait", took)
	}
	if !strings.Contains(journal, "SignatureDoesNotMatch") && !strings.Contains(journal, "InvalidAccessKeyId") {
		t.Errorf("the journal does not name the store's refusal (SignatureDoesNotMatch):\n%s", journal)
	}
	if strings.Contains(journal, s.SecretKey[5:]) {
		t.Errorf("the journal shows the secret key")
	}
	// Cancel the pending auto-restart (Restart=on-failure), then the right
	// secret.
	mustSystemctl(t, sd, "stop", units.Agent)
	_, _ = sd.Systemctl(10*time.Second, "reset-failed", units.Agent) // "not loaded" once stopped
	sd.WriteFile(t, "/etc/etcdguard/env", []byte(agentEnv(s, s.SecretKey)), 0o600)

	// 1 + 2. The agent starts, under the whole sandbox, with the key read
	// through the supplementary group.
	start = time.Now()
	if out, err := sd.Systemctl(90*time.Second, "start", units.Agent); err != nil {
		t.Fatalf("systemctl start %s: %v %s\n%s", units.Agent, err, out, sd.Journal(units.Agent))
	}
	t.Logf("systemctl start %s returned after %s (READY=1)", units.Agent, time.Since(start).Round(time.Millisecond))
	props := sd.Show(t, units.Agent, "ActiveState", "SubState", "Type", "WatchdogUSec", "MainPID", "NRestarts", "User", "DynamicUser",
		"PrivateUsers", "SupplementaryGroups", "StatusText", "MemoryMax")
	if props["ActiveState"] != "active" || props["SubState"] != "running" || props["Type"] != "notify" || props["WatchdogUSec"] != "1min" ||
		props["DynamicUser"] != "yes" || props["PrivateUsers"] != "yes" || props["SupplementaryGroups"] != "etcd-backup" || props["NRestarts"] != "0" || props["MemoryMax"] != "268435456" {
		t.Fatalf("after start: %v", props)
	}
	mainPID := props["MainPID"]
	if out, err := sd.Exec(10*time.Second, "cat", "/proc/"+mainPID+"/status"); err != nil || !strings.Contains(out, "Groups:") {
		t.Fatalf("status of the agent: %v %s", err, out)
	} else {
		t.Logf("agent %s: %s; %s", mainPID, statusLine(out, "Uid:"), statusLine(out, "Groups:"))
	}
	// MemoryMax=256M is in force: the kernel's limit on the unit's cgroup
	// (cgroup v1's memory controller here, v2's memory.max elsewhere).
	limit, _ := sd.Exec(10*time.Second, "sh", "-c", "cat /sys/fs/cgroup/memory/system.slice/etcdguard.service/memory.limit_in_bytes 2>/dev/null || "+
		"cat /sys/fs/cgroup/unified/system.slice/etcdguard.service/memory.max 2>/dev/null || cat /sys/fs/cgroup/system.slice/etcdguard.service/memory.max")
	if strings.TrimSpace(limit) != "268435456" {
		if mem, _ := sd.Exec(10*time.Second, "sh", "-c", "ls -d /sys/fs/cgroup/memory 2>/dev/null; grep -sw memory /sys/fs/cgroup/cgroup.controllers"); strings.TrimSpace(mem) != "" {
			t.Fatalf("MemoryMax=256M: the unit's cgroup limit is %q, want 268435456", limit)
		}
		t.Logf("no memory controller in the nested systemd's cgroup namespace here: MemoryMax= is configured but not enforced (%q)", limit)
	}
	waitFor(t, 60*time.Second, "a snapshot in S3 from the agent under systemd", func() bool {
		l := snapList(t, s)
		return len(l.Snapshots) >= 1
	})
	if code, body := httpGet("http://" + metricsAddr + "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz of the agent under systemd: %d %s", code, body)
	}
	t.Logf("snapshot in S3; status %q", sd.Show(t, units.Agent, "StatusText")["StatusText"])

	// 5. Meanwhile (the watchdog needs a minute): etcd.service with the
	// preflight drop-in, on a damaged and a healthy data dir.
	testPreflightDropIn(t, sd, preflightData, etcdClientPort)

	// 1. The watchdog: the agent outlives WatchdogSec=60s.
	activeSince := start
	if wait := time.Until(activeSince.Add(65 * time.Second)); wait > 0 {
		t.Logf("waiting %s for the agent to outlive WatchdogSec=60s", wait.Round(time.Second))
		time.Sleep(wait)
	}
	props = sd.Show(t, units.Agent, "ActiveState", "SubState", "MainPID", "NRestarts", "WatchdogTimestampMonotonic", "Result")
	journal = sd.Journal(units.Agent)
	if props["ActiveState"] != "active" || props["SubState"] != "running" || props["MainPID"] != mainPID || props["NRestarts"] != "0" || props["Result"] != "success" {
		t.Fatalf("65 s after the start: %v (main PID was %s)\n%s", props, mainPID, journal)
	}
	if props["WatchdogTimestampMonotonic"] == "0" || props["WatchdogTimestampMonotonic"] == "" {
		t.Errorf("systemd saw no WATCHDOG=1: %v", props)
	}
	if strings.Contains(strings.ToLower(journal), "watchdog timeout") {
		t.Fatalf("watchdog timeout in the journal:\n%s", journal)
	}

	// 1. systemctl stop: clean, well inside TimeoutStopSec=30s.
	start = time.Now()
	mustSystemctl(t, sd, "stop", units.Agent)
	took = time.Since(start)
	props = sd.Show(t, units.Agent, "ActiveState", "Result", "ExecMainStatus")
	t.Logf("systemctl stop took %s: %v", took.Round(time.Millisecond), props)
	if took > 15*time.Second || props["Result"] != "success" || props["ActiveState"] != "inactive" {
		t.Fatalf("stop took %s (TimeoutStopSec=30s), %v\n%s", took, props, sd.Journal(units.Agent))
	}

	// 4. The timer's service, by hand: one snapshot, exit 0.
	before := len(snapList(t, s).Snapshots)
	start = time.Now()
	if out, err := sd.Systemctl(120*time.Second, "start", units.Snapshot); err != nil {
		t.Fatalf("systemctl start %s: %v %s\n%s", units.Snapshot, err, out, sd.Journal(units.Snapshot))
	}
	props = sd.Show(t, units.Snapshot, "Result", "ExecMainStatus", "ActiveState")
	if props["Result"] != "success" || props["ExecMainStatus"] != "0" {
		t.Fatalf("%s: %v\n%s", units.Snapshot, props, sd.Journal(units.Snapshot))
	}
	if after := len(snapList(t, s).Snapshots); after != before+1 {
		t.Fatalf("%d snapshots after %s, want %d", after, units.Snapshot, before+1)
	}
	t.Logf("%s took a snapshot and exited 0 in %s", units.Snapshot, time.Since(start).Round(time.Millisecond))
	if out, err := sd.Systemctl(10*time.Second, "start", units.SnapshotTimer); err != nil {
		t.Fatalf("systemctl start %s: %v %s", units.SnapshotTimer, err, out)
	}
	if p := sd.Show(t, units.SnapshotTimer, "ActiveState", "NextElapseUSecRealtime"); p["ActiveState"] != "active" || p["NextElapseUSecRealtime"] == "" {
		t.Fatalf("%s: %v", units.SnapshotTimer, p)
	}
	mustSystemctl(t, sd, "stop", units.SnapshotTimer)

	// 1. A wedged agent is restarted: the watchdog and Restart=on-failure
	// together, and the restarted agent comes back READY. Test-only
	// drop-in: WatchdogSec=5s instead of the shipped 60s (proven above),
	// so the wedge is seen in seconds; nothing else changes.
	sd.WriteFile(t, "/etc/systemd/system/"+units.Agent+".d/99-test-only-short-watchdog.conf", []byte("[Service]\nWatchdogSec=5s\n"), 0o644)
	mustSystemctl(t, sd, "daemon-reload")
	mustSystemctl(t, sd, "start", units.Agent)
	wedged := sd.Show(t, units.Agent, "MainPID", "WatchdogUSec")
	if wedged["WatchdogUSec"] != "5s" {
		t.Fatalf("the test-only watchdog drop-in did not apply: %v", wedged)
	}
	journalSince(sd, units.Agent)
	start = time.Now()
	if out, err := sd.Exec(10*time.Second, "kill", "-STOP", wedged["MainPID"]); err != nil {
		t.Fatalf("SIGSTOP the agent: %v %s", err, out)
	}
	journal = ""
	for !strings.Contains(journal, "Watchdog timeout") {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no watchdog timeout 30 s after the agent was stopped (WatchdogSec=5s): %v\n%s", sd.Show(t, units.Agent, "ActiveState", "SubState", "MainPID", "WatchdogTimestamp"), journal)
		}
		time.Sleep(200 * time.Millisecond)
		journal += journalSince(sd, units.Agent)
	}
	// systemd follows its SIGABRT with a SIGCONT itself; this one is for
	// a systemd that would not (the agent may be gone already).
	_, _ = sd.Exec(10*time.Second, "kill", "-CONT", wedged["MainPID"])
	waitFor(t, 60*time.Second, "the agent restarted after the watchdog timeout", func() bool {
		p := sd.Show(t, units.Agent, "ActiveState", "SubState", "NRestarts", "MainPID")
		return p["NRestarts"] == "1" && p["ActiveState"] == "active" && p["SubState"] == "running" && p["MainPID"] != wedged["MainPID"] && p["MainPID"] != "0"
	})
	journal += journalSince(sd, units.Agent)
	t.Logf("the wedged agent was restarted and READY again %s after SIGSTOP: %s", time.Since(start).Round(time.Millisecond), preflightLine(journal, "Watchdog timeout"))
	mustSystemctl(t, sd, "stop", units.Agent)
	t.Logf("whole test %s", time.Since(testStart).Round(time.Millisecond))
}

// preflightDirs: the data dir etcd.service uses (bound at /var/lib/etcd),
// a healthy member's to copy into it, and an old disk's (more than
// --max-revision-lag behind the newest backup).
type preflightDirs struct {
	live, healthy, old string
}

// preflightDataDir makes an etcd data dir at revision n+1 (an etcd of the
// harness's, written to and stopped).
func preflightDataDir(t *testing.T, n int) string {
	t.Helper()
	e := infra.StartEtcd(t)
	putMany(t, etcdClient(t, e), "/registry/pods/default/p-", n)
	e.Stop()
	return e.DataDir
}

// copyDataDir replaces dst's contents with src's (dst stays the same
// directory: it is bind-mounted).
func copyDataDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dst)
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v %s", src, err, out)
	}
}

// testPreflightDropIn: etcd.service (with the shipped drop-in) refuses a
// damaged database with preflight's reason and starts on a healthy one.
func testPreflightDropIn(t *testing.T, sd *infra.Systemd, d preflightDirs, clientPort int) {
	t.Helper()
	db := filepath.Join(d.live, "member", "snap", "db")
	for _, c := range []struct {
		name   string
		damage func()
		reason string
	}{
		{"on an old disk, 1000+ revisions behind the newest backup", func() { copyDataDir(t, d.old, d.live) }, "this looks like an old disk"},
		{"truncated to 100 bytes", func() {
			if err := os.Truncate(db, 100); err != nil {
				t.Fatal(err)
			}
		}, "is corrupt"},
		{"a flipped byte in meta page 1", func() {
			f, err := os.OpenFile(db, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := make([]byte, 1)
			off := int64(4096 + 16 + 40) // the high-water mark
			if _, err := f.ReadAt(b, off); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x40
			if _, err := f.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
		}, "is corrupt"},
	} {
		copyDataDir(t, d.healthy, d.live)
		c.damage()
		_, _ = sd.Systemctl(10*time.Second, "reset-failed", "etcd.service")
		journalSince(sd, "etcd.service") // only this start's lines below
		start := time.Now()
		out, err := sd.Systemctl(60*time.Second, "start", "etcd.service")
		journal := journalSince(sd, "etcd.service")
		if err == nil {
			t.Fatalf("etcd.service started on a database %s\n%s", c.name, journal)
		}
		props := sd.Show(t, "etcd.service", "ActiveState", "Result", "ExecMainStatus")
		if !strings.Contains(journal, c.reason) || !strings.Contains(journal, "etcdguard") || !strings.Contains(journal, "refusing to start etcd") {
			t.Fatalf("etcd.service refused a database %s, but the journal lacks preflight's reason %q: %v %s\n%s", c.name, c.reason, props, out, journal)
		}
		t.Logf("etcd.service refused a database %s in %s: %s", c.name, time.Since(start).Round(time.Millisecond), preflightLine(journal, c.reason))
	}
	copyDataDir(t, d.healthy, d.live)
	_, _ = sd.Systemctl(10*time.Second, "reset-failed", "etcd.service")
	journalSince(sd, "etcd.service")
	if out, err := sd.Systemctl(60*time.Second, "start", "etcd.service"); err != nil {
		t.Fatalf("etcd.service on a healthy data dir: %v %s\n%s", err, out, journalSince(sd, "etcd.service"))
	}
	journal := journalSince(sd, "etcd.service")
	if !strings.Contains(journal, "preflight passed") || strings.Contains(journal, "lag check skipped") || !strings.Contains(journal, "of the newest backup") {
		t.Fatalf("etcd.service started, but preflight's lag check did not run against the store:\n%s", journal)
	}
	t.Logf("healthy start: %s", preflightLine(journal, "of the newest backup"))
	if code, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/health", clientPort)); code != http.StatusOK {
		t.Fatalf("etcd.service started but /health says %d %s", code, body)
	}
	t.Logf("etcd.service passed preflight and started on the healthy data dir")
	// The preflight read the agent's environment file for itself: etcd's
	// own process has none of it (an HTTPS_PROXY there would carry etcd's
	// peer traffic).
	pid := sd.Show(t, "etcd.service", "MainPID")["MainPID"]
	environ, err := sd.Exec(10*time.Second, "cat", "/proc/"+pid+"/environ")
	if err != nil || pid == "0" || !strings.Contains(environ, "PATH=") {
		t.Fatalf("read etcd's environment (pid %s): %v %q", pid, err, environ)
	}
	if strings.Contains(environ, "AWS_") || strings.Contains(environ, "ETCDGUARD_") {
		t.Fatalf("etcd's own process got the agent's environment file: %q", strings.ReplaceAll(environ, "\x00", " "))
	}
	mustSystemctl(t, sd, "stop", "etcd.service")
}

// etcdUnit stands in for the distribution's etcd.service (the unit the
// drop-in extends): the harness's etcd binary on loopback.
func etcdUnit(clientPort, peerPort int) []byte {
	client := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	return []byte(fmt.Sprintf(`[Unit]
Description=etcd (k8sguard test: stands in for the distribution's unit)
After=network.target

[Service]
Type=notify
ExecStart=/usr/local/bin/etcd --name default --data-dir /var/lib/etcd --listen-client-urls %[1]s --advertise-client-urls %[1]s --listen-peer-urls %[2]s --initial-advertise-peer-urls %[2]s --initial-cluster default=%[2]s --log-level warn
`, client, peer))
}

func agentConfig(e *infra.Etcd, s *infra.S3, metricsAddr string) string {
	return fmt.Sprintf(`cluster_name: %s
etcd:
  endpoints: [%s]
  ca_file: /etc/kubernetes/pki/etcd/ca.crt
  cert_file: /etc/kubernetes/pki/etcd/etcdguard.crt
  key_file: /etc/kubernetes/pki/etcd/etcdguard.key
  dial_timeout: 2s
store:
  url: s3://%s/%s
  endpoint: %s
  region: %s
schedule: { interval: 1h, jitter: 0s }
metrics: { listen: %s }
`, snapCluster, e.Endpoints[0], s.Bucket, snapPrefix, s.Endpoint, s.Region, metricsAddr)
}

func agentEnv(s *infra.S3, secret string) string {
	return fmt.Sprintf("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_REGION=%s\nAWS_EC2_METADATA_DISABLED=true\n", s.AccessKey, secret, s.Region)
}

func readUnit(t *testing.T, fsys interface{ ReadFile(string) ([]byte, error) }, name string) []byte {
	t.Helper()
	b, err := fsys.ReadFile(name)
	if err != nil {
		t.Fatalf("shipped unit %s: %v", name, err)
	}
	return b
}

func mustSystemctl(t *testing.T, sd *infra.Systemd, args ...string) {
	t.Helper()
	if out, err := sd.Systemctl(60*time.Second, args...); err != nil {
		t.Fatalf("systemctl %s: %v %s", strings.Join(args, " "), err, out)
	}
}

// putTLS writes n keys under prefix to a TLS etcd.
func putTLS(t *testing.T, e *infra.Etcd, prefix string, n int) {
	t.Helper()
	cfg, err := e.TLS.Config()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, TLS: cfg, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	putMany(t, cli, prefix, n)
}

// putMany writes n keys, one revision each, 16 at a time.
func putMany(t *testing.T, cli *clientv3.Client, prefix string, n int) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			_, err := cli.Put(context.Background(), prefix+strconv.Itoa(i), "x")
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func statusLine(status, prefix string) string {
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return prefix + " ?"
}

// journalSince returns the unit's journal lines since the previous call
// for that unit (journalctl's cursor file).
func journalSince(sd *infra.Systemd, unit string) string {
	out, err := sd.Exec(20*time.Second, "journalctl", "--no-pager", "-o", "short-precise", "-u", unit, "--cursor-file=/run/k8sguard-test-"+unit+".cursor")
	if err != nil {
		return out + "\n(journalctl: " + err.Error() + ")"
	}
	return out
}

func preflightLine(journal, needle string) string {
	for _, l := range strings.Split(journal, "\n") {
		if strings.Contains(l, needle) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
