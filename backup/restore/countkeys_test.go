package restore

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/pkg/v3/traceutil"
	"go.etcd.io/etcd/server/v3/lease"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
)

// TestCountKeysAgreesWithEtcd is differential: the per-resource key counts
// shrink protection compares (snapshot.CountKeysWith, which skips from one
// /registry/<resource>/ prefix to the next with clientv3.GetPrefixRangeEnd
// instead of listing keys) against etcd itself, over generated key sets
// with the awkward bytes (0x00, 0xff, '/' and '0' after a resource name,
// keys right under /registry/ and beside it):
//
//   - through a real etcd server and its client (snapshot.CountKeys, what
//     the agent runs),
//   - over the offline mvcc store replay counts in (mvccRanger, whose
//     rangeEnd mirrors the server's "\x00" = to the end),
//   - and against the counts of the full listing etcd returns, grouped by
//     the first segment after /registry/.
func TestCountKeysAgreesWithEtcd(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 8))
	e := etcdtest.Start(t)
	lg := zap.NewNop()
	for round := range 12 {
		keys := randomRegistryKeys(r, 20+r.IntN(150))

		if _, err := e.Client.Delete(ctx, "\x00", clientv3.WithRange("\x00")); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if _, err := e.Client.Put(ctx, k, "v"); err != nil {
				t.Fatalf("put %q: %v", k, err)
			}
		}
		listing, err := e.Client.Get(ctx, "\x00", clientv3.WithRange("\x00"), clientv3.WithKeysOnly())
		if err != nil {
			t.Fatal(err)
		}
		wantAll, want := int64(len(listing.Kvs)), map[string]int64{}
		for _, kv := range listing.Kvs {
			if rest, ok := strings.CutPrefix(string(kv.Key), snapshot.RegistryPrefix); ok {
				resource, _, _ := strings.Cut(rest, "/")
				want[snapshot.RegistryPrefix+resource]++
			}
		}

		gotAll, got, err := snapshot.CountKeys(ctx, e.Client, listing.Header.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if gotAll != wantAll || !maps.Equal(got, want) {
			t.Fatalf("round %d, through etcd: %d keys, %v; etcd's listing: %d keys, %v\nkeys %q", round, gotAll, got, wantAll, want, keys)
		}

		be := backend.NewDefaultBackend(lg, filepath.Join(t.TempDir(), fmt.Sprintf("db%d", round)))
		le := lease.NewLessor(lg, be, nil, lease.LessorConfig{MinLeaseTTL: 1})
		kv := mvcc.NewStore(lg, be, le, mvcc.StoreConfig{})
		for _, k := range keys {
			txn := kv.Write(traceutil.TODO())
			txn.Put([]byte(k), []byte("v"), lease.NoLease)
			txn.End()
		}
		gotAll, got, err = snapshot.CountKeysWith(ctx, mvccRanger{kv})
		kv.Close()
		le.Stop()
		be.Close()
		if err != nil {
			t.Fatal(err)
		}
		if gotAll != wantAll || !maps.Equal(got, want) {
			t.Fatalf("round %d, over the replay's mvcc store: %d keys, %v; etcd's listing: %d keys, %v\nkeys %q", round, gotAll, got, wantAll, want, keys)
		}
	}
}

// randomRegistryKeys makes Kubernetes-shaped keys and the ones around them
// that a prefix scan can get wrong.
func randomRegistryKeys(r *rand.Rand, n int) []string {
	resources := []string{"pods", "pods0", "pods.", "pod", "podsx", "configmaps", "apiregistration.k8s.io", "a\xff", "\xff\xff", "", "\x00", "z"}
	tails := []string{"", "/", "/default/web-0", "/kube-system/\xff", "/\x00", "/a/b/c", "0", "\xff"}
	others := []string{"/registry", "/registrz", "/registry\xff", "/", "\x00", "\xff", "\xff\xff\xff", "compact_rev_key", "/registry0/x", "/registr"}
	keys := make([]string, n)
	for i := range keys {
		if r.IntN(6) == 0 {
			keys[i] = others[r.IntN(len(others))]
			continue
		}
		keys[i] = snapshot.RegistryPrefix + resources[r.IntN(len(resources))] + tails[r.IntN(len(tails))]
		if r.IntN(2) == 0 {
			keys[i] += fmt.Sprintf("-%d", r.IntN(50))
		}
	}
	return keys
}
