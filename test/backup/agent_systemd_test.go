package backup_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

// notifySocket is a stand-in for systemd's notification socket: the
// agent's real sd_notify datagrams land here.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	n := &notifySocket{path: filepath.Join(t.TempDir(), "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, strings.Split(strings.TrimSpace(string(buf[:k])), "\n")...)
			n.mu.Unlock()
		}
	}()
	return n
}

// count returns how many messages start with prefix.
func (n *notifySocket) count(prefix string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, m := range n.msgs {
		if strings.HasPrefix(m, prefix) {
			c++
		}
	}
	return c
}

func (n *notifySocket) last(prefix string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.msgs) - 1; i >= 0; i-- {
		if strings.HasPrefix(n.msgs[i], prefix) {
			return n.msgs[i]
		}
	}
	return ""
}

func httpGet(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The agent under a systemd-like supervisor: no READY=1 while etcd is
// unreachable (but WATCHDOG=1 keeps coming from the live loop), READY=1 and
// STATUS= once etcd and the store answer, every metric present from the
// first scrape, and no credential in logs or metrics.
func TestAgentSystemdNotifyWatchdogAndMetrics(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 1)
	etcdProxy := startTCPProxy(t, strings.TrimPrefix(e.Endpoints[0], "http://"))
	etcdProxy.SetDown(true)
	notify := listenNotify(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t))
	env := append(snapEnv(e, s, ""),
		"ETCDGUARD_ETCD_ENDPOINTS="+etcdProxy.URL(),
		"ETCDGUARD_METRICS_LISTEN="+metricsAddr,
		"ETCDGUARD_SCHEDULE_INTERVAL=1h",
		"ETCDGUARD_SCHEDULE_JITTER=0s",
		"NOTIFY_SOCKET="+notify.path,
		"WATCHDOG_USEC=1500000", // pings every 0.5 s
	)
	agent := snapStart(t, env, "agent")

	waitFor(t, 20*time.Second, "watchdog pings while etcd is down", func() bool { return notify.count("WATCHDOG=1") >= 3 })
	if notify.count("READY=1") != 0 {
		t.Fatal("READY=1 before etcd answered")
	}
	if !strings.Contains(notify.last("STATUS="), "waiting for etcd and the store") {
		t.Fatalf("status while etcd is down: %q", notify.last("STATUS="))
	}
	if code, body := httpGet("http://" + metricsAddr + "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while etcd is down: %d %s", code, body)
	}
	if code, _ := httpGet("http://" + metricsAddr + "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	_, metrics := httpGet("http://" + metricsAddr + "/metrics")
	for _, series := range []string{
		`etcdguard_snapshot_last_success_timestamp_seconds{cluster="prod-eu1"} 0`,
		`etcdguard_snapshot_duration_seconds_count{cluster="prod-eu1"} 0`,
		`etcdguard_snapshot_size_bytes{cluster="prod-eu1",kind="stored"} 0`,
		`etcdguard_snapshot_revision{cluster="prod-eu1"} 0`,
		`etcdguard_snapshot_keys{cluster="prod-eu1"} 0`,
		`etcdguard_snapshot_failures_total{cluster="prod-eu1",stage="upload"} 0`,
		`etcdguard_snapshot_failures_total{cluster="prod-eu1",stage="verify"} 0`,
		`etcdguard_retention_deleted_total{cluster="prod-eu1"} 0`,
		`etcdguard_leader{cluster="prod-eu1"} 0`,
		`etcdguard_drill_last_success_timestamp_seconds{cluster="prod-eu1"} 0`,
		`etcdguard_drill_duration_seconds{cluster="prod-eu1",phase="total"} 0`,
		`etcdguard_drill_success{cluster="prod-eu1"} 0`,
	} {
		if !strings.Contains(metrics, series) {
			t.Errorf("metrics lack %s before the first snapshot", series)
		}
	}

	etcdProxy.SetDown(false)
	waitFor(t, 40*time.Second, "READY=1 after etcd came back", func() bool { return notify.count("READY=1") == 1 })
	waitFor(t, 30*time.Second, "STATUS= with the first snapshot", func() bool {
		return strings.Contains(notify.last("STATUS="), "last snapshot ")
	})
	if !regexp.MustCompile(`last snapshot \d{8}T\d{6}Z-r\d+ \(revision \d+, 61 keys, \d+ bytes\)`).MatchString(notify.last("STATUS=")) {
		t.Fatalf("status %q", notify.last("STATUS="))
	}
	pings := notify.count("WATCHDOG=1")
	waitFor(t, 10*time.Second, "watchdog pings after READY", func() bool { return notify.count("WATCHDOG=1") >= pings+3 })

	code, _ := httpGet("http://" + metricsAddr + "/readyz")
	_, metrics = httpGet("http://" + metricsAddr + "/metrics")
	if code != http.StatusOK || !strings.Contains(metrics, `etcdguard_leader{cluster="prod-eu1"} 1`) ||
		!strings.Contains(metrics, `etcdguard_snapshot_keys{cluster="prod-eu1"} 61`) ||
		strings.Contains(metrics, `etcdguard_snapshot_last_success_timestamp_seconds{cluster="prod-eu1"} 0`) {
		t.Fatalf("/readyz %d, metrics after the first snapshot:\n%s", code, metrics)
	}
	for _, secret := range []string{s.SecretKey, s.AccessKey} {
		if strings.Contains(metrics, secret) || strings.Contains(agent.log(), secret) {
			t.Fatal("an AWS credential appears in the agent's logs or metrics")
		}
	}

	agent.signal(syscall.SIGTERM)
	if code := agent.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	if notify.count("STOPPING=1") != 1 {
		t.Fatal("no STOPPING=1")
	}
}

