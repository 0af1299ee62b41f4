package backup_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestClusterSnapshotRefusesStaleMember: a member of a 3-member etcd that
// was cut off (frozen) while the other two went on writing, then left
// alone with its old data (the other two die while it comes back). etcd
// answers its Status and would stream its database (Maintenance.Snapshot
// checks no quorum), a snapshot 100 revisions behind that looks whole.
// `etcdguard snapshot` against it must refuse, at once and saying why,
// and store nothing; once the quorum is back, the same member (now
// caught up) is snapshotted as usual, at least as new as the quorum.
func TestClusterSnapshotRefusesStaleMember(t *testing.T) {
	c := infra.StartEtcdCluster(t, 3)
	s := infra.StartS3(t)
	// A follower goes stale (a frozen leader would first stall the others'
	// writes until they elect a new one).
	lead, _ := etcdLeader(t, c)
	si, a, b := (lead+1)%3, lead, (lead+2)%3
	cli := etcdClient(t, &infra.Etcd{Endpoints: []string{c.Members[a].Endpoints[0], c.Members[b].Endpoints[0]}})
	putN(t, cli, "configmaps/old", 50)
	stale := c.Members[si]
	stale.Process.Pause()
	last := putN(t, cli, "configmaps/new", 100)
	c.Kill(a)
	c.Kill(b)
	stale.Process.Resume()
	t.Logf("member %s frozen while the quorum wrote up to revision %d; the others killed, it runs alone", stale.Name, last)
	time.Sleep(3 * time.Second) // its election timeout: it notices it has no leader

	env := snapEnv(stale, s, "")
	start := time.Now()
	_, stderr, code := snapRun(t, env, "snapshot")
	took := time.Since(start)
	t.Logf("snapshot against the stale member: exit %d after %s\n%s", code, took.Round(time.Millisecond), stderr)
	if code != 1 || !strings.Contains(stderr, "refusing to snapshot a member that may hold stale data") || !strings.Contains(stderr, "has no leader") {
		t.Fatalf("snapshot of a member cut off from the quorum: exit %d, want 1 naming why\n%s", code, stderr)
	}
	if took > 30*time.Second {
		t.Fatalf("the refusal took %s", took)
	}
	if n := len(snapList(t, s).Snapshots); n != 0 {
		t.Fatalf("%d snapshots stored from a stale member", n)
	}

	c.Restart(a, false)
	c.Restart(b, false)
	c.WaitHealthy(0, 1, 2)
	out, stderr, code := snapRun(t, env, "snapshot")
	if code != 0 {
		t.Fatalf("snapshot of the caught-up member: exit %d\n%s", code, stderr)
	}
	m := snapList(t, s).Snapshots[0]
	if m.Revision < last {
		t.Fatalf("snapshot at revision %d, the quorum wrote up to %d", m.Revision, last)
	}
	t.Logf("quorum back: %s", strings.TrimSpace(out))
}

// TestClusterPreflightOfStoppedMember: the drop-in's preflight on a
// member of a 3-member etcd that was killed while the other two went on
// (a node rebooted in a rolling upgrade). The preflight is given only the
// member's own endpoint, as on a kubeadm node. With a backup taken from the
// quorum 1,500 revisions past the member's disk:
//   - while the other two are up with a leader, it passes, naming the
//     leader: raft catches the member up. (Before, it was refused, exit 3,
//     and etcd stayed down until someone passed --no-lag-check.) It found
//     the others at the client URLs in the member's own database;
//   - with the other two down as well (the whole control plane starting on
//     this disk), it is refused (exit 3), naming what each member answered;
//     an etcd of another cluster that has a leader does not count.
//
// The same member, caught up and killed again with the quorum 100
// revisions on and the others down, passes: within --max-revision-lag
// 1000.
func TestClusterPreflightOfStoppedMember(t *testing.T) {
	c := infra.StartEtcdCluster(t, 3)
	s := infra.StartS3(t)
	cli := etcdClient(t, &infra.Etcd{Endpoints: c.Endpoints()[:2]})
	env := snapEnv(c.Members[0], s, "")
	own := snapEnv(c.Members[2], s, "") // the preflight's: its own member only
	putN(t, cli, "configmaps/before", 50)
	c.Kill(2)
	c.WaitHealthy(0, 1)
	last := putN(t, cli, "configmaps/while-down", 1500)
	if _, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
		t.Fatalf("snapshot from the quorum: exit %d\n%s", code, stderr)
	}
	_, leader := etcdLeader(t, c)
	r := runEtcdguard(t, own, "preflight", "--data-dir", c.Members[2].DataDir)
	t.Logf("preflight of m2, killed ~1500 revisions before the backup at %d, the others up: exit %d\n%s", last, r.Code, logBlock(r.Output))
	if r.Code != 0 || !strings.Contains(r.Output, "but the cluster has a quorum") || !strings.Contains(r.Output, fmt.Sprintf("leader %x", leader)) {
		t.Fatalf("preflight of a member behind a running quorum (leader %x): exit %d, want 0 naming the leader", leader, r.Code)
	}

	c.Kill(0)
	c.Kill(1)
	// An etcd of another cluster, with a leader, at a configured endpoint
	// (a cluster restored beside this one): not this member's quorum.
	stranger := infra.StartEtcd(t)
	r = runEtcdguard(t, append(own, "ETCDGUARD_ETCD_ENDPOINTS="+stranger.Endpoints[0]), "preflight", "--data-dir", c.Members[2].DataDir)
	t.Logf("the same, the others down too, another cluster's etcd configured: exit %d after %s\n%s", r.Code, r.Took.Round(time.Millisecond), logBlock(r.Output))
	if r.Code != 3 || !strings.Contains(r.Output, "no other member of its 3 answered with a leader") ||
		!strings.Contains(r.Output, stranger.Endpoints[0]+": member ") || !strings.Contains(r.Output, "(another cluster)") || !strings.Contains(r.Output, "connection refused") {
		t.Fatalf("preflight passed a member 1500 revisions behind the newest backup with no quorum of its own up (exit %d)", r.Code)
	}
	if r.Took > 15*time.Second {
		t.Fatalf("asking the members that are down took %s", r.Took)
	}

	c.Restart(0, false)
	c.Restart(1, false)
	c.WaitHealthy(0, 1)
	c.Restart(2, true)
	waitFor(t, 30*time.Second, "m2 to catch up", func() bool {
		st, err := etcdClient(t, c.Members[2]).Status(context.Background(), c.Members[2].Endpoints[0])
		return err == nil && st.Header.Revision >= last
	})
	time.Sleep(500 * time.Millisecond) // etcd's backend commits every 100 ms
	c.Kill(2)
	c.WaitHealthy(0, 1)
	last = putN(t, cli, "configmaps/little", 100)
	if _, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
		t.Fatalf("snapshot from the quorum: exit %d\n%s", code, stderr)
	}
	c.Kill(0)
	c.Kill(1)
	r = runEtcdguard(t, own, "preflight", "--data-dir", c.Members[2].DataDir)
	t.Logf("preflight of m2, killed 100 revisions before the backup at %d, the others down: exit %d\n%s", last, r.Code, logBlock(r.Output))
	if r.Code != 0 || !strings.Contains(r.Output, "within 1000 of the newest backup") {
		t.Fatalf("preflight refused a member only 100 revisions behind (exit %d)", r.Code)
	}
}

