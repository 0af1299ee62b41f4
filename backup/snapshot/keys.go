package snapshot

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// RegistryPrefix is where Kubernetes keeps its objects in etcd.
const RegistryPrefix = "/registry/"

// CountKeys counts all keys and the keys under each top-level
// /registry/<resource> prefix at revision rev. It skips from one resource
// prefix to the next instead of listing keys, so it costs two small range
// requests per resource, not one per key: the numbers shrink protection
// compares after an "etcdctl del -r" accident.
func CountKeys(ctx context.Context, cli *clientv3.Client, rev int64) (int64, map[string]int64, error) {
	atRev := clientv3.WithRev(rev)
	all, err := cli.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly(), atRev)
	if err != nil {
		return 0, nil, err
	}
	prefixes := map[string]int64{}
	end := clientv3.GetPrefixRangeEnd(RegistryPrefix)
	from := RegistryPrefix
	for {
		first, err := cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(1), clientv3.WithKeysOnly(), atRev)
		if err != nil {
			return 0, nil, err
		}
		if len(first.Kvs) == 0 {
			return all.Count, prefixes, nil
		}
		key := string(first.Kvs[0].Key)
		resource, _, nested := strings.Cut(strings.TrimPrefix(key, RegistryPrefix), "/")
		name := RegistryPrefix + resource
		if !nested { // a key right under /registry/, e.g. /registry/health
			prefixes[name]++
			from = key + "\x00"
			continue
		}
		n, err := cli.Get(ctx, name+"/", clientv3.WithPrefix(), clientv3.WithCountOnly(), atRev)
		if err != nil {
			return 0, nil, fmt.Errorf("count %s/: %w", name, err)
		}
		prefixes[name] += n.Count
		from = clientv3.GetPrefixRangeEnd(name + "/")
	}
}
