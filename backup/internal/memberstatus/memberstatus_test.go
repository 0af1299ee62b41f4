package memberstatus

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// A member whose client URL is a unix socket (etcd's unix://host:port
// names a socket file, not a TCP port) is asked over that socket: the
// check for a member that is down dials TCP only for a TCP scheme.
// Before, it dialled TCP host:port, found nothing there ("connection
// refused") and never asked the member, which answered on its socket.
func TestAskStatusOverAUnixSocket(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // etcd creates the socket file "localhost:<port>" here
	free := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	client, _ := url.Parse(fmt.Sprintf("unix://localhost:%d", free()))
	peer, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", free()))
	cfg := embed.NewConfig()
	cfg.Name = "default"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		t.Fatal("embedded etcd not ready after 60s")
	}
	a := Ask(context.Background(), clientv3.Config{}, []string{client.String()}, 5*time.Second)[0]
	if a.Err != nil || a.Status.Leader == 0 {
		t.Fatalf("status of the member at %s: %v", client, a.Err)
	}
	t.Logf("%s: member %x, leader %x", a.Endpoint, a.Status.Header.MemberId, a.Status.Leader)
}