// SIGTERM while an upload is in flight: the agent aborts it and exits
// within 10 s, and nothing half-written stays visible.
func TestAgentSIGTERMAbortsInFlightUpload(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 20)
	proxy := startS3Proxy(t, s.Endpoint)
	// The agent (systemctl stop), and a snapshot by hand or from its timer
	// (Ctrl-C, systemctl stop, the unit's TimeoutStartSec): before, the
	// one-shot ignored SIGTERM and died with its multipart upload open.
	for _, c := range []struct{ command, says string }{
		{"agent", "aborting the in-flight snapshot"},
		{"snapshot", "snapshot aborted"},
	} {
		t.Run(c.command, func(t *testing.T) {
			proxy.SetDelay(3 * time.Second)
			for len(proxy.partSeen) > 0 {
				<-proxy.partSeen
			}
			env := append(snapEnv(e, s, proxy.URL()), "ETCDGUARD_SCHEDULE_INTERVAL=1h")
			p := snapStart(t, env, c.command)
			select {
			case <-proxy.partSeen:
			case <-time.After(60 * time.Second):
				t.Fatalf("no upload started; log:\n%s", p.log())
			}
			start := time.Now()
			p.signal(syscall.SIGTERM)
			code := p.waitExit(t, 10*time.Second)
			t.Logf("%s stopped %s after SIGTERM, exit %d", c.command, time.Since(start).Round(time.Millisecond), code)
			if c.command == "agent" && code != 0 || !strings.Contains(p.log(), c.says) {
				t.Fatalf("exit %d\n%s", code, p.log())
			}
			proxy.SetDelay(0)
			assertNothingHalfVisible(t, s, 0)
			if n := multipartUploads(t, s); n != 0 {
				t.Fatalf("%d multipart uploads left open after SIGTERM", n)
			}
		})
	}
}

