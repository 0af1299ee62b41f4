package backup_test

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

// leaseTTL mirrors agent.LeaseTTL (seconds).
const leaseTTL = 10 * time.Second

// Two agents on one cluster: exactly one uploads, on schedule; when it is
// killed the other takes over within one lease TTL and uploads.
func TestAgentLeaderElection(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 1)
	const interval = 3 * time.Second
	type agentUnderTest struct {
		p       *snapProcess
		metrics string
	}
	agents := make([]agentUnderTest, 2)
	for i := range agents {
		addr := fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t))
		env := append(snapEnv(e, s, ""),
			"ETCDGUARD_LEADER_ELECTION=true",
			"ETCDGUARD_SCHEDULE_INTERVAL="+interval.String(),
			"ETCDGUARD_SCHEDULE_JITTER=0s",
			"ETCDGUARD_METRICS_LISTEN="+addr)
		agents[i] = agentUnderTest{p: snapStart(t, env, "agent"), metrics: "http://" + addr + "/metrics"}
	}
	isLeader := func(a agentUnderTest) bool {
		_, body := httpGet(a.metrics)
		return strings.Contains(body, `etcdguard_leader{cluster="prod-eu1"} 1`)
	}
	uploads := func(a agentUnderTest) int { return strings.Count(a.p.log(), "snapshot complete") }

	waitFor(t, 30*time.Second, "a leader", func() bool { return isLeader(agents[0]) || isLeader(agents[1]) })
	leader, follower := agents[0], agents[1]
	if isLeader(follower) {
		leader, follower = follower, leader
	}
	if isLeader(follower) {
		t.Fatal("both agents are leaders")
	}
	waitFor(t, 30*time.Second, "three uploads by the leader", func() bool { return uploads(leader) >= 3 })
	if n := uploads(follower); n != 0 {
		t.Fatalf("the follower uploaded %d snapshots", n)
	}
	// One upload per interval: no two snapshots closer than the interval
	// allows (names have one-second resolution).
	l := snapList(t, s)
	times := make([]time.Time, 0, len(l.Snapshots))
	for _, m := range l.Snapshots {
		times = append(times, m.CreatedAt)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < interval-time.Second {
			t.Fatalf("snapshots %s apart at %v: more than one upload per interval", gap, times)
		}
	}

	leader.p.signal(syscall.SIGKILL)
	killed := time.Now()
	leader.p.waitExit(t, 10*time.Second)
	waitFor(t, leaseTTL+5*time.Second, "the follower to take over", func() bool { return isLeader(follower) })
	took := time.Since(killed)
	t.Logf("follower became leader %s after kill -9 (lease TTL %s)", took.Round(100*time.Millisecond), leaseTTL)
	if took > leaseTTL+2*time.Second {
		t.Fatalf("takeover took %s, more than one lease TTL (%s) and polling slack", took, leaseTTL)
	}
	waitFor(t, 20*time.Second, "an upload by the new leader", func() bool { return uploads(follower) >= 1 })
	assertNothingHalfVisible(t, s, len(snapList(t, s).Snapshots))
}