// TestClusterPreflightRefusesADiskFromBeforeARestore: a 3-member etcd is
// restored in place from a backup with its original token, names and peer
// URLs (etcdguard restore's default token is new for every snapshot; an
// operator can override it), so the restored members have the same IDs
// as before. One member's disk is then replaced by a copy taken before
// the restore (a volume restored from a cloud snapshot), 1,500 writes and
// a raft log longer than the restored cluster's. The other two answer
// with a leader and are in its member list, but their raft log is behind
// the disk's: it could win an election and bring its old data back as the
// cluster. The preflight refuses it (exit 3), saying so; counting any
// leader of a listed member as its quorum, it passed.
func TestClusterPreflightRefusesADiskFromBeforeARestore(t *testing.T) {
	c := infra.StartEtcdCluster(t, 3)
	s := infra.StartS3(t)
	env := snapEnv(c.Members[0], s, "")
	cli := etcdClient(t, &infra.Etcd{Endpoints: c.Endpoints()})
	last := putN(t, cli, "configmaps/before", 1500)
	if _, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
		t.Fatalf("snapshot: exit %d\n%s", code, stderr)
	}
	backup := snapList(t, s).Snapshots[0]
	waitFor(t, 30*time.Second, "every member at the last write", func() bool {
		for _, m := range c.Members {
			st, err := etcdClient(t, m).Status(context.Background(), m.Endpoints[0])
			if err != nil || st.Header.Revision < last {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond) // etcd's backend commits every 100 ms
	for i, m := range c.Members {
		c.Kill(i)
		waitFor(t, 10*time.Second, m.Name+" to exit", func() bool { exited, _ := m.Process.Exited(); return exited })
	}
	old := filepath.Join(t.TempDir(), "old-disk")
	if out, err := exec.Command("cp", "-a", c.Members[2].DataDir, old).CombinedOutput(); err != nil {
		t.Fatalf("copy the old disk: %v\n%s", err, out)
	}
	for i, m := range c.Members {
		r := runEtcdguard(t, env, "restore", "--snapshot", backup.Name(), "--data-dir", m.DataDir, "--force",
			"--name", m.Name, "--initial-cluster", c.Flag(i, "--initial-cluster"),
			"--initial-advertise-peer-urls", m.PeerURL, "--initial-cluster-token", c.Flag(i, "--initial-cluster-token"))
		if r.Code != 0 {
			t.Fatalf("restore %s in place: exit %d\n%s", m.Name, r.Code, r.Output)
		}
	}
	for i := range c.Members {
		c.Restart(i, false)
	}
	c.WaitHealthy(0, 1, 2)
	if _, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
		t.Fatalf("snapshot of the restored cluster: exit %d\n%s", code, stderr)
	}
	c.Kill(2)
	c.WaitHealthy(0, 1)
	if err := os.RemoveAll(c.Members[2].DataDir); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", old, c.Members[2].DataDir).CombinedOutput(); err != nil {
		t.Fatalf("put the old disk back: %v\n%s", err, out)
	}
	r := runEtcdguard(t, snapEnv(c.Members[2], s, ""), "preflight", "--data-dir", c.Members[2].DataDir)
	t.Logf("preflight of m2's disk from before the restore (same token), the restored m0 and m1 up: exit %d\n%s", r.Code, logBlock(r.Output))
	if r.Code != 3 || !strings.Contains(r.Output, "behind this disk's raft log") || strings.Contains(r.Output, "another cluster") {
		t.Fatalf("preflight of a disk from before a same-token restore: exit %d, want 3 naming the raft logs", r.Code)
	}
}
