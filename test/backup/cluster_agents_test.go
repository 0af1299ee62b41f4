package backup_test

// etcdguard against a real 3-member etcd, one agent per member as on a
// kubeadm control plane: each agent is told only its own member
// (etcd.endpoints: [https://127.0.0.1:2379], docs/guides/etcdguard-systemd.md).

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/test/infra"
)

// clusterAgent is an agent beside one member, its metrics address known.
type clusterAgent struct {
	member  int
	p       *snapProcess
	metrics string
}

func (a *clusterAgent) leader() bool {
	_, body := httpGet(a.metrics)
	return strings.Contains(body, `etcdguard_leader{cluster="prod-eu1"} 1`)
}

// startClusterAgents starts one agent per member (1s deltas, leader
// election), each with only its own member's endpoint.
// clusterWithElectedAgent starts a 3-member etcd with 30 keys, versitygw
// and an agent beside each member, and waits for one to be elected and
// its delta chain to start.
func clusterWithElectedAgent(t *testing.T, opts infra.EtcdClusterOptions) (*infra.EtcdCluster, *infra.S3, *clientv3.Client, []*clusterAgent, *clusterAgent) {
	t.Helper()
	c := infra.StartEtcdClusterWith(t, 3, opts)
	s := infra.StartS3(t)
	cli := etcdClient(t, &infra.Etcd{Endpoints: c.Endpoints()})
	putN(t, cli, "configmaps/before", 30)
	agents := startClusterAgents(t, c, s)
	elected := electedAgent(t, agents, 60*time.Second, nil)
	waitFor(t, 60*time.Second, "the delta chain", func() bool { return strings.Contains(elected.p.log(), "delta chain started") })
	return c, s, cli, agents, elected
}

func startClusterAgents(t *testing.T, c *infra.EtcdCluster, s *infra.S3) []*clusterAgent {
	t.Helper()
	var agents []*clusterAgent
	for i, m := range c.Members {
		addr := fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t))
		env := append(deltaAgentEnv(m, s, ""), "ETCDGUARD_LEADER_ELECTION=true", "ETCDGUARD_METRICS_LISTEN="+addr)
		agents = append(agents, &clusterAgent{member: i, p: snapStart(t, env, "agent"), metrics: "http://" + addr + "/metrics"})
	}
	return agents
}

// electedAgent waits until exactly one agent is the leader and returns it.
func electedAgent(t *testing.T, agents []*clusterAgent, d time.Duration, skip *clusterAgent) *clusterAgent {
	t.Helper()
	var elected *clusterAgent
	waitFor(t, d, "one elected agent", func() bool {
		var ls []*clusterAgent
		for _, a := range agents {
			if a != skip && a.leader() {
				ls = append(ls, a)
			}
		}
		if len(ls) > 1 {
			t.Fatalf("%d agents are leaders at once", len(ls))
		}
		if len(ls) == 1 {
			elected = ls[0]
		}
		return elected != nil
	})
	return elected
}

// etcdLeader returns the index of the member etcd says leads, and its ID.
func etcdLeader(t *testing.T, c *infra.EtcdCluster) (int, uint64) {
	t.Helper()
	for i, m := range c.Members {
		if exited, _ := m.Process.Exited(); exited {
			continue
		}
		cli := etcdClient(t, m)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		st, err := cli.Status(ctx, m.Endpoints[0])
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return i, st.Leader
		}
	}
	t.Fatal("no etcd member leads")
	return -1, 0
}

// writer writes to the cluster through every member's endpoint until
// stopped, riding out members dying: puts over a rotating set of keys,
// every seventh a delete. last is the newest revision etcd confirmed.
type writer struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	last   int64
	writes int
}

