package backup_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/test/infra"
)

// TestClusterQuorumLostSnapshot: a 3-member etcd loses two members for
// good, etcd's disaster-recovery case: snapshot a survivor, restore every
// member from it. Member C is cut off early and falls behind the backup
// taken from A and B; then A dies, and B, as new as the cluster got, and
// C both run without a leader. `etcdguard snapshot --quorum-lost`
//   - refuses while the named member still has a leader (the quorum is
//     there: a normal snapshot is the one to take), storing nothing;
//   - refuses C alone, behind the newest backup, naming both revisions
//     and the restore to run instead, storing nothing;
//   - given C and B, takes B (the highest revision), within seconds (its
//     key counts are serializable reads, which a member without a leader
//     answers), marks it in the manifest and in `list`;
//
// and the snapshot restores into an etcd holding exactly what A and B
// held. The plain `snapshot` still refuses B, as it refuses any member
// without a leader.
func TestClusterQuorumLostSnapshot(t *testing.T) {
	step := stepLogger(t)
	c := infra.StartEtcdClusterWith(t, 3, infra.EtcdClusterOptions{Partitionable: true})
	s := infra.StartS3(t)
	lead, _ := etcdLeader(t, c)
	ai, bi, ci := lead, (lead+1)%3, (lead+2)%3 // C is a follower
	A, B, C := c.Members[ai], c.Members[bi], c.Members[ci]
	quorum := &infra.Etcd{Endpoints: []string{A.Endpoints[0], B.Endpoints[0]}}
	cli := etcdClient(t, quorum)
	env := snapEnv(quorum, s, "")
	// Nothing stored by a refusal: no snapshot beyond want, no data
	// object, no failure record for check.
	nothingStored := func(want int) {
		t.Helper()
		assertNothingHalfVisible(t, s, want)
		if f, err := snapshot.LastFailure(context.Background(), snapStore(s), snapCluster); err != nil || f != nil {
			t.Fatalf("a refusal recorded a failure: %+v, %v", f, err)
		}
	}

	putN(t, cli, "configmaps/early", 20)
	c.Isolate(ci)
	putN(t, cli, "configmaps/before-backup", 50)
	if _, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
		t.Fatalf("snapshot from the quorum: exit %d\n%s", code, stderr)
	}
	backup := snapList(t, s).Snapshots[0]
	last := putN(t, cli, "configmaps/after-backup", 30)
	waitFor(t, 30*time.Second, "B to apply the last write", func() bool { return memberStatus(t, B).Header.Revision == last })
	want := keyspaceOf(t, etcdClient(t, B), 0)
	step("C (%s) cut off at revision %d; backup %s at revision %d; A (%s, leader) and B (%s) at revision %d, %d keys",
		C.Name, memberStatus(t, C).Header.Revision, backup.Name(), backup.Revision, A.Name, B.Name, last, len(want))

	_, stderr, code := snapRun(t, env, "snapshot", "--quorum-lost", "--etcd-endpoints", B.Endpoints[0])
	step("--quorum-lost against B while it has a leader: exit %d\n%s", code, logBlock(stderr))
	if code != 1 || !strings.Contains(stderr, "has leader") || !strings.Contains(stderr, "the cluster has a quorum; run the snapshot without --quorum-lost") {
		t.Fatalf("--quorum-lost with a quorum: exit %d, want 1 naming the leader", code)
	}
	nothingStored(1)

	c.Kill(ai)
	waitFor(t, 30*time.Second, "B and C without a leader", func() bool { return memberStatus(t, B).Leader == 0 && memberStatus(t, C).Leader == 0 })
	bst, cst := memberStatus(t, B), memberStatus(t, C)
	step("A killed: B at revision %d and C at revision %d, neither has a leader", bst.Header.Revision, cst.Header.Revision)
	if cst.Header.Revision >= backup.Revision || bst.Header.Revision != last {
		t.Fatalf("C at %d, B at %d: want C behind the backup (%d) and B at the last write (%d)", cst.Header.Revision, bst.Header.Revision, backup.Revision, last)
	}

	_, stderr, code = snapRun(t, env, "snapshot", "--quorum-lost", "--etcd-endpoints", C.Endpoints[0])
	step("--quorum-lost against C alone: exit %d\n%s", code, logBlock(stderr))
	behind := fmt.Sprintf("is at revision %d, behind the newest backup (revision %d, snapshot %s)", cst.Header.Revision, backup.Revision, backup.Name())
	if code != 1 || !strings.Contains(stderr, behind) || !strings.Contains(stderr, "etcdguard restore --snapshot "+backup.Name()) {
		t.Fatalf("--quorum-lost on a member behind the backup: exit %d, want 1 with %q and the restore to run", code, behind)
	}
	nothingStored(1)

	start := time.Now()
	out, stderr, code := snapRun(t, env, "snapshot", "--quorum-lost", "--etcd-endpoints", C.Endpoints[0]+","+B.Endpoints[0])
	took := time.Since(start)
	step("--quorum-lost against C and B: exit %d after %s\n%s%s", code, took.Round(time.Millisecond), logBlock(stderr), "\n"+logBlock(out))
	if code != 0 {
		t.Fatalf("--quorum-lost against the survivors: exit %d", code)
	}
	if took > 30*time.Second {
		t.Fatalf("the quorum-lost snapshot took %s: its key counts waited on a leader?", took)
	}
	for _, line := range []string{
		fmt.Sprintf("endpoint=%s member=%x revision=%d leader=0", C.Endpoints[0], cst.Header.MemberId, cst.Header.Revision),
		fmt.Sprintf("endpoint=%s member=%x revision=%d leader=0", B.Endpoints[0], bst.Header.MemberId, bst.Header.Revision),
		"picked the surviving member with the highest revision",
	} {
		if !strings.Contains(stderr, line) {
			t.Fatalf("the log lacks %q", line)
		}
	}
	l := snapList(t, s)
	m := l.Snapshots[0]
	if len(l.Snapshots) != 2 || !m.QuorumLost || m.Revision != last || m.MemberID != fmt.Sprintf("%x", bst.Header.MemberId) || m.Keys != int64(len(want)) {
		t.Fatalf("newest of %d snapshots: %s quorum_lost %v, revision %d from member %s with %d keys; want B's (%x) at revision %d, %d keys",
			len(l.Snapshots), m.Name(), m.QuorumLost, m.Revision, m.MemberID, m.Keys, bst.Header.MemberId, last, len(want))
	}
	listed := mustRunEtcdguard(t, env, "list")
	step("etcdguard list:\n%s", logBlock(listed))
	if line := lineWith(listed, m.Name()); !strings.Contains(line, "QUORUM LOST") || strings.Contains(lineWith(listed, backup.Name()), "QUORUM LOST") {
		t.Fatalf("list marks the wrong snapshot:\n%s", listed)
	}
	if js := mustRunEtcdguard(t, env, "list", "--json"); strings.Count(js, `"quorum_lost": true`) != 1 {
		t.Fatalf("list --json: want one quorum_lost snapshot\n%s", js)
	}

	dir := t.TempDir() + "/data"
	r := runEtcdguard(t, env, "restore", "--snapshot", m.Name(), "--data-dir", dir)
	if r.Code != 0 {
		t.Fatalf("restore --snapshot %s: exit %d\n%s", m.Name(), r.Code, r.Output)
	}
	restored := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: dir})
	got := keyspaceOf(t, etcdClient(t, restored), 0)
	restored.Stop()
	for k, w := range want {
		if got[k] != w {
			t.Fatalf("%s restored as %+v, A and B held %+v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys restored, A and B held %d", len(got), len(want))
	}
	step("restored %s: %d keys, as A and B held them", m.Name(), len(got))

	// Last: unlike a quorum-lost refusal, this refusal is a failed backup,
	// recorded for check.
	_, stderr, code = snapRun(t, snapEnv(B, s, ""), "snapshot")
	step("plain snapshot against B: exit %d: %s", code, lastLineOf(stderr))
	if code != 1 || !strings.Contains(stderr, "has no leader") {
		t.Fatalf("plain snapshot of a member without a leader: exit %d, want 1 refusing it\n%s", code, stderr)
	}
}

