package backup_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestPreflightPassesAMemberThatDeletedKeys runs the drop-in's
// `etcdguard preflight` on the data dir of a real etcd that deleted keys
// (a single delete and the range delete of Zalando's incident 4) and was
// stopped cleanly. etcd stores a deletion as a tombstone whose record holds
// only the key (no revision): that is etcd's format, not corruption, and
// etcd must be allowed to start. Kubernetes deletes all day (events,
// leases, pods), so every member holds tombstones until compaction.
func TestPreflightPassesAMemberThatDeletedKeys(t *testing.T) {
	ctx := context.Background()
	e := infra.StartEtcd(t)
	cli := etcdClient(t, e)
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/registry/certificatesigningrequests/csr-%d", i), "csr"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, "/registry/certificatesigningrequests/csr-0"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "/registry/certificatesigningrequests", clientv3.WithRange("prefix")); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	r := runEtcdguard(t, nil, "preflight", "--data-dir", e.DataDir)
	t.Logf("etcdguard preflight --data-dir <stopped member with tombstones> → exit %d\n%s", r.Code, logBlock(r.Output))
	if r.Code != 0 {
		t.Fatalf("preflight refused a healthy member that deleted keys (exit %d)", r.Code)
	}
	if strings.Contains(r.Output, "corrupt") {
		t.Errorf("preflight called a healthy member corrupt")
	}
}
