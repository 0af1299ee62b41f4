package backup_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestPreflightComparesWithTheDeltaChainEnd: with the agent running, the
// newest point the backups restore is the end of its delta chain, seconds
// old, not its full snapshot (taken every 30 minutes by default). A disk
// as old as that full snapshot (etcd's state then, saved with etcdctl and
// restored with etcdutl, as a volume restored from a cloud snapshot) is
// 1,500 revisions behind the chain's end and level with the full
// snapshot: the preflight of a single-member cluster refuses it (exit 3),
// naming the chain. Compared with the full snapshot only, it passed.
func TestPreflightComparesWithTheDeltaChainEnd(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	env := deltaAgentEnv(e, s, "")
	cli := etcdClient(t, e)
	putN(t, cli, "configmaps/before", 20)
	agent := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the delta chain", func() bool { return strings.Contains(agent.log(), "delta chain started") })

	dir := t.TempDir()
	saved, old := filepath.Join(dir, "then.db"), filepath.Join(dir, "old-disk")
	for _, args := range [][]string{
		{infra.Tool(t, "etcdctl"), "--endpoints", e.Endpoints[0], "snapshot", "save", saved},
		{infra.Tool(t, "etcdutl"), "snapshot", "restore", saved, "--data-dir", old},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	full := newestSnapshot(t, snapStore(s), snapCluster)
	last := putN(t, cli, "configmaps/after", 1500)
	waitFor(t, 60*time.Second, "the chain to reach the last write", func() bool {
		cs := chainsOf(t, snapStore(s))
		return len(cs) > 0 && cs[0].LastRevision() >= last
	})
	agent.signal(syscall.SIGTERM)
	agent.waitExit(t, 30*time.Second)

	r := runEtcdguard(t, env, "preflight", "--data-dir", old)
	t.Logf("preflight of a disk from the full snapshot's time (revision %d), the chain at %d: exit %d\n%s", full.Revision, last, r.Code, logBlock(r.Output))
	if r.Code != 3 || !strings.Contains(r.Output, "behind the newest backup, the delta chain of "+full.Name()) ||
		!strings.Contains(r.Output, "it is the cluster's only member") {
		t.Fatalf("preflight of a disk 1500 revisions behind the delta chain: exit %d, want 3 naming the chain", r.Code)
	}
}
