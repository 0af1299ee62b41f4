// Package loopback finds free loopback URLs for the embedded etcd that a
// drill (and the tests) start, and starts it on other ones when a port
// was taken between choosing and binding it.
package loopback

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
)

// FreeURL is an http URL on a loopback port free at the moment of asking.
func FreeURL() (url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return url.URL{Scheme: "http", Host: l.Addr().String()}, nil
}

// tries bounds OnFreePorts: a port taken once is a race, five times a
// machine out of ports.
const tries = 5

// OnFreePorts calls start with a client and a peer URL from pick, and
// again with new ones when start failed because a port was taken before
// it bound it (another process's connection can take a port in that
// moment; etcd binds before it touches its data dir, so a retry is safe).
// It returns start's result and the client URL it ran on.
func OnFreePorts[T any](pick func() (url.URL, error), start func(client, peer url.URL) (T, error)) (T, url.URL, error) {
	for try := 1; ; try++ {
		var zero T
		client, err := pick()
		if err != nil {
			return zero, url.URL{}, err
		}
		peer, err := pick()
		if err != nil {
			return zero, url.URL{}, err
		}
		v, err := start(client, peer)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || try == tries {
			return v, client, err
		}
	}
}
