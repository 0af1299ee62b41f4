package backup_test

// Faults of continuous deltas, each against the real etcd and versitygw
// with the agent as a process: etcd restarting mid-chain, a watch cut
// while etcd compacts past it, the store down while deltas accumulate, and
// the agent killed with -9 mid-segment.

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/test/infra"
)

func putN(t *testing.T, cli *clientv3.Client, prefix string, n int) int64 {
	t.Helper()
	var rev int64
	for i := range n {
		r, err := cli.Put(context.Background(), fmt.Sprintf("/registry/%s/%d", prefix, i), fmt.Sprintf("%s-%d", prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		rev = r.Header.Revision
	}
	return rev
}

func chainsOf(t *testing.T, st store.Store) []*delta.Chain {
	t.Helper()
	l, err := snapshot.List(context.Background(), st, snapCluster)
	if err != nil {
		t.Fatal(err)
	}
	var out []*delta.Chain
	for _, m := range l.Snapshots {
		c, err := delta.Load(context.Background(), st, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// restoredMatches restores --revision rev and compares the keyspace with
// the live etcd's at rev.
func restoredMatches(t *testing.T, env []string, cli *clientv3.Client, rev int64) {
	t.Helper()
	restoredEquals(t, env, rev, keyspaceOf(t, cli, rev))
}

// restoredEquals restores --revision rev and compares the keyspace with
// want (read from etcd before it compacted).
func restoredEquals(t *testing.T, env []string, rev int64, want map[string]kvAt) {
	t.Helper()
	dir := t.TempDir() + "/data"
	r := runEtcdguard(t, env, "restore", "--revision", fmt.Sprint(rev), "--data-dir", dir)
	if r.Code != 0 {
		t.Fatalf("restore --revision %d: exit %d\n%s", rev, r.Code, r.Output)
	}
	restored := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: dir})
	got := keyspaceOf(t, etcdClient(t, restored), 0)
	restored.Stop()
	for k, w := range want {
		if got[k].value != w.value || got[k].mod != w.mod {
			t.Fatalf("revision %d: %s restored as %+v, etcd had %+v", rev, k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("revision %d: %d keys restored, etcd had %d", rev, len(got), len(want))
	}
	t.Logf("restore --revision %d: %d keys, as etcd had them", rev, len(got))
}

// TestFaultDeltaEtcdRestartsMidChain: etcd stops and starts again (on the
// same data, behind the same address) while the agent follows it; the
// watch resumes where it stopped, the chain goes on without a break or a
// new full snapshot, and restores to the last write.
func TestFaultDeltaEtcdRestartsMidChain(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	proxy := startTCPProxy(t, strings.TrimPrefix(e.Endpoints[0], "http://"))
	env := append(deltaAgentEnv(e, s, ""), "ETCDGUARD_ETCD_ENDPOINTS="+proxy.URL())
	cli := etcdClient(t, e)
	putN(t, cli, "configmaps/before", 20)
	agent := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the delta chain", func() bool { return strings.Contains(agent.log(), "delta chain started") })
	putN(t, cli, "configmaps/a", 30)
	time.Sleep(300 * time.Millisecond) // mid-segment

	e.Stop()
	e2 := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: e.DataDir})
	proxy.SetTarget(strings.TrimPrefix(e2.Endpoints[0], "http://"))
	proxy.Cut()
	t.Logf("etcd restarted on %s (same data dir), behind the same address", e2.Endpoints[0])
	cli2 := etcdClient(t, e2)
	last := putN(t, cli2, "configmaps/b", 30)

	st := snapStore(s)
	waitFor(t, 60*time.Second, "the chain to reach the writes after the restart", func() bool {
		cs := chainsOf(t, st)
		return len(cs) > 0 && cs[0].LastRevision() >= last
	})
	cs := chainsOf(t, st)
	if len(cs) != 1 || cs[0].Broken != nil {
		t.Fatalf("after an etcd restart: %d chains (want the one), broken %v\n%s", len(cs), cs[0].Broken, agent.log())
	}
	if strings.Contains(agent.log(), "delta chain broken") {
		t.Fatalf("the chain broke on an etcd restart:\n%s", agent.log())
	}
	t.Logf("one chain of %d segments up to revision %d across the restart", len(cs[0].Segments), cs[0].LastRevision())
	agent.signal(syscall.SIGTERM)
	agent.waitExit(t, 30*time.Second)
	restoredMatches(t, env, cli2, last)
}

var breakMetric = regexp.MustCompile(`etcdguard_delta_chain_breaks_total\{cluster="prod-eu1",reason="(\w+)"\} (\d+)`)

func chainBreaks(t *testing.T, metricsURL string) map[string]int {
	t.Helper()
	_, body := httpGet(metricsURL)
	out := map[string]int{}
	for _, m := range breakMetric.FindAllStringSubmatch(body, -1) {
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	return out
}

// TestFaultDeltaWatchCompactedMidSegment: the agent is cut off from etcd
// mid-segment while etcd compacts past its position; when it reconnects
// its read is refused (compacted): the break is logged and counted, what
// arrived before the cut is committed, and a new full snapshot starts a
// new chain at once.
func TestFaultDeltaWatchCompactedMidSegment(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	proxy := startTCPProxy(t, strings.TrimPrefix(e.Endpoints[0], "http://"))
	addr := fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t))
	// Segments every 5s: the agent reads etcd's changes every second, so
	// 2s after the writes they are read but not yet committed.
	env := append(deltaAgentEnv(e, s, ""), "ETCDGUARD_ETCD_ENDPOINTS="+proxy.URL(), "ETCDGUARD_METRICS_LISTEN="+addr, "ETCDGUARD_DELTA_INTERVAL=5s")
	cli := etcdClient(t, e)
	putN(t, cli, "configmaps/before", 20)
	agent := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the delta chain", func() bool { return strings.Contains(agent.log(), "delta chain started") })
	beforeCut := putN(t, cli, "configmaps/a", 30)
	time.Sleep(2 * time.Second) // read, not yet committed: mid-segment

	wantBeforeCut := keyspaceOf(t, cli, beforeCut)
	proxy.SetDown(true)
	during := putN(t, cli, "configmaps/b", 30)
	if _, err := cli.Compact(context.Background(), during); err != nil {
		t.Fatal(err)
	}
	t.Logf("agent cut off at revision %d; etcd wrote up to %d and compacted there", beforeCut, during)
	proxy.SetDown(false)

	st := snapStore(s)
	waitFor(t, 90*time.Second, "a new full snapshot and chain", func() bool {
		return strings.Count(agent.log(), "delta chain started") >= 2
	})
	if got := chainBreaks(t, "http://"+addr+"/metrics"); got[delta.BreakCompacted] != 1 {
		t.Fatalf("chain breaks %v, want compacted 1\n%s", got, agent.log())
	}
	cs := chainsOf(t, st)
	if len(cs) != 2 {
		t.Fatalf("%d snapshots, want the first and the one the break forced", len(cs))
	}
	old := cs[1]
	if old.Broken != nil || old.LastRevision() < beforeCut {
		t.Fatalf("the broken-off chain ends at %d (broken %v), want at least %d: what arrived before the cut", old.LastRevision(), old.Broken, beforeCut)
	}
	if cs[0].Snapshot.Revision < during {
		t.Fatalf("the new full snapshot is at revision %d, before the compaction at %d", cs[0].Snapshot.Revision, during)
	}
	t.Logf("old chain: %d segments up to %d; new full snapshot %s at revision %d", len(old.Segments), old.LastRevision(), cs[0].Snapshot.Name(), cs[0].Snapshot.Revision)
	for _, line := range strings.Split(agent.log(), "\n") {
		if strings.Contains(line, "delta chain broken") {
			t.Logf("agent: %s", line)
		}
	}
	agent.signal(syscall.SIGTERM)
	agent.waitExit(t, 30*time.Second)
	restoredEquals(t, env, beforeCut, wantBeforeCut)

	// A point inside the hole (after the old chain's end, before the new
	// full snapshot) was compacted away unread: refused, saying where.
	hole := old.LastRevision() + 1
	if hole >= cs[0].Snapshot.Revision {
		t.Fatalf("no hole: the old chain ends at %d, the new snapshot is at %d", old.LastRevision(), cs[0].Snapshot.Revision)
	}
	r := runEtcdguard(t, env, "restore", "--revision", fmt.Sprint(hole), "--data-dir", t.TempDir()+"/hole")
	if r.Code == 0 || !strings.Contains(r.Output, "the chain broke in between") || !strings.Contains(r.Output, cs[0].Snapshot.Name()) {
		t.Fatalf("restore --revision %d, inside the hole: exit %d, want a refusal naming the gap\n%s", hole, r.Code, r.Output)
	}
	t.Logf("restore --revision %d (in the hole): %s", hole, lastLineOf(r.Output))
}

// TestFaultDeltaStoreDown: S3 refuses every request while deltas
// accumulate. The agent holds the segments in memory up to
// delta.max_bytes (1 MiB here), then drops the chain (break "store",
// counted) rather than grow; nothing half-written is visible; once S3 is
// back a full snapshot starts a new chain. Chosen over spilling to disk:
// the points inside the outage are not restorable, memory stays bounded.
func TestFaultDeltaStoreDown(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	proxy := startS3Proxy(t, s.Endpoint)
	addr := fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t))
	env := append(deltaAgentEnv(e, s, proxy.URL()), "ETCDGUARD_METRICS_LISTEN="+addr,
		"ETCDGUARD_DELTA_MAX_BYTES=1MiB", "ETCDGUARD_SCHEDULE_INTERVAL=20s") // a failed snapshot is retried after 5s
	cli := etcdClient(t, e)
	putN(t, cli, "configmaps/before", 20)
	agent := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the delta chain", func() bool { return strings.Contains(agent.log(), "delta chain started") })
	first := putN(t, cli, "configmaps/a", 20)
	st := snapStore(s)
	waitFor(t, 30*time.Second, "the first writes in the chain", func() bool {
		cs := chainsOf(t, st)
		return len(cs) == 1 && cs[0].LastRevision() >= first
	})

	proxy.SetFail(func(*http.Request) int { return http.StatusServiceUnavailable })
	value := make([]byte, 16<<10)
	for i := 0; !strings.Contains(agent.log(), "delta chain broken"); i++ {
		rand.Read(value) // incompressible
		if _, err := cli.Put(context.Background(), fmt.Sprintf("/registry/secrets/big-%d", i), string(value)); err != nil {
			t.Fatal(err)
		}
		if i > 2000 {
			t.Fatalf("32 MiB written with S3 down and the chain has not broken:\n%s", agent.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := chainBreaks(t, "http://"+addr+"/metrics"); got[delta.BreakStore] != 1 {
		t.Fatalf("chain breaks %v, want store 1", got)
	}
	t.Logf("agent peak RSS during the outage: %s", vmHWM(agent.cmd.Process.Pid))
	proxy.SetFail(nil)
	last := putN(t, cli, "configmaps/after", 10)
	waitFor(t, 90*time.Second, "a full snapshot and a new chain after the outage", func() bool {
		cs := chainsOf(t, st)
		return len(cs) >= 2 && cs[0].LastRevision() >= last
	})
	for _, c := range chainsOf(t, st) {
		if c.Broken != nil || len(c.Orphans) > 0 {
			t.Fatalf("chain of %s: broken %v, orphans %v", c.Snapshot.Name(), c.Broken, c.Orphans)
		}
	}
	agent.signal(syscall.SIGTERM)
	agent.waitExit(t, 30*time.Second)
	restoredMatches(t, env, cli, last)
}

// TestFaultDeltaAgentKilledMidSegment: the agent is killed with -9
// between a segment's data object and its manifest. No partial segment looks
// committed (the chain is whole up to its last manifest); the next agent
// leaves what the killed one left while it is younger than CommitGrace
// (it cannot tell it from a stopping leader's commit in flight; cleanup
// takes it later), takes a full snapshot and starts a new chain, which
// restores to the last write.
func TestFaultDeltaAgentKilledMidSegment(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	proxy := startS3Proxy(t, s.Endpoint)
	env := deltaAgentEnv(e, s, proxy.URL())
	cli := etcdClient(t, e)
	putN(t, cli, "configmaps/before", 20)
	agent := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the delta chain", func() bool { return strings.Contains(agent.log(), "delta chain started") })
	// The first segment's manifest is held until the agent is killed,
	// then dropped: its data object stays without a manifest, as when a
	// process dies between the two PUTs.
	manifestHeld, killed := make(chan struct{}), make(chan struct{})
	var held sync.Once
	proxy.SetFail(func(r *http.Request) int {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, ".deltas/") && strings.HasSuffix(r.URL.Path, ".json") {
			held.Do(func() { close(manifestHeld) })
			<-killed
			return http.StatusServiceUnavailable
		}
		return 0
	})
	putN(t, cli, "configmaps/a", 50)
	select {
	case <-manifestHeld:
	case <-time.After(60 * time.Second):
		t.Fatalf("no segment manifest was sent; log:\n%s", agent.log())
	}
	agent.signal(syscall.SIGKILL)
	agent.waitExit(t, 10*time.Second)
	close(killed)
	proxy.waitIdle(t)
	proxy.SetFail(nil)

	st := snapStore(s)
	cs := chainsOf(t, st)
	if len(cs) != 1 || cs[0].Broken != nil || len(cs[0].Orphans) != 1 {
		t.Fatalf("after kill -9: %d chains, broken %v, uncommitted %v; want one whole chain and the killed commit's data object", len(cs), cs[0].Broken, cs[0].Orphans)
	}
	before := cs[0]
	t.Logf("after kill -9: the chain is whole up to revision %d (%d segments); %d data object(s) without a manifest: %v",
		before.LastRevision(), len(before.Segments), len(before.Orphans), before.Orphans)

	last := putN(t, cli, "configmaps/b", 20)
	agent2 := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the new agent's chain to reach the last write", func() bool {
		cs := chainsOf(t, st)
		return len(cs) == 2 && cs[0].LastRevision() >= last
	})
	cs = chainsOf(t, st)
	if len(cs[1].Orphans) != 1 || len(cs[1].Segments) != len(before.Segments) || cs[1].Broken != nil {
		t.Fatalf("the killed agent's chain after the next start: %d segments, uncommitted %v, broken %v; want it as the kill left it "+
			"(%d segments, uncommitted %v): a young uncommitted segment is left alone", len(cs[1].Segments), cs[1].Orphans, cs[1].Broken,
			len(before.Segments), before.Orphans)
	}
	agent2.signal(syscall.SIGTERM)
	agent2.waitExit(t, 30*time.Second)
	restoredMatches(t, env, cli, last)
}

// vmHWM is a process's peak resident set size, from /proc.
func vmHWM(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "unknown"
}