func startWriter(t *testing.T, cli *clientv3.Client) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for n := 0; ctx.Err() == nil; n++ {
			key := fmt.Sprintf("/registry/configmaps/w/%d", n%300)
			octx, ocancel := context.WithTimeout(ctx, 3*time.Second)
			var rev int64
			if n%7 == 6 {
				r, err := cli.Delete(octx, key)
				if err == nil {
					rev = r.Header.Revision
				}
			} else {
				r, err := cli.Put(octx, key, fmt.Sprintf("v%d", n))
				if err == nil {
					rev = r.Header.Revision
				}
			}
			ocancel()
			if rev == 0 {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			w.mu.Lock()
			w.last, w.writes = max(w.last, rev), w.writes+1
			w.mu.Unlock()
			time.Sleep(15 * time.Millisecond)
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *writer) stop() { w.cancel(); <-w.done }

func (w *writer) revision() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// TestClusterAgentsLeaderChangesAndHandover: three agents on a 3-member
// etcd under steady writes. The etcd leader moves (move-leader), then
// the etcd leader is killed (-9) and restarted, then the member of the
// elected agent is killed: another agent takes over within the lease
// TTL. Every chain either goes on or ends with a logged, counted reason,
// followed by a new full snapshot; restores at the end of each chain and
// at the last write equal the live cluster's keyspace at that revision.
func TestClusterAgentsLeaderChangesAndHandover(t *testing.T) {
	step := stepLogger(t)
	c, s, cli, agents, elected := clusterWithElectedAgent(t, infra.EtcdClusterOptions{})
	step("agent beside m%d elected; its chain started", elected.member)
	w := startWriter(t, cli)
	time.Sleep(3 * time.Second)

	// 1. The etcd leader moves to another member.
	lead, _ := etcdLeader(t, c)
	target := (lead + 1) % 3
	tcli := etcdClient(t, c.Members[lead])
	tst, err := etcdClient(t, c.Members[target]).Status(context.Background(), c.Members[target].Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tcli.MoveLeader(context.Background(), tst.Header.MemberId); err != nil {
		t.Fatalf("move-leader m%d -> m%d: %v", lead, target, err)
	}
	afterMove := w.revision()
	step("etcd leader moved m%d -> m%d at revision ~%d", lead, target, afterMove)
	time.Sleep(4 * time.Second)
	if strings.Contains(elected.p.log(), "delta chain broken") {
		t.Fatalf("the chain broke on a leader move:\n%s", elected.p.log())
	}

	// 2. The etcd leader is killed (-9) and comes back.
	lead, _ = etcdLeader(t, c)
	c.Kill(lead)
	killedAt := w.revision()
	step("etcd leader m%d killed at revision ~%d (elected agent beside m%d)", lead, killedAt, elected.member)
	others := []int{(lead + 1) % 3, (lead + 2) % 3}
	c.WaitHealthy(others...)
	time.Sleep(2 * time.Second)
	c.Restart(lead, true)
	step("m%d restarted", lead)
	elected = electedAgent(t, agents, leaseTTL+15*time.Second, nil)
	step("elected agent now beside m%d", elected.member)
	time.Sleep(4 * time.Second)

	// 3. The elected agent's member dies: another agent takes over.
	gone := elected
	lead, _ = etcdLeader(t, c)
	goneLed := lead == gone.member
	c.Kill(gone.member)
	killed := time.Now()
	var rest []int
	for i := range 3 {
		if i != gone.member {
			rest = append(rest, i)
		}
	}
	c.WaitHealthy(rest...)
	next := electedAgent(t, agents, leaseTTL+10*time.Second, gone)
	took := time.Since(killed)
	nextElected, nextLogFrom := time.Now(), len(next.p.log())
	step("member m%d of the elected agent killed (it led etcd: %v); agent beside m%d took over after %s (lease TTL %s)", gone.member, goneLed, next.member, took.Round(100*time.Millisecond), leaseTTL)
	// The lease TTL, plus an etcd election when the member also led etcd
	// (the new etcd leader renews every lease), and polling.
	if took > leaseTTL+5*time.Second {
		t.Fatalf("takeover took %s, more than the lease TTL %s, an etcd election and slack", took, leaseTTL)
	}
	waitFor(t, leaseTTL+5*time.Second, "the cut-off agent to step down", func() bool { return !gone.leader() })
	step("the agent beside the dead member stepped down")
	waitFor(t, 60*time.Second, "the new leader's chain", func() bool { return strings.Contains(next.p.log(), "delta chain started") })
	time.Sleep(3 * time.Second)
	c.Restart(gone.member, true)
	time.Sleep(3 * time.Second)
	w.stop()
	last := w.revision()
	step("writer stopped at revision %d after %d writes", last, w.writes)

	st := snapStore(s)
	waitFor(t, 60*time.Second, "the newest chain to reach the last write", func() bool {
		cs := chainsOf(t, st)
		return len(cs) > 0 && cs[0].LastRevision() >= last
	})
	// The new leader bridged the old chain up to its first snapshot.
	br := waitBridge(t, next, nextLogFrom, 90*time.Second)
	step("the agent beside m%d bridged the chain of %s: revisions %d..%d (E=%d, S=%d) in %d segment(s), committed %s after its election (the bridge itself took %s)",
		next.member, br.chain, br.from, br.last, br.from-1, br.last, br.segments, br.at.Sub(nextElected).Round(100*time.Millisecond), br.took)
	cs := chainsOf(t, st)
	for _, ch := range cs {
		step("chain %s: revisions %d..%d, %d segments, broken %v", ch.Snapshot.Name(), ch.StartRevision(), ch.LastRevision(), len(ch.Segments), ch.Broken)
		if ch.Broken != nil {
			t.Fatalf("chain %s has a broken link: %v", ch.Snapshot.Name(), ch.Broken)
		}
	}
	// Every break was logged and counted by the agent that had the chain.
	breaks := 0
	for _, a := range agents {
		for reason, n := range chainBreaks(t, a.metrics) {
			if n > 0 {
				step("agent beside m%d: %d chain break(s), reason %s", a.member, n, reason)
				breaks += n
			}
		}
	}
	if breaks < len(cs)-1 {
		t.Fatalf("%d chains but %d counted breaks: a chain ended without a counted reason", len(cs), breaks)
	}
	if breaks == 0 || chainBreaks(t, gone.metrics)[delta.BreakLeadership] == 0 {
		t.Fatalf("the agent that lost its member counted no leadership break: %v", chainBreaks(t, gone.metrics))
	}

	// No change lost: the end of every chain, the moments of the leader
	// move and of the leader's death (where a chain covers them), and the
	// last write restore as the live cluster had them.
	revs := map[int64]bool{last: true}
	var labels []int64 // each snapshot's own revision
	for _, ch := range cs {
		if len(ch.Segments) > 0 {
			revs[ch.LastRevision()] = true
			labels = append(labels, ch.StartRevision())
		}
		for _, at := range []int64{afterMove, killedAt} {
			if ch.StartRevision() < at && at <= ch.LastRevision() {
				revs[at] = true
			}
		}
	}
	env := snapEnv(c.Members[next.member], s, "")
	// A bridged chain ends at the next snapshot's label: a plain restore
	// there takes that snapshot alone, which under writes may already hold
	// a revision past its label and is then refused (never answered with
	// another state); the bridged chain restores it exactly, checked with
	// --snapshot below.
	for _, rev := range labels {
		delete(revs, rev)
	}
	for rev := range revs {
		restoredMatches(t, env, cli, rev)
	}
	for _, rev := range labels {
		restoredMatchesOrRefused(t, env, cli, rev)
	}

	// Inside the former gap, (E, S]: the old chain, bridged, restores
	// every revision up to the new leader's snapshot, which starts there.
	E, S := br.from-1, br.last
	bridgedChain(t, cs, br, S)
	for _, rev := range []int64{E + 1, (E + S) / 2} {
		if rev < S {
			restoredMatches(t, env, cli, rev)
		}
	}
	// The new snapshot's own revision: restored from it, or refused
	// naming the bridged chain, which reaches it (the restore the refusal
	// names is run and checked); from the bridged chain either way.
	switch refused, instead := restoredMatchesOrRefused(t, env, cli, S); {
	case !refused:
		restoredFromMatches(t, env, cli, br.chain, S)
	case instead != br.chain:
		t.Fatalf("restore --revision %d refused naming %q, not the bridged chain %s, which reaches it", S, instead, br.chain)
	}
	listedWhole(t, env, br.chain, S)
}

// bridge is what an agent's log says of the bridge it committed.
type bridge struct {
	chain      string
	from, last int64
	segments   int
	took       string
	at         time.Time // when the test saw it
}

var bridgeLog = regexp.MustCompile(`delta bridge committed[^\n]* chain=(\S+) from_revision=(\d+) last_revision=(\d+) segments=(\d+) took=(\S+)`)

// waitBridge waits for agent a to log a committed bridge past offset from
// of its log; a bridge that was not written fails the test.
func waitBridge(t *testing.T, a *clusterAgent, from int, d time.Duration) bridge {
	t.Helper()
	var b bridge
	waitFor(t, d, "the new leader's delta bridge", func() bool {
		log := a.p.log()[from:]
		if i := strings.Index(log, "delta bridge not written"); i >= 0 {
			t.Fatalf("the new leader wrote no bridge: %s", log[i:min(len(log), i+600)])
		}
		m := bridgeLog.FindStringSubmatch(log)
		if m == nil {
			return false
		}
		b.chain, b.took, b.at = m[1], m[5], time.Now()
		b.from, _ = strconv.ParseInt(m[2], 10, 64)
		b.last, _ = strconv.ParseInt(m[3], 10, 64)
		b.segments, _ = strconv.Atoi(m[4])
		return true
	})
	return b
}

// bridgedChain checks that the bridged chain is whole and ends at S, the
// revision of the next full snapshot, whose own chain starts after it.
func bridgedChain(t *testing.T, cs []*delta.Chain, br bridge, S int64) {
	t.Helper()
	var old, next *delta.Chain
	for _, ch := range cs {
		switch {
		case ch.Snapshot.Name() == br.chain:
			old = ch
		case ch.Snapshot.Revision == S:
			next = ch
		}
	}
	if old == nil || next == nil {
		t.Fatalf("the bridged chain %s or the snapshot at revision %d is not in the store", br.chain, S)
	}
	if old.Broken != nil || old.LastRevision() != S || len(old.Segments) < br.segments {
		t.Fatalf("the bridged chain %s ends at %d (broken %v), want %d", br.chain, old.LastRevision(), old.Broken, S)
	}
	bridged := old.Segments[len(old.Segments)-br.segments:]
	if bridged[0].FirstRevision != br.from {
		t.Fatalf("the bridge starts at revision %d, its log says %d", bridged[0].FirstRevision, br.from)
	}
	if len(next.Segments) > 0 && next.Segments[0].FirstRevision > S+1 {
		t.Fatalf("the next chain starts at revision %d, after the bridge's end %d", next.Segments[0].FirstRevision, S)
	}
}

// restoredFromMatches restores --snapshot snap --revision rev: the
// snapshot's own chain must reach rev, and the keyspace equal etcd's.
func restoredFromMatches(t *testing.T, env []string, cli *clientv3.Client, snap string, rev int64) {
	t.Helper()
	want := keyspaceOf(t, cli, rev)
	dir := t.TempDir() + "/data"
	r := runEtcdguard(t, env, "restore", "--snapshot", snap, "--revision", fmt.Sprint(rev), "--data-dir", dir)
	if r.Code != 0 {
		t.Fatalf("restore --snapshot %s --revision %d: exit %d\n%s", snap, rev, r.Code, r.Output)
	}
	restored := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: dir})
	got := keyspaceOf(t, etcdClient(t, restored), 0)
	restored.Stop()
	for k, w := range want {
		if got[k].value != w.value || got[k].mod != w.mod {
			t.Fatalf("revision %d from %s: %s restored as %+v, etcd had %+v", rev, snap, k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("revision %d from %s: %d keys restored, etcd had %d", rev, snap, len(got), len(want))
	}
	t.Logf("restore --snapshot %s --revision %d: %d keys, as etcd had them", snap, rev, len(got))
}

// listedWhole checks that `etcdguard list` shows the chain of snap ending
// at rev without a break, and `check` (which looks at the chain holding the
// newest point) finds none broken.
func listedWhole(t *testing.T, env []string, snap string, rev int64) {
	t.Helper()
	out, stderr, code := snapRun(t, env, "list")
	if code != 0 {
		t.Fatalf("list: exit %d\n%s%s", code, out, stderr)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, snap) {
			line = l
		}
	}
	if !strings.Contains(line, fmt.Sprintf("→ r%d ", rev)) || strings.Contains(line, "BROKEN") {
		t.Fatalf("list shows the chain of %s as %q, want it to end at r%d without a break:\n%s", snap, line, rev, out)
	}
	t.Logf("list: %s", strings.TrimSpace(line))
	out, stderr, code = snapRun(t, env, "check")
	if strings.Contains(out+stderr, "is broken") {
		t.Fatalf("check (exit %d) reports a broken chain:\n%s%s", code, out, stderr)
	}
	t.Logf("check: exit %d: %s", code, lastLineOf(out+stderr))
}

// TestClusterAgentsNoBridgeWhenEtcdCompacted: after a handover, etcd
// compacts past the old chain's end before the new leader bridges it: the
// bridge is not written, logged and counted ("compacted"), the old chain
// is left as it was, and a restore inside the gap is refused as before.
func TestClusterAgentsNoBridgeWhenEtcdCompacted(t *testing.T) {
	step := stepLogger(t)
	c, s, cli, agents, gone := clusterWithElectedAgent(t, infra.EtcdClusterOptions{})
	w := startWriter(t, cli)
	time.Sleep(4 * time.Second)
	// Each agent's log up to the kill: the next leader may start its
	// chain before electedAgent sees it elected (a metrics poll).
	logFrom := map[*clusterAgent]int{}
	for _, a := range agents {
		logFrom[a] = len(a.p.log())
	}
	c.Kill(gone.member)
	var rest []int
	for i := range 3 {
		if i != gone.member {
			rest = append(rest, i)
		}
	}
	c.WaitHealthy(rest...)
	next := electedAgent(t, agents, leaseTTL+10*time.Second, gone)
	elected, from := time.Now(), logFrom[next]
	waitFor(t, 30*time.Second, "the new leader's chain", func() bool { return strings.Contains(next.p.log()[from:], "delta chain started") })
	// Stopped, so that the new chain reads up to the compaction before it.
	w.stop()
	time.Sleep(2500 * time.Millisecond)
	r, err := cli.Get(context.Background(), "compact-me")
	if err != nil {
		t.Fatal(err)
	}
	compacted := r.Header.Revision
	if _, err := cli.Compact(context.Background(), compacted, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	step("agent beside m%d elected %s ago; etcd compacted at revision %d before its bridge", next.member, time.Since(elected).Round(100*time.Millisecond), compacted)
	if time.Since(elected) > 14*time.Second {
		t.Fatalf("the compaction came %s after the election, too late to precede the bridge", time.Since(elected))
	}
	waitFor(t, 60*time.Second, "the bridge's refusal", func() bool { return strings.Contains(next.p.log()[from:], "delta bridge not written") })
	log := next.p.log()[from:]
	i := strings.Index(log, "delta bridge not written")
	line := log[i : i+strings.Index(log[i:], "\n")]
	step("agent beside m%d: %s", next.member, line)
	if !strings.Contains(line, "result=compacted") || strings.Contains(log, "delta bridge committed") {
		t.Fatalf("the bridge after a compaction: %s", line)
	}
	if _, body := httpGet(next.metrics); !regexp.MustCompile(`etcdguard_delta_bridges_total\{cluster="prod-eu1",result="compacted"\} [1-9]`).MatchString(body) {
		t.Fatalf("the refused bridge is not counted:\n%s", body)
	}
	m := regexp.MustCompile(`chain=(\S+) from_revision=(\d+) until_revision=(\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("the refusal names no chain: %s", line)
	}
	E, _ := strconv.ParseInt(m[2], 10, 64)
	E--
	S, _ := strconv.ParseInt(m[3], 10, 64)
	for _, ch := range chainsOf(t, snapStore(s)) {
		if ch.Snapshot.Name() == m[1] {
			if ch.Broken != nil || ch.LastRevision() != E || len(ch.Orphans) != 0 {
				t.Fatalf("the old chain after the refused bridge: ends at %d (broken %v, %d orphans), want %d as before", ch.LastRevision(), ch.Broken, len(ch.Orphans), E)
			}
			step("the old chain %s still ends at E=%d; the new snapshot is at S=%d", m[1], E, S)
		}
	}
	if E+1 < S {
		env := snapEnv(c.Members[next.member], s, "")
		res := runEtcdguard(t, env, "restore", "--revision", fmt.Sprint(E+1), "--data-dir", t.TempDir()+"/data")
		if res.Code == 0 || !strings.Contains(res.Output, "the chain broke in between") {
			t.Fatalf("restore --revision %d inside the gap: exit %d\n%s", E+1, res.Code, res.Output)
		}
		t.Logf("restore --revision %d refused: %s", E+1, lastLineOf(res.Output))
	}
}

// TestClusterAgentOnIsolatedMember: the member of the elected agent, the
// etcd leader too, is cut off from the other two (a partition; the agent
// still reaches its member, which keeps answering with what it had), or
// hangs (SIGSTOP: it takes connections and answers nothing). Another
// agent takes over within the lease TTL plus an etcd election; the
// cut-off agent steps down and stores no snapshot of its member's stale
// data; a snapshot by hand on the partitioned node is refused; once the
// member is back, the new leader's chain restores the last write.
func TestClusterAgentOnIsolatedMember(t *testing.T) {
	t.Run("partition", func(t *testing.T) {
		clusterAgentCutOff(t, true, func(c *infra.EtcdCluster, i int) { c.Isolate(i) }, func(c *infra.EtcdCluster, i int) { c.Heal(i) })
	})
	t.Run("hung", func(t *testing.T) {
		clusterAgentCutOff(t, false, func(c *infra.EtcdCluster, i int) { c.Members[i].Process.Pause() },
			func(c *infra.EtcdCluster, i int) { c.Members[i].Process.Resume() })
	})
}

func clusterAgentCutOff(t *testing.T, answers bool, cut, heal func(*infra.EtcdCluster, int)) {
	step := stepLogger(t)
	c, s, cli, agents, gone := clusterWithElectedAgent(t, infra.EtcdClusterOptions{Partitionable: true})
	st, err := etcdClient(t, c.Members[gone.member]).Status(context.Background(), c.Members[gone.member].Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	isolatedID := fmt.Sprintf("%x", st.Header.MemberId)
	var rest []int
	for i := range 3 {
		if i != gone.member {
			rest = append(rest, i)
		}
	}
	// The worst case: the cut-off member also leads etcd. The other two
	// elect a new leader, which renews every lease (etcd extends leases on
	// a leader change): the agent lease runs a full TTL after the election.
	if lead, _ := etcdLeader(t, c); lead != gone.member {
		if _, err := etcdClient(t, c.Members[lead]).MoveLeader(context.Background(), st.Header.MemberId); err != nil {
			t.Fatalf("move-leader to m%d: %v", gone.member, err)
		}
	}
	w := startWriter(t, etcdClient(t, &infra.Etcd{Endpoints: []string{c.Members[rest[0]].Endpoints[0], c.Members[rest[1]].Endpoints[0]}}))
	time.Sleep(3 * time.Second)
	if lead, _ := etcdLeader(t, c); lead != gone.member {
		t.Fatalf("m%d leads etcd, not m%d", lead, gone.member)
	}

	cut(c, gone.member)
	isolated := time.Now()
	isolatedAt := w.revision()
	step("member m%d (%s) of the elected agent cut off at revision ~%d", gone.member, isolatedID, isolatedAt)
	// A snapshot by hand on the cut-off node (its own member only) is
	// refused: within etcd's election timeout the member still names its
	// old leader and its linearizable read fails; after it, it has none.
	if answers {
		_, stderr, code := snapRun(t, snapEnv(c.Members[gone.member], s, ""), "snapshot")
		step("etcdguard snapshot on the cut-off node: exit %d: %s", code, lastLineOf(stderr))
		if code != 1 || !strings.Contains(stderr, "refusing to snapshot a member that may hold stale data") {
			t.Fatalf("snapshot of the cut-off member: exit %d, want 1 refusing it\n%s", code, stderr)
		}
	}
	next := electedAgent(t, agents, leaseTTL+15*time.Second, gone)
	took := time.Since(isolated)
	step("agent beside m%d took over after %s (lease TTL %s, after an etcd leader election)", next.member, took.Round(100*time.Millisecond), leaseTTL)
	// The documented bound: the lease TTL plus etcd's leader election
	// (1 s election timeout, randomised up to twice that), a campaign
	// retried after a lapsed lease (1 s), and polling.
	if took > leaseTTL+6*time.Second {
		t.Fatalf("takeover took %s, more than the lease TTL %s, an etcd election and slack", took, leaseTTL)
	}
	if gone.leader() {
		t.Fatal("the cut-off agent is still a leader beside the new one")
	}
	waitFor(t, 60*time.Second, "the new leader's chain", func() bool { return strings.Contains(next.p.log(), "delta chain started") })
	time.Sleep(5 * time.Second)
	if answers {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		mst, err := etcdClient(t, c.Members[gone.member]).Status(ctx, c.Members[gone.member].Endpoints[0])
		cancel()
		if err == nil {
			step("the cut-off member: revision %d, leader %x (quorum at ~%d)", mst.Header.Revision, mst.Leader, w.revision())
		}
	}
	heal(c, gone.member)
	c.WaitHealthy(0, 1, 2)
	step("member back")
	time.Sleep(2 * time.Second)
	w.stop()
	last := w.revision()
	step("writer stopped at revision %d after %d writes", last, w.writes)

	nst, err := etcdClient(t, c.Members[next.member]).Status(context.Background(), c.Members[next.member].Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	nextID := fmt.Sprintf("%x", nst.Header.MemberId)
	for _, m := range snapList(t, s).Snapshots {
		step("snapshot %s from member %s", m.Name(), m.MemberID)
		if m.MemberID == isolatedID && m.CreatedAt.After(isolated.Add(time.Second)) {
			t.Fatalf("snapshot %s taken from the cut-off member after the cut", m.Name())
		}
		// Only the agent that took over uploads: two agents elected at
		// once would each start a snapshot, one from another member.
		if m.CreatedAt.After(isolated.Add(time.Second)) && m.MemberID != nextID {
			t.Fatalf("snapshot %s taken beside member %s, not by the agent that took over (beside %s): two agents uploaded at once", m.Name(), m.MemberID, nextID)
		}
	}
	if chainBreaks(t, gone.metrics)[delta.BreakLeadership] == 0 {
		t.Fatalf("the cut-off agent counted no leadership break: %v", chainBreaks(t, gone.metrics))
	}
	st2 := snapStore(s)
	waitFor(t, 60*time.Second, "the newest chain to reach the last write", func() bool {
		cs := chainsOf(t, st2)
		return len(cs) > 0 && cs[0].LastRevision() >= last
	})
	cs := chainsOf(t, st2)
	revs := map[int64]bool{last: true}
	var labels []int64 // each snapshot's own revision
	for _, ch := range cs {
		step("chain %s: revisions %d..%d, %d segments, broken %v", ch.Snapshot.Name(), ch.StartRevision(), ch.LastRevision(), len(ch.Segments), ch.Broken)
		if ch.Broken != nil {
			t.Fatalf("chain %s has a broken link: %v", ch.Snapshot.Name(), ch.Broken)
		}
		if len(ch.Segments) > 0 {
			revs[ch.LastRevision()] = true
			labels = append(labels, ch.StartRevision())
		}
	}
	env := snapEnv(c.Members[next.member], s, "")
	r := runEtcdguard(t, env, "check")
	step("etcdguard check after the handover: exit %d\n%s", r.Code, logBlock(r.Output))
	if r.Code != 0 {
		t.Fatalf("etcdguard check alarms after a normal handover: exit %d", r.Code)
	}
	// A revision between the cut-off chain's end and the new snapshot is
	// in no chain: a restore to it must say so, not restore another one.
	gap := cs[len(cs)-1].LastRevision() + 1
	if gap < cs[0].StartRevision() {
		r := runEtcdguard(t, env, "restore", "--revision", fmt.Sprint(gap), "--data-dir", t.TempDir()+"/gap")
		step("restore --revision %d (between the chains): exit %d\n%s", gap, r.Code, logBlock(lastLineOf(r.Output)))
		if r.Code == 0 || !strings.Contains(r.Output, "the chain broke in between") {
			t.Fatalf("restore --revision %d, in no chain: exit %d\n%s", gap, r.Code, r.Output)
		}
	}
	for rev := range revs {
		restoredMatches(t, env, cli, rev)
	}
	for _, rev := range labels {
		restoredMatchesOrRefused(t, env, cli, rev)
	}
}

// restoredMatchesOrRefused restores a snapshot's own revision: etcd 3.6
// streams no revision with a snapshot, so it is labelled with the one read
// just before, and under writes its database holds a few more. The
// restore must then refuse, saying so; it must never give a later state.
// When the refusal names an older snapshot whose chain reaches rev, that
// restore is run and checked too, and the snapshot's name returned.
func restoredMatchesOrRefused(t *testing.T, env []string, cli *clientv3.Client, rev int64) (refused bool, instead string) {
	t.Helper()
	r := runEtcdguard(t, env, "restore", "--revision", fmt.Sprint(rev), "--data-dir", t.TempDir()+"/data")
	if r.Code != 0 {
		if !strings.Contains(r.Output, "already holds revision") {
			t.Fatalf("restore --revision %d: exit %d\n%s", rev, r.Code, r.Output)
		}
		t.Logf("restore --revision %d refused: %s", rev, lastLineOf(r.Output))
		if m := regexp.MustCompile(`give --snapshot (\S+) --revision (\d+) `).FindStringSubmatch(r.Output); m != nil {
			if m[2] != fmt.Sprint(rev) {
				t.Fatalf("the refusal of revision %d suggests revision %s", rev, m[2])
			}
			restoredFromMatches(t, env, cli, m[1], rev)
			return true, m[1]
		}
		return true, ""
	}
	restoredMatches(t, env, cli, rev)
	return false, ""
}