// lineWith is the first line of s that contains sub.
func lineWith(s, sub string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

// TestClusterQuorumLostRefusesAMemberCutOffFromALiveQuorum: the quorum is
// not lost, only the member named is cut off from it (a partition, which
// from that member looks exactly like the others being gone), and the
// store holds no backup to compare it with. `snapshot --quorum-lost
// --etcd-endpoints <that member>`, the help's own example, must not take
// it: restoring every member from it would throw away what the live
// quorum committed since. The members in its member list are asked too,
// and the one with a leader is named; nothing is stored.
func TestClusterQuorumLostRefusesAMemberCutOffFromALiveQuorum(t *testing.T) {
	step := stepLogger(t)
	c := infra.StartEtcdClusterWith(t, 3, infra.EtcdClusterOptions{Partitionable: true})
	s := infra.StartS3(t)
	lead, _ := etcdLeader(t, c)
	ci := (lead + 1) % 3
	C := c.Members[ci]
	quorum := &infra.Etcd{Endpoints: []string{c.Members[lead].Endpoints[0], c.Members[(lead+2)%3].Endpoints[0]}}
	cli := etcdClient(t, quorum)
	putN(t, cli, "configmaps/early", 10)
	c.Isolate(ci)
	last := putN(t, cli, "configmaps/while-cut-off", 30)
	waitFor(t, 30*time.Second, "C without a leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		st, err := etcdClient(t, C).Status(ctx, C.Endpoints[0])
		return err == nil && st.Leader == 0
	})
	step("C (%s) cut off and without a leader; the quorum of the other two went on to revision %d", C.Name, last)

	_, stderr, code := snapRun(t, snapEnv(quorum, s, ""), "snapshot", "--quorum-lost", "--etcd-endpoints", C.Endpoints[0])
	step("--quorum-lost against C alone: exit %d\n%s", code, logBlock(stderr))
	if code != 1 || !strings.Contains(stderr, "in the member list of "+C.Endpoints[0]) || !strings.Contains(stderr, "has leader") {
		t.Fatalf("--quorum-lost against a member cut off from a live quorum: exit %d, want 1 naming the member with a leader", code)
	}
	assertNothingHalfVisible(t, s, 0)
	if f, err := snapshot.LastFailure(context.Background(), snapStore(s), snapCluster); err != nil || f != nil {
		t.Fatalf("a refusal recorded a failure: %+v, %v", f, err)
	}
}

