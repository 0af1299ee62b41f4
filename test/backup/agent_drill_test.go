package backup_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

// The agent drills on its schedule against the real etcd and versitygw:
// after its first snapshot it restores it, starts etcd on it, checks it,
// exports the drill's metrics and records the success, which `check`
// then judges against max_drill_age.
func TestAgentScheduledDrillSetsMetricsAndCheckJudgesItsAge(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 1)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t))
	env := append(snapEnv(e, s, ""),
		"ETCDGUARD_SCHEDULE_INTERVAL=1h",
		"ETCDGUARD_SCHEDULE_JITTER=0s",
		"ETCDGUARD_DRILL_INTERVAL=1h", // the first drill is due at once: none has succeeded yet
		"ETCDGUARD_DRILL_WORK_DIR="+t.TempDir(),
		"ETCDGUARD_DRILL_EXPECT_PREFIXES=/registry/",
	)
	started := time.Now()

	// Before any drill, check warns (max_drill_age defaults to 2 × drill.interval).
	out, _, code := snapRun(t, env, "check")
	if code != 2 || !strings.Contains(out, `WARNING drill: no restore drill of cluster "prod-eu1" has succeeded (max_drill_age 2h0m0s)`) {
		t.Fatalf("check before any drill: exit %d (want 2: no snapshot yet)\n%s", code, out)
	}

	notify := listenNotify(t)
	agent := snapStart(t, append(env, "ETCDGUARD_METRICS_LISTEN="+metricsAddr, "NOTIFY_SOCKET="+notify.path), "agent")
	lastSuccess := regexp.MustCompile(`(?m)^etcdguard_drill_last_success_timestamp_seconds\{cluster="prod-eu1"\} (\S+)$`)
	var metrics string
	waitFor(t, 3*time.Minute, "a scheduled drill to succeed", func() bool {
		_, metrics = httpGet("http://" + metricsAddr + "/metrics")
		m := lastSuccess.FindStringSubmatch(metrics)
		return m != nil && m[1] != "0"
	})
	at, err := strconv.ParseFloat(lastSuccess.FindStringSubmatch(metrics)[1], 64)
	if err != nil || at < float64(started.Unix()) || at > float64(time.Now().Unix()) {
		t.Fatalf("drill last success %v (%v) is not within the test", at, err)
	}
	for _, series := range []string{
		`etcdguard_drill_success{cluster="prod-eu1"} 1`,
		`etcdguard_snapshot_keys{cluster="prod-eu1"} 61`,
	} {
		if !strings.Contains(metrics, series) {
			t.Errorf("metrics lack %s", series)
		}
	}
	for _, phase := range []string{"download", "verify", "restore", "start", "checks", "total"} {
		re := regexp.MustCompile(`(?m)^etcdguard_drill_duration_seconds\{cluster="prod-eu1",phase="` + phase + `"\} (\S+)$`)
		m := re.FindStringSubmatch(metrics)
		if m == nil || m[1] == "0" {
			t.Errorf("drill phase %s not timed: %v", phase, m)
		}
	}
	waitFor(t, 10*time.Second, "STATUS= after the drill", func() bool {
		return strings.Contains(notify.last("STATUS="), "restore drill passed; next snapshot at ")
	})
	if !strings.Contains(agent.log(), "restore drill passed") {
		t.Errorf("the agent did not log the drill:\n%s", agent.log())
	}

	// check reads the record the agent left in the store.
	out, _, code = snapRun(t, env, "check")
	if code != 0 || !regexp.MustCompile(`OK drill: the last successful restore drill \(of prod-eu1/\S+\.db\.zst, RTO [0-9.]+s\) was \d+s ago`).MatchString(out) {
		t.Fatalf("check after the drill: exit %d\n%s", code, out)
	}
	// ... and warns once that drill is older than max_drill_age.
	time.Sleep(time.Until(time.Unix(int64(at), 0).Add(2 * time.Second))) // the record's age only grows
	out, _, code = snapRun(t, append(env, "ETCDGUARD_CHECK_MAX_DRILL_AGE=1s"), "check")
	if code != 1 || !regexp.MustCompile(`WARNING drill: the last successful restore drill \(of prod-eu1/\S+\) was \d+s ago \(max_drill_age 1s\)`).MatchString(out) {
		t.Fatalf("check with max_drill_age 1s: exit %d\n%s", code, out)
	}

	agent.signal(syscall.SIGTERM)
	if code := agent.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}
