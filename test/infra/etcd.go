package infra

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
)

// Etcd is a single-member etcd started from the built binary, or one
// member of an EtcdCluster.
type Etcd struct {
	// Name is the member's name; set for a member of an EtcdCluster.
	Name      string
	Endpoints []string // client URLs, http://127.0.0.1:<port>
	// PeerURL is the member's peer URL; set for a member of an EtcdCluster.
	PeerURL string
	// UnixEndpoint is the client URL of etcd's unix socket listener
	// (unix:///<dir>/etcd.sock), when EtcdOptions.UnixSocket asked for one.
	UnixEndpoint string
	DataDir      string
	Process      *Process
	// TLS holds the client TLS files when EtcdOptions.ClientTLS asked for
	// them (Endpoints are then https://).
	TLS *EtcdTLS
}

// EtcdOptions tune StartEtcd.
type EtcdOptions struct {
	// DataDir reuses an existing data dir (for example one `etcdguard
	// restore` produced); default a fresh one.
	DataDir string
	// QuotaBackendBytes raises etcd's 2 GiB default for large benchmarks.
	QuotaBackendBytes int64
	// UnixSocket adds a client listener on a unix socket beside the TCP
	// one, as a node-local client (etcdguard's agent) can use.
	UnixSocket bool
	// ClientTLS serves clients over TLS and requires a client
	// certificate signed by a fresh CA (--client-cert-auth), as kubeadm's
	// etcd does; the files are in Etcd.TLS.
	ClientTLS bool
}

// StartEtcd starts etcd on free loopback ports and waits for /health.
func StartEtcd(t TB) *Etcd { return StartEtcdWith(t, EtcdOptions{}) }

// StartEtcdWith starts etcd with options.
func StartEtcdWith(t TB, opts EtcdOptions) *Etcd {
	t.Helper()
	return startOnFreePorts(t, "etcd", func() (*Etcd, error) { return startEtcd(t, opts, FreePort(t), FreePort(t)) })
}

// startEtcd is one try of StartEtcdWith. etcd binds its listeners before
// it opens the data dir, so a try that lost a port left the dir untouched.
func startEtcd(t TB, opts EtcdOptions, clientPort, peerPort int) (*Etcd, error) {
	t.Helper()
	dir := t.TempDir()
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	scheme := "http"
	var tlsFiles *EtcdTLS
	if opts.ClientTLS {
		scheme = "https"
		var err error
		if tlsFiles, err = writeEtcdTLS(filepath.Join(dir, "pki")); err != nil {
			t.Fatalf("etcd TLS files: %v", err)
		}
	}
	client := fmt.Sprintf("%s://127.0.0.1:%d", scheme, clientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	listen, unix := client, ""
	if opts.UnixSocket {
		sock := filepath.Join(dir, "etcd.sock")
		// Linux's limit on a socket path (sun_path, 108 bytes with its
		// NUL); past it etcd exits with a bind error that names no cause.
		if len(sock) > 107 {
			t.Fatalf("etcd's unix socket path %s is %d bytes, over the 107 a socket allows: set a shorter TMPDIR", sock, len(sock))
		}
		unix = "unix://" + sock
		listen += "," + unix
	}
	args := []string{
		"--name", "default",
		"--data-dir", dataDir,
		"--listen-client-urls", listen, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default=" + peer,
		"--log-level", "warn",
	}
	if opts.QuotaBackendBytes > 0 {
		args = append(args, "--quota-backend-bytes", fmt.Sprint(opts.QuotaBackendBytes))
	}
	health := http.DefaultClient
	if tlsFiles != nil {
		args = append(args, "--client-cert-auth", "--trusted-ca-file", tlsFiles.CAFile,
			"--cert-file", tlsFiles.ServerCertFile, "--key-file", tlsFiles.ServerKeyFile)
		var err error
		if health, err = tlsFiles.HTTPClient(); err != nil {
			t.Fatalf("etcd TLS client: %v", err)
		}
	}
	p := start(t, "etcd", dir, Tool(t, "etcd"), args, nil)
	if err := waitReady(p, "etcd", 30*time.Second, func() error { return httpOKWith(health, client+"/health") }); err != nil {
		return nil, err
	}
	return &Etcd{Endpoints: []string{client}, UnixEndpoint: unix, DataDir: dataDir, Process: p, TLS: tlsFiles}, nil
}

// Stop stops etcd (SIGTERM); its data dir stays for inspection or reuse.
func (e *Etcd) Stop() { e.Process.Stop() }

func httpOK(url string) error { return httpOKWith(http.DefaultClient, url) }

func httpOKWith(c *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}
