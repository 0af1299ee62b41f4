package backup_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/test/infra"
)

// TestPointInTimeRestoreOtherMembersSameBase follows the runbook for a
// cluster of three: restore member a with --at, then run the command it
// prints for member b verbatim. The runbook recommends a snapshot by hand
// before a risky operation; taken in a quiet moment after the chosen time,
// it sits at exactly the revision --at reaches. Member b must still be
// restored from the same full snapshot and chain as member a: from another
// base its leases differ (a lease granted after the agent's snapshot is
// dropped by the replay, kept by the hand snapshot), and the members of
// one cluster would hold different data.
func TestPointInTimeRestoreOtherMembersSameBase(t *testing.T) {
	ctx := context.Background()
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	cli := etcdClient(t, e)
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/registry/configmaps/ns/cm-%d", i), "before"); err != nil {
			t.Fatal(err)
		}
	}
	env := deltaAgentEnv(e, s, "")
	agent := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the agent's delta chain", func() bool { return strings.Contains(agent.log(), "delta chain started") })
	st := snapStore(s)
	full := newestSnapshot(t, st, snapCluster)

	// A lease granted after the agent's full snapshot, as kube-apiserver
	// grants them for events and leases all day.
	late, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	put, err := cli.Put(ctx, "/registry/events/ns/ev-1", "event", clientv3.WithLease(late.ID))
	if err != nil {
		t.Fatal(err)
	}
	last := put.Header.Revision
	waitFor(t, 30*time.Second, "the chain to reach the last write", func() bool {
		o, err := delta.OutlineOf(ctx, st, full)
		return err == nil && o.LastRevision >= last
	})
	at := time.Now().UTC()
	time.Sleep(1100 * time.Millisecond) // snapshot names have seconds
	agent.signal(syscall.SIGTERM)
	agent.waitExit(t, 30*time.Second)
	// "Before a risky manual operation take one by hand", then the accident.
	mustRunEtcdguard(t, env, "snapshot")
	hand := newestSnapshot(t, st, snapCluster)
	if hand.Revision != last || !hand.CreatedAt.After(at) {
		t.Fatalf("hand snapshot %s at revision %d (%s), want revision %d after %s", hand.Name(), hand.Revision, hand.CreatedAt, last, at)
	}
	if _, err := cli.Delete(ctx, "/registry/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}

	cluster := "etcd-a=http://127.0.0.1:12380,etcd-b=http://127.0.0.1:22380,etcd-c=http://127.0.0.1:32380"
	dirA := filepath.Join(t.TempDir(), "etcd")
	outA := mustRunEtcdguard(t, env, "restore", "--at", at.Format(time.RFC3339Nano), "--data-dir", dirA,
		"--name", "etcd-a", "--initial-cluster", cluster, "--initial-cluster-token", "restored")
	t.Logf("member a: etcdguard restore --at %s\n%s", at.Format(time.RFC3339Nano), logBlock(outA))
	if !strings.Contains(outA, "restoring "+full.DataKey) || !strings.Contains(outA, "1 put(s) carried a lease") {
		t.Fatalf("member a was not restored from the agent's snapshot %s with the late lease dropped", full.Name())
	}
	var cmdB []string
	for _, l := range strings.Split(outA, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "etcdguard" && strings.Contains(l, "--name etcd-b ") {
			cmdB = f[1:]
		}
	}
	if cmdB == nil {
		t.Fatal("restore printed no command for member b")
	}
	dirB := filepath.Join(t.TempDir(), "etcd") // "adjust --data-dir if that host keeps etcd elsewhere"
	for i := range cmdB {
		if i > 0 && cmdB[i-1] == "--data-dir" {
			cmdB[i] = dirB
		}
	}
	outB := mustRunEtcdguard(t, env, cmdB...)
	t.Logf("member b: etcdguard %s\n%s", strings.Join(cmdB, " "), logBlock(outB))
	if !strings.Contains(outB, "restoring "+full.DataKey) {
		t.Errorf("member b was restored from another full snapshot than member a (%s): its leases differ from member a's", full.Name())
	}
	if !strings.Contains(outB, "1 put(s) carried a lease") {
		t.Errorf("member b kept the lease member a dropped: the two members hold different data")
	}
	if want := fmt.Sprintf("to %d ", last+1_000_000_000); !strings.Contains(outA, want) || !strings.Contains(outB, want) {
		t.Errorf("members a and b not both at revision %d + the bump", last)
	}
}
