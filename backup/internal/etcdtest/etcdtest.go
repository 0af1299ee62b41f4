// Package etcdtest starts an in-process etcd (etcd's own server/v3/embed,
// not a fake) for the backup packages' unit tests: on a fresh or a
// restored data dir, with keys put into it and snapshots taken by the
// agent's own pipeline. Tests with the real etcd binary, kill -9 and the
// like live in the test module.
package etcdtest

import (
	"context"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/loopback"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// Etcd is a running single-member embedded etcd and a client for it.
type Etcd struct {
	Server    *embed.Etcd
	Endpoints []string
	Client    *clientv3.Client
	DataDir   string

	stopOnce sync.Once
}

// Start runs etcd in a fresh temp dir on free loopback ports until the
// test ends.
func Start(t testing.TB) *Etcd {
	t.Helper()
	return StartIn(t, "")
}

// StartIn runs etcd on dataDir (a restored one, say; a fresh temp dir
// when "") on free loopback ports until the test ends.
func StartIn(t testing.TB, dataDir string) *Etcd {
	t.Helper()
	if dataDir == "" {
		dataDir = filepath.Join(t.TempDir(), "etcd")
	}
	cfg := embed.NewConfig()
	cfg.Name = "default"
	cfg.Dir = dataDir
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, client, err := loopback.OnFreePorts(loopback.FreeURL, func(client, peer url.URL) (*embed.Etcd, error) {
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		return embed.StartEtcd(cfg)
	})
	if err != nil {
		t.Fatalf("start embedded etcd in %s: %v", dataDir, err)
	}
	et := &Etcd{Server: e, Endpoints: []string{client.String()}, DataDir: dataDir}
	t.Cleanup(et.Stop)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("embedded etcd: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatalf("embedded etcd in %s not ready after 60s", dataDir)
	}
	cli, err := clientv3.New(et.Config())
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	et.Client = cli
	return et
}

// Stop closes the client and the server, leaving the data dir for a test
// to inspect or start again; the test's cleanup calls it too.
func (e *Etcd) Stop() {
	e.stopOnce.Do(func() {
		if e.Client != nil {
			e.Client.Close()
		}
		e.Server.Close()
	})
}

// Config is a client configuration for the server.
func (e *Etcd) Config() clientv3.Config {
	return clientv3.Config{Endpoints: e.Endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()}
}

// Put writes keys (key → value).
func (e *Etcd) Put(t testing.TB, kvs map[string]string) {
	t.Helper()
	for k, v := range kvs {
		if _, err := e.Client.Put(context.Background(), k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
}

// Snapshot takes a snapshot with the agent's own pipeline (snapshot.Take:
// Maintenance API → zstd → store, manifest last) as if at time at, and
// returns its manifest.
func (e *Etcd) Snapshot(t testing.TB, s store.Store, cluster string, at time.Time, compression string) *snapshot.Manifest {
	t.Helper()
	res, err := snapshot.Take(context.Background(), e.Config(), s,
		snapshot.Options{Cluster: cluster, Compression: compression, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", cluster, err)
	}
	return res.Manifest
}

// Follow takes a full snapshot of e into s for cluster and follows it with
// a delta chain, as the agent does (delta.Follow, a segment every
// interval), until stop is called; stop returns what Follow returned.
func (e *Etcd) Follow(t testing.TB, s store.Store, cluster string, interval time.Duration) (res *snapshot.Result, stop func() error) {
	t.Helper()
	res, err := snapshot.Take(context.Background(), e.Config(), s, snapshot.Options{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- delta.Follow(ctx, e.Client, s, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: interval})
	}()
	return res, func() error {
		cancel()
		return <-done
	}
}
