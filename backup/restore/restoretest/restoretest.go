// Package restoretest gives restore and drill tests real snapshots: an
// in-process etcd (etcd's own embed server, not a fake), keys put into it,
// and a snapshot taken through the Maintenance API and stored with a
// manifest exactly as the agent lays it out.
package restoretest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// Etcd is an embedded single-member etcd and a client for it.
type Etcd struct {
	Server  *embed.Etcd
	Client  *clientv3.Client
	DataDir string
}

// StartEtcd starts an embedded etcd on free loopback ports in dataDir
// (a fresh one when ""), stopped when the test ends.
func StartEtcd(t testing.TB, dataDir string) *Etcd {
	t.Helper()
	if dataDir == "" {
		dataDir = filepath.Join(t.TempDir(), "etcd")
	}
	cfg := embed.NewConfig()
	cfg.Name = "default"
	cfg.Dir = dataDir
	cfg.LogLevel = "error"
	client, peer := freeURL(t), freeURL(t)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start embedded etcd in %s: %v", dataDir, err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("embedded etcd: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatalf("embedded etcd in %s not ready after 60s", dataDir)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Etcd{Server: e, Client: cli, DataDir: dataDir}
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

// Snapshot takes a snapshot through the Maintenance API, stores it in s
// (zstd-compressed unless compression is "none") with its manifest, and
// returns the manifest. The etcd must be quiet meanwhile: revision and key
// counts are read next to the snapshot.
func (e *Etcd) Snapshot(t testing.TB, s store.Store, cluster string, at time.Time, compression string) *snapshot.Manifest {
	t.Helper()
	ctx := context.Background()
	all, err := e.Client.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatalf("count keys: %v", err)
	}
	prefixes := map[string]int64{}
	for _, kv := range all.Kvs {
		if p, ok := RegistryPrefix(string(kv.Key)); ok {
			prefixes[p]++
		}
	}
	status, err := e.Client.Status(ctx, e.Client.Endpoints()[0])
	if err != nil {
		t.Fatalf("etcd status: %v", err)
	}

	rc, err := e.Client.Snapshot(ctx)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer rc.Close()
	m := &snapshot.Manifest{
		FormatVersion: snapshot.FormatVersion,
		Cluster:       cluster,
		DataKey:       snapshot.DataKey(cluster, at, all.Header.Revision, compression),
		CreatedAt:     at.UTC(),
		Revision:      all.Header.Revision,
		EtcdVersion:   status.Version,
		ClusterID:     fmt.Sprintf("%x", all.Header.ClusterId),
		MemberID:      fmt.Sprintf("%x", all.Header.MemberId),
		Compression:   compression,
		Keys:          int64(len(all.Kvs)),
		PrefixKeys:    prefixes,
		ToolVersion:   "restoretest",
	}
	rawHash, storedHash := sha256.New(), sha256.New()
	var rawN countWriter
	pr, pw := io.Pipe()
	go func() {
		var w io.Writer = io.MultiWriter(pw, storedHash)
		var enc *zstd.Encoder
		if compression == snapshot.CompressionZstd {
			enc, _ = zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest))
			w = enc
		}
		_, err := io.Copy(io.MultiWriter(w, rawHash, &rawN), rc)
		if enc != nil && err == nil {
			err = enc.Close()
		}
		pw.CloseWithError(err)
	}()
	n, err := s.Put(ctx, m.DataKey, pr)
	if err != nil {
		t.Fatalf("store snapshot: %v", err)
	}
	m.RawSize, m.RawSHA256 = int64(rawN), hex.EncodeToString(rawHash.Sum(nil))
	m.StoredSize, m.StoredSHA256 = n, hex.EncodeToString(storedHash.Sum(nil))
	if err := snapshot.Write(ctx, s, m); err != nil {
		t.Fatalf("write manifest: %v", err)
	}
	return m
}

// RegistryPrefix maps a Kubernetes key to its top-level prefix, the unit
// the manifest counts: "/registry/configmaps/ns/name" → "/registry/configmaps".
func RegistryPrefix(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "/registry/")
	if !ok {
		return "", false
	}
	resource, _, _ := strings.Cut(rest, "/")
	return "/registry/" + resource, true
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

func freeURL(t testing.TB) url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return url.URL{Scheme: "http", Host: l.Addr().String()}
}
