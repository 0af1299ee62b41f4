package snapshot

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// RegistryPrefix is where Kubernetes keeps its objects in etcd.
const RegistryPrefix = "/registry/"

// Ranger answers the two range questions key counting asks, over [key,
// end) (end "\x00": every key from key on): how many keys, and which is
// the first. Served by an etcd client (CountKeys) or by an offline mvcc
// store (restore.Replay), so both count the same way.
type Ranger interface {
	Count(ctx context.Context, key, end string) (int64, error)
	First(ctx context.Context, key, end string) (first string, ok bool, err error)
}

// CountKeys counts all keys and the keys under each top-level
// /registry/<resource> prefix at revision rev. It skips from one resource
// prefix to the next instead of listing keys, so it costs two small range
// requests per resource, not one per key: the numbers shrink protection
// compares after an "etcdctl del -r" accident. read adds options to every
// range request (clientv3.WithSerializable on a member without a leader).
func CountKeys(ctx context.Context, cli *clientv3.Client, rev int64, read ...clientv3.OpOption) (int64, map[string]int64, error) {
	return CountKeysWith(ctx, clientRanger{cli, rev, read})
}

// CountKeysWith is CountKeys over any Ranger.
func CountKeysWith(ctx context.Context, r Ranger) (int64, map[string]int64, error) {
	all, err := r.Count(ctx, "\x00", "\x00")
	if err != nil {
		return 0, nil, err
	}
	prefixes := map[string]int64{}
	end := clientv3.GetPrefixRangeEnd(RegistryPrefix)
	from := RegistryPrefix
	for {
		key, ok, err := r.First(ctx, from, end)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			return all, prefixes, nil
		}
		resource, _, nested := strings.Cut(strings.TrimPrefix(key, RegistryPrefix), "/")
		name := RegistryPrefix + resource
		if !nested { // a key right under /registry/, e.g. /registry/health
			prefixes[name]++
			from = key + "\x00"
			continue
		}
		n, err := r.Count(ctx, name+"/", clientv3.GetPrefixRangeEnd(name+"/"))
		if err != nil {
			return 0, nil, fmt.Errorf("count %s/: %w", name, err)
		}
		prefixes[name] += n
		from = clientv3.GetPrefixRangeEnd(name + "/")
	}
}

// clientRanger ranges through an etcd client at one revision.
type clientRanger struct {
	cli  *clientv3.Client
	rev  int64
	read []clientv3.OpOption
}

func (c clientRanger) get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	return c.cli.Get(ctx, key, append(append(opts, clientv3.WithRev(c.rev)), c.read...)...)
}

func (c clientRanger) Count(ctx context.Context, key, end string) (int64, error) {
	r, err := c.get(ctx, key, clientv3.WithRange(end), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return r.Count, nil
}

func (c clientRanger) First(ctx context.Context, key, end string) (string, bool, error) {
	r, err := c.get(ctx, key, clientv3.WithRange(end), clientv3.WithLimit(1), clientv3.WithKeysOnly())
	if err != nil || len(r.Kvs) == 0 {
		return "", false, err
	}
	return string(r.Kvs[0].Key), true, nil
}
