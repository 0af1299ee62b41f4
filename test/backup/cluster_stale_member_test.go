package backup_test

import (
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
	cli := etcdClient(t, &infra.Etcd{Endpoints: c.Endpoints()[:2]})
	putN(t, cli, "configmaps/old", 50)
	stale := c.Members[2]
	stale.Process.Pause()
	c.WaitHealthy(0, 1)
	last := putN(t, cli, "configmaps/new", 100)
	c.Kill(0)
	c.Kill(1)
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

	c.Restart(0, false)
	c.Restart(1, false)
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
