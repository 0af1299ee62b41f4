package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestRestoreDoesNotPickTheAccident: after "etcdctl del" on the wrong range
// the agent (or the timer) keeps taking snapshots, and the newest ones hold
// the loss. `etcdguard restore` without --snapshot, as the README's and
// --help's first examples show it, restored the newest snapshot, the
// accident itself, and said nothing. It now refuses, naming the snapshot
// before the shrink; named, any snapshot restores.
func TestRestoreDoesNotPickTheAccident(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	env := snapEnv(e, s, "")
	fillEtcd(t, e, 0)
	mustRunEtcdguard(t, env, "snapshot")
	good := snapList(t, s).Snapshots[0]
	if _, err := etcdClient(t, e).Delete(context.Background(), "/registry/configmaps/", clientv3.WithRange("/registry/services/")); err != nil {
		t.Fatal(err)
	}
	mustRunEtcdguard(t, env, "snapshot")
	mustRunEtcdguard(t, env, "snapshot") // the next scheduled one: as small
	newest := snapList(t, s).Snapshots[0]

	dataDir := filepath.Join(t.TempDir(), "etcd")
	r := runEtcdguard(t, env, "restore", "--data-dir", dataDir)
	t.Logf("etcdguard restore --data-dir DIR (newest snapshot %s) → exit %d\n%s", newest.Name(), r.Code, logBlock(r.Output))
	if r.Code != 1 || !strings.Contains(r.Output, "refusing to restore "+newest.Name()) || !strings.Contains(r.Output, "--snapshot "+good.Name()+",") {
		t.Fatalf("restore without --snapshot after a shrink: exit %d, want 1 naming %s", r.Code, good.Name())
	}
	if _, err := os.Stat(dataDir); err == nil {
		t.Fatalf("refused, yet %s was created", dataDir)
	}
	mustRunEtcdguard(t, env, "restore", "--snapshot", good.Name(), "--data-dir", dataDir)
	mustRunEtcdguard(t, env, "restore", "--snapshot", newest.Name(), "--data-dir", filepath.Join(t.TempDir(), "etcd"))
}
