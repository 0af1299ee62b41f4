package backup_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/test/infra"
)

// deltaAgentEnv runs the agent with 1s delta segments and one full
// snapshot (at start) per test.
func deltaAgentEnv(e *infra.Etcd, s *infra.S3, endpoint string) []string {
	return append(snapEnv(e, s, endpoint),
		"ETCDGUARD_SCHEDULE_INTERVAL=1h", "ETCDGUARD_SCHEDULE_JITTER=0s", "ETCDGUARD_DELTA_INTERVAL=1s")
}

type kvAt struct {
	value                       string
	create, mod, version, lease int64
}

func keyspaceOf(t *testing.T, cli *clientv3.Client, rev int64) map[string]kvAt {
	t.Helper()
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cli.Get(context.Background(), "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]kvAt{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kvAt{string(kv.Value), kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease}
	}
	return out
}

// randomHistory writes puts, overwrites, deletes, prefix deletes,
// multi-key transactions and puts with a lease granted before (kept) and
// after (dropped) the full snapshot, for about d; it returns the last
// revision and the early lease.
func randomHistory(t *testing.T, cli *clientv3.Client, early clientv3.LeaseID, d time.Duration) int64 {
	t.Helper()
	ctx := context.Background()
	late, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 43))
	key := func() string { return fmt.Sprintf("/registry/configmaps/ns-%d/cm-%d", rng.IntN(5), rng.IntN(60)) }
	var last int64
	deadline := time.Now().Add(d)
	for i := 0; time.Now().Before(deadline); i++ {
		var rev int64
		switch n := rng.IntN(10); {
		case n < 5:
			var opts []clientv3.OpOption
			switch rng.IntN(6) {
			case 0:
				opts = append(opts, clientv3.WithLease(early))
			case 1:
				opts = append(opts, clientv3.WithLease(late.ID))
			}
			r, err := cli.Put(ctx, key(), fmt.Sprintf("v%d-%s", i, strings.Repeat("x", rng.IntN(300))), opts...)
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		case n < 7:
			r, err := cli.Delete(ctx, key())
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		case n < 8:
			r, err := cli.Delete(ctx, fmt.Sprintf("/registry/configmaps/ns-%d/cm-2", rng.IntN(5)), clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		default:
			r, err := cli.Txn(ctx).Then(
				clientv3.OpPut(key(), fmt.Sprintf("txn-%d", i)),
				clientv3.OpPut(fmt.Sprintf("/registry/secrets/s-%d", i), fmt.Sprintf("secret-%d", i)),
				clientv3.OpDelete(fmt.Sprintf("/registry/secrets/s-%d", i-5)),
			).Commit()
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		}
		last = max(last, rev)
		if i%20 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return last
}

// TestPointInTimeRestoreFromS3 is the keyspace check against the
// real etcd and S3: the agent (a process, 1s deltas) follows a random
// history; "etcdguard restore --revision N" at ten random revisions gives,
// each time, exactly the keyspace the live etcd returns for Get(prefix "",
// WithRev(N)): every key, value, create and mod revision and version, and
// leases as documented (kept when the snapshot holds the lease). Then one
// segment is corrupted in S3: a restore past it is refused naming it, a
// restore before it still works.
func TestPointInTimeRestoreFromS3(t *testing.T) {
	ctx := context.Background()
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	cli := etcdClient(t, e)
	early, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		var opts []clientv3.OpOption
		if i%4 == 0 {
			opts = append(opts, clientv3.WithLease(early.ID))
		}
		if _, err := cli.Put(ctx, fmt.Sprintf("/registry/configmaps/ns-%d/cm-%d", i%5, i), "before", opts...); err != nil {
			t.Fatal(err)
		}
	}
	env := deltaAgentEnv(e, s, "")
	agent := snapStart(t, env, "agent")
	waitFor(t, 60*time.Second, "the agent's delta chain", func() bool { return strings.Contains(agent.log(), "delta chain started") })
	st := snapStore(s)
	full := newestSnapshot(t, st, snapCluster)

	last := randomHistory(t, cli, early.ID, 6*time.Second)
	waitFor(t, 30*time.Second, "the chain to reach the last write", func() bool {
		o, err := delta.OutlineOf(ctx, st, full)
		return err == nil && o.LastRevision >= last
	})
	agent.signal(syscall.SIGTERM)
	agent.waitExit(t, 30*time.Second)
	chain, err := delta.Load(ctx, st, full, nil)
	if err != nil || chain.Broken != nil {
		t.Fatalf("chain: %v %v", err, chain.Broken)
	}
	t.Logf("full snapshot %s at revision %d; chain of %d segments up to revision %d", full.Name(), full.Revision, len(chain.Segments), chain.LastRevision())

	restoreRev := func(rev int64) (cliResult, string) {
		dir := filepath.Join(t.TempDir(), "data")
		return runEtcdguard(t, env, "restore", "--revision", fmt.Sprint(rev), "--data-dir", dir), dir
	}
	t.Run("ten random revisions", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		revs := []int64{full.Revision, last}
		for len(revs) < 10 {
			revs = append(revs, full.Revision+1+rng.Int64N(last-full.Revision))
		}
		slices.Sort(revs)
		for _, rev := range revs {
			want := keyspaceOf(t, cli, rev)
			r, dir := restoreRev(rev)
			if r.Code != 0 {
				t.Fatalf("restore --revision %d: exit %d\n%s", rev, r.Code, r.Output)
			}
			restored := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: dir})
			rcli := etcdClient(t, restored)
			got := keyspaceOf(t, rcli, 0)
			// The default bump lands on top of the replayed revision: the
			// keys above keep their original revisions, etcd's head moves.
			var bump int64
			if _, err := fmt.Sscanf(lineAfter(r.Output, "the revision was bumped by "), "%d", &bump); err != nil || bump < 1_000_000_000 {
				t.Fatalf("restore --revision %d did not report the default bump (%v):\n%s", rev, err, r.Output)
			}
			head, err := rcli.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
			if err != nil {
				t.Fatal(err)
			}
			if head.Header.Revision != rev+bump {
				t.Errorf("revision %d: the restored etcd is at revision %d, want %d + the bump %d", rev, head.Header.Revision, rev, bump)
			}
			restored.Stop()
			diffs := 0
			for k, w := range want {
				if w.lease != int64(early.ID) {
					w.lease = 0 // granted after the full snapshot: restored without a lease
				}
				if g, ok := got[k]; !ok || g != w {
					diffs++
					t.Errorf("revision %d: %s restored as %+v (present %v), etcd had %+v", rev, k, g, ok, w)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					diffs++
					t.Errorf("revision %d: %s restored, etcd had no such key", rev, k)
				}
			}
			t.Logf("revision %5d: %3d keys, %d differences, restored etcd at revision %d (bumped by %d) (restore took %s)", rev, len(want), diffs, rev+bump, bump, r.Took.Round(time.Millisecond))
		}
	})

	t.Run("corrupted segment", func(t *testing.T) {
		var bad *delta.Manifest
		for _, m := range chain.Segments[len(chain.Segments)/2:] {
			if m.Events > 0 {
				bad = m
				break
			}
		}
		if bad == nil {
			t.Fatal("no segment with events in the second half of the chain")
		}
		flipObjectByte(t, s, snapPrefix+"/"+bad.DataKey)
		r, dir := restoreRev(last)
		t.Logf("after flipping a byte of %s in S3: restore --revision %d → exit %d\n%s", bad.DataKey, last, r.Code, logBlock(r.Output))
		if r.Code != 2 || !strings.Contains(r.Output, "broken at segment "+bad.Name()) {
			t.Fatalf("restore past the corrupt segment: exit %d, want 2 naming %s", r.Code, bad.Name())
		}
		if entries, _ := filepath.Glob(filepath.Join(dir, "*")); len(entries) != 0 {
			t.Fatalf("a refused restore left %v", entries)
		}
		before := bad.FirstRevision - 1
		want := keyspaceOf(t, cli, before)
		r, dir = restoreRev(before)
		if r.Code != 0 {
			t.Fatalf("restore --revision %d (before the corrupt segment): exit %d\n%s", before, r.Code, r.Output)
		}
		restored := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: dir})
		got := keyspaceOf(t, etcdClient(t, restored), 0)
		if len(got) != len(want) {
			t.Fatalf("revision %d: %d keys restored, etcd had %d", before, len(got), len(want))
		}
		t.Logf("restore --revision %d (just before %s) → exit 0, %d keys as etcd had them", before, bad.Name(), len(got))

		// Damaged at rest on the gateway's disk (not rewritten through
		// S3): the store's own checksum fails the read at its end, and
		// that is a broken link too, not a store to retry (exit 1).
		var early *delta.Manifest
		for _, m := range chain.Segments {
			if m.Events > 0 && m.LastRevision < bad.FirstRevision {
				early = m
				break
			}
		}
		if early == nil {
			t.Fatal("no segment with events before the corrupt one")
		}
		damageAtRest(t, s, early.DataKey)
		r, _ = restoreRev(before)
		if r.Code != 2 || !strings.Contains(r.Output, "broken at segment "+early.Name()) {
			t.Fatalf("restore past a segment damaged at rest: exit %d, want 2 naming %s\n%s", r.Code, early.Name(), r.Output)
		}
		t.Logf("after damaging %s on the gateway's disk: restore --revision %d → exit 2, broken at that segment", early.DataKey, before)
	})
}

// lineAfter returns what follows prefix on the first line of s holding it.
func lineAfter(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if _, rest, ok := strings.Cut(l, prefix); ok {
			return rest
		}
	}
	return ""
}