// SIGTERM (systemctl stop) while a full snapshot uploads and a delta chain
// runs, with the store hanging on the upload's parts and on its abort: the
// agent exits well within the unit's TimeoutStopSec (30s) instead of being
// killed, the chain's last segment (every write before the stop) is
// committed, nothing half-written is visible, and a write between the stop
// and the next start is in the next start's full snapshot.
func TestAgentSIGTERMWithHungStoreMidSnapshotAndChain(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 20)
	proxy := startS3Proxy(t, s.Endpoint)
	var hang atomic.Bool
	unhang := make(chan struct{})
	t.Cleanup(func() { close(unhang) }) // before the proxy closes: it waits for its handlers
	proxy.SetFail(func(r *http.Request) int {
		multipart := isUploadPart(r) || r.Method == http.MethodDelete && r.URL.Query().Has("uploadId")
		if multipart && hang.Load() {
			select { // the store hangs (a partition, a stuck gateway)
			case <-r.Context().Done():
			case <-unhang:
			}
			return http.StatusServiceUnavailable
		}
		return 0
	})
	env := append(deltaAgentEnv(e, s, proxy.URL()), "ETCDGUARD_SCHEDULE_INTERVAL=15s")
	agent := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the delta chain", func() bool { return strings.Contains(agent.log(), "delta chain started") })
	hang.Store(true)
	for len(proxy.partSeen) > 0 {
		<-proxy.partSeen
	}
	cli := etcdClient(t, e)
	beforeStop := putN(t, cli, "configmaps/before-stop", 20)
	select {
	case <-proxy.partSeen: // the scheduled snapshot's upload, now hanging
	case <-time.After(60 * time.Second):
		t.Fatalf("the second snapshot never started uploading; log:\n%s", agent.log())
	}
	start := time.Now()
	agent.signal(syscall.SIGTERM)
	code := agent.waitExit(t, 60*time.Second)
	took := time.Since(start)
	t.Logf("stopped %s after SIGTERM, exit %d", took.Round(time.Millisecond), code)
	if code != 0 || took > 20*time.Second {
		t.Fatalf("stopped after %s (exit %d); systemd kills the agent at TimeoutStopSec=30s, and a stop must leave it time to spare\n%s", took, code, agent.log())
	}
	hang.Store(false)

	st := snapStore(s)
	cs := chainsOf(t, st)
	if len(cs) != 1 || cs[0].Broken != nil || cs[0].LastRevision() < beforeStop {
		t.Fatalf("after the stop: %d chains; want one, whole, up to revision %d (the last write before the stop)\n%s", len(cs), beforeStop, agent.log())
	}
	assertNothingHalfVisible(t, s, 1)

	between := putN(t, cli, "configmaps/between", 5)
	agent2 := snapStart(t, append(deltaAgentEnv(e, s, proxy.URL()), "ETCDGUARD_SCHEDULE_INTERVAL=1h"), "agent")
	waitFor(t, 60*time.Second, "the next start's chain", func() bool { return strings.Contains(agent2.log(), "delta chain started") })
	cs = chainsOf(t, st)
	if len(cs) != 2 || cs[0].Snapshot.Revision < between {
		t.Fatalf("%d snapshots; the next start's is at revision %d, want at least %d (the writes between stop and start)", len(cs), cs[0].Snapshot.Revision, between)
	}
	t.Logf("old chain up to revision %d (last write before the stop %d); next start's snapshot at revision %d (last write between %d)",
		cs[1].LastRevision(), beforeStop, cs[0].Snapshot.Revision, between)
	agent2.signal(syscall.SIGTERM)
	agent2.waitExit(t, 30*time.Second)
}

// The store hangs listing multipart uploads (what the cleanup after an
// interrupted predecessor reads) from the agent's start. The agent's loop
// used to run that cleanup itself at election: no watchdog ping until the
// store answered, so systemd killed and restarted the agent every
// WatchdogSec, and no snapshot was ever taken. The cleanup now runs after
// each snapshot, in the snapshot's own bounded job.
func TestAgentElectedWithHungStoreKeepsPingingAndSnapshots(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 1)
	proxy := startS3Proxy(t, s.Endpoint)
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	proxy.SetFail(func(r *http.Request) int {
		if r.Method == http.MethodGet && r.URL.Query().Has("uploads") {
			select { // hang, as a store that stopped answering
			case <-release:
			case <-r.Context().Done():
			}
		}
		return 0
	})
	notify := listenNotify(t)
	env := append(snapEnv(e, s, proxy.URL()),
		"ETCDGUARD_SCHEDULE_INTERVAL=1h",
		"ETCDGUARD_SCHEDULE_JITTER=0s",
		"NOTIFY_SOCKET="+notify.path,
		"WATCHDOG_USEC=1500000", // pings every 0.5 s
	)
	agent := snapStart(t, env, "agent")
	waitFor(t, 40*time.Second, "READY=1", func() bool { return notify.count("READY=1") == 1 })
	pings := notify.count("WATCHDOG=1")
	waitFor(t, 10*time.Second, "watchdog pings while the store hangs", func() bool { return notify.count("WATCHDOG=1") >= pings+6 })
	waitFor(t, 60*time.Second, "a snapshot while the store hangs listing uploads", func() bool {
		return strings.Contains(agent.log(), "snapshot complete")
	})
	once.Do(func() { close(release) })
	agent.signal(syscall.SIGTERM)
	if code := agent.waitExit(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, agent.log())
	}
	t.Logf("%d watchdog pings, a snapshot taken, while the store hung listing multipart uploads", notify.count("WATCHDOG=1"))
}
