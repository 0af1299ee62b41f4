// Package memberstatus asks etcd members for their status, all at once:
// whether a member has a leader, its revision and raft position. The
// preflight asks it of the members a data dir's database lists, and a
// quorum-lost snapshot of every survivor and the members they know.
package memberstatus

import (
	"context"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Answer is what one endpoint said: Status, or Err.
type Answer struct {
	Endpoint string
	Status   *clientv3.StatusResponse
	Err      error
}

// Ask asks every endpoint (each once) for its status, in parallel,
// within timeout, with cfg's TLS. Answers come in the order of the
// endpoints, duplicates dropped.
func Ask(ctx context.Context, cfg clientv3.Config, endpoints []string, timeout time.Duration) []Answer {
	var eps []string
	for _, ep := range endpoints {
		if !slices.Contains(eps, ep) {
			eps = append(eps, ep)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	answers := make([]Answer, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = ask(ctx, cfg, ep)
		}()
	}
	wg.Wait()
	return answers
}

func ask(ctx context.Context, cfg clientv3.Config, ep string) Answer {
	// etcd's client waits for a connection until the deadline, whatever
	// the dial's error: a member that is down is told apart at once, and
	// by what the connection answered ("connection refused"). Only for
	// TCP: etcd's unix://host:port names a socket file, not a port.
	if u, err := url.Parse(ep); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return Answer{Endpoint: ep, Err: err}
		}
		conn.Close()
	}
	cfg.Endpoints = []string{ep}
	cfg.DialTimeout = 0
	cfg.Context = ctx
	cli, err := clientv3.New(cfg)
	if err != nil {
		return Answer{Endpoint: ep, Err: err}
	}
	defer cli.Close()
	st, err := cli.Status(ctx, ep)
	return Answer{Endpoint: ep, Status: st, Err: err}
}
