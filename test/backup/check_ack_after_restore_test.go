package backup_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/test/infra"
)

// TestAckShrinkAfterTheRestoredSnapshot follows step 7 of the restore
// runbook in its order: after the restore, `etcdguard snapshot`, then
// `etcdguard check --ack-shrink <the shrunken snapshot>`. The fresh
// snapshot is as large as the one before the shrink, which resolves the
// shrink by itself; the acknowledgement the runbook asks for next must then
// say so and check (exit 0), not fail as UNKNOWN (exit 3) without a report.
func TestAckShrinkAfterTheRestoredSnapshot(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	env := snapEnv(e, s, "")
	fillEtcd(t, e, 0)
	mustRunEtcdguard(t, env, "snapshot")

	// Incident 4, then the snapshot check reports.
	cli := etcdClient(t, e)
	ctx := context.Background()
	if _, err := cli.Delete(ctx, "/registry/configmaps/", clientv3.WithRange("/registry/services/")); err != nil {
		t.Fatal(err)
	}
	mustRunEtcdguard(t, env, "snapshot")
	shrunk := snapList(t, s).Snapshots[0].Name()
	if out, _, code := snapRun(t, env, "check"); code != 2 || !strings.Contains(out, "--ack-shrink "+shrunk) {
		t.Fatalf("after the accident: exit %d\n%s", code, out)
	}

	// The restore (here: the keys written back), then step 7 verbatim.
	for i := range 20 {
		for _, res := range []string{"pods", "configmaps"} {
			if _, err := cli.Put(ctx, fmt.Sprintf("/registry/%s/default/obj-%d", res, i), `{"kind":"x"}`); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustRunEtcdguard(t, env, "snapshot")
	out, stderr, code := snapRun(t, env, "check", "--ack-shrink", shrunk)
	t.Logf("etcdguard check --ack-shrink %s → exit %d\n%s", shrunk, code, logBlock(stderr+out))
	if code != 0 || !strings.Contains(out, "ETCDGUARD OK") {
		t.Fatalf("check --ack-shrink of a shrink the new snapshot resolved: exit %d, want 0 and the report", code)
	}
	if !strings.Contains(stderr, "already resolved") {
		t.Errorf("check --ack-shrink does not say the shrink was already resolved")
	}
	// A name that is no shrink at all is still refused.
	if _, stderr, code := snapRun(t, env, "check", "--ack-shrink", "20990101T000000Z-r1"); code != 3 || !strings.Contains(stderr, "there is no unresolved shrink") {
		t.Fatalf("ack of a wrong name: exit %d %s", code, stderr)
	}
}
