package drill

import (
	"context"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/backup/internal/loopback"
)

// A port taken between choosing it and etcd binding it (by another
// process's connection, on a busy node) moves the drill's etcd to other
// ports instead of failing the drill. The data dir was created with
// another peer URL, as a restored one is: etcd starts on it all the same.
func TestDrillEtcdMovesOffAPortTakenBeforeItBinds(t *testing.T) {
	o := Options{Logger: zap.NewNop(), StartTimeout: time.Minute}
	dataDir := filepath.Join(t.TempDir(), "etcd")
	client, err := loopback.FreeURL()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := loopback.FreeURL()
	if err != nil {
		t.Fatal(err)
	}
	first, err := startEtcd(context.Background(), dataDir, "drill", client, peer, o)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	picks := 0
	pick := func() (url.URL, error) {
		picks++
		if picks == 1 {
			return url.URL{Scheme: "http", Host: taken.Addr().String()}, nil
		}
		return loopback.FreeURL()
	}
	e, served, err := startOnFreePorts(context.Background(), dataDir, "drill", o, pick)
	if err != nil {
		t.Fatalf("after %d picks: %v", picks, err)
	}
	defer e.Close()
	if served.Host == taken.Addr().String() || picks != 4 {
		t.Fatalf("serves on %s after %d picks; the taken port was %s", served.Host, picks, taken.Addr())
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{served.String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/registry/pods/default/a", "x"); err != nil {
		t.Fatalf("etcd on the ports it moved to: %v", err)
	}
}