// TestClusterQuorumLostRefusesASurvivorBehindOneItDidNotName: C is cut off
// after the last backup, A and B write 30 revisions more, then A dies: B
// and C both survive without a leader, B ahead. `snapshot --quorum-lost
// --etcd-endpoints <C>` (the help's example names one survivor) must not
// take C, which is not behind the backups: every member is restored from
// the snapshot, so B's last 30 writes would be lost. B, found in C's member
// list, is named with its revision; nothing is stored. Naming both takes B.
func TestClusterQuorumLostRefusesASurvivorBehindOneItDidNotName(t *testing.T) {
	step := stepLogger(t)
	c := infra.StartEtcdClusterWith(t, 3, infra.EtcdClusterOptions{Partitionable: true})
	s := infra.StartS3(t)
	lead, _ := etcdLeader(t, c)
	ai, bi, ci := lead, (lead+1)%3, (lead+2)%3
	A, B, C := c.Members[ai], c.Members[bi], c.Members[ci]
	quorum := &infra.Etcd{Endpoints: []string{A.Endpoints[0], B.Endpoints[0]}}
	cli := etcdClient(t, quorum)
	env := snapEnv(quorum, s, "")
	putN(t, cli, "configmaps/early", 20)
	if _, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
		t.Fatalf("snapshot from the quorum: exit %d\n%s", code, stderr)
	}
	backup := snapList(t, s).Snapshots[0]
	waitFor(t, 30*time.Second, "C to apply the backup's revision", func() bool { return memberStatus(t, C).Header.Revision >= backup.Revision })
	c.Isolate(ci)
	last := putN(t, cli, "configmaps/after-backup", 30)
	waitFor(t, 30*time.Second, "B to apply the last write", func() bool { return memberStatus(t, B).Header.Revision == last })
	c.Kill(ai)
	waitFor(t, 30*time.Second, "B and C without a leader", func() bool { return memberStatus(t, B).Leader == 0 && memberStatus(t, C).Leader == 0 })
	bst, cst := memberStatus(t, B), memberStatus(t, C)
	step("backup at %d; C cut off at %d; B at %d; A killed: neither has a leader", backup.Revision, cst.Header.Revision, bst.Header.Revision)

	_, stderr, code := snapRun(t, env, "snapshot", "--quorum-lost", "--etcd-endpoints", C.Endpoints[0])
	step("--quorum-lost against C alone: exit %d\n%s", code, logBlock(stderr))
	ahead := fmt.Sprintf("member %x (%s, in the member list of %s, not in --etcd-endpoints) is a survivor too, at revision %d, ahead of member %x's %d",
		bst.Header.MemberId, B.Endpoints[0], C.Endpoints[0], bst.Header.Revision, cst.Header.MemberId, cst.Header.Revision)
	if code != 1 || !strings.Contains(stderr, ahead) {
		t.Fatalf("--quorum-lost took C although B, left unnamed, holds %d revisions more: exit %d, want 1 with %q", bst.Header.Revision-cst.Header.Revision, code, ahead)
	}
	assertNothingHalfVisible(t, s, 1)

	if _, stderr, code := snapRun(t, env, "snapshot", "--quorum-lost", "--etcd-endpoints", C.Endpoints[0]+","+B.Endpoints[0]); code != 0 {
		t.Fatalf("--quorum-lost naming both: exit %d\n%s", code, stderr)
	}
	if m := snapList(t, s).Snapshots[0]; !m.QuorumLost || m.Revision != last {
		t.Fatalf("the quorum-lost snapshot is %s at revision %d (quorum_lost %v); want B's at %d", m.Name(), m.Revision, m.QuorumLost, last)
	}
}

// memberStatus is member m's own status, within 3 s.
func memberStatus(t *testing.T, m *infra.Etcd) *clientv3.StatusResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := etcdClient(t, m).Status(ctx, m.Endpoints[0])
	if err != nil {
		t.Fatalf("status of %s: %v", m.Name, err)
	}
	return st
}
