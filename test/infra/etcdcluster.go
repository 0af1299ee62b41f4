package infra

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// EtcdCluster is a multi-member etcd started from the built binary, each
// member on its own loopback ports, as a control plane's three nodes run
// it. Members[i] is an *Etcd with one client URL (the member's own), so
// helpers written for a single etcd take a member as they are.
type EtcdCluster struct {
	Members []*Etcd

	t     TB
	proxy *peerProxy
	// args[i] starts member i again (same name, ports and data dir).
	args [][]string
	dirs []string
}

// EtcdClusterOptions tune StartEtcdClusterWith.
type EtcdClusterOptions struct {
	// Partitionable puts a proxy in front of every member's peer port, so
	// that Isolate can cut a member off from the others.
	Partitionable bool
}

// StartEtcdCluster starts an n-member etcd cluster and waits until every
// member answers /health (which needs a leader).
func StartEtcdCluster(t TB, n int) *EtcdCluster {
	t.Helper()
	return StartEtcdClusterWith(t, n, EtcdClusterOptions{})
}

// StartEtcdClusterWith starts an n-member etcd cluster with options.
func StartEtcdClusterWith(t TB, n int, opts EtcdClusterOptions) *EtcdCluster {
	t.Helper()
	c := &EtcdCluster{t: t}
	if opts.Partitionable {
		c.proxy = &peerProxy{c: c, isolated: map[int]bool{}, conns: map[net.Conn]connEnds{}}
	}
	type ports struct{ client, peer int }
	ps := make([]ports, n)
	advertised := make([]string, n)
	var initial []string
	for i := range ps {
		ps[i] = ports{FreePort(t), FreePort(t)}
		advertised[i] = fmt.Sprintf("http://127.0.0.1:%d", ps[i].peer)
		if c.proxy != nil {
			advertised[i] = c.proxy.listen(t, i, fmt.Sprintf("127.0.0.1:%d", ps[i].peer))
		}
		initial = append(initial, fmt.Sprintf("m%d=%s", i, advertised[i]))
	}
	token := fmt.Sprintf("k8sguard-%d", time.Now().UnixNano())
	for i, p := range ps {
		dir := t.TempDir()
		client := fmt.Sprintf("http://127.0.0.1:%d", p.client)
		peer := fmt.Sprintf("http://127.0.0.1:%d", p.peer)
		dataDir := filepath.Join(dir, "data")
		args := []string{
			"--name", fmt.Sprintf("m%d", i),
			"--data-dir", dataDir,
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", advertised[i],
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", token,
			"--log-level", "warn",
		}
		c.args = append(c.args, args)
		c.dirs = append(c.dirs, dir)
		c.Members = append(c.Members, &Etcd{Name: fmt.Sprintf("m%d", i), Endpoints: []string{client}, PeerURL: advertised[i], DataDir: dataDir})
	}
	// All members start before any is waited for: none is healthy alone.
	for i := range c.Members {
		c.Members[i].Process = start(t, fmt.Sprintf("etcd-m%d", i), c.dirs[i], Tool(t, "etcd"), append(c.args[i], "--initial-cluster-state", "new"), nil)
	}
	c.waitHealthy(c.Members...)
	return c
}

// Flag is the value member i was started with for etcd flag name
// ("--initial-cluster-token", …), "" when not given: what a restore in
// place must repeat for the restored members to keep their IDs.
func (c *EtcdCluster) Flag(i int, name string) string {
	args := c.args[i]
	for j := 0; j+1 < len(args); j++ {
		if args[j] == name {
			return args[j+1]
		}
	}
	return ""
}

// Endpoints is every member's client URL.
func (c *EtcdCluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Endpoints...)
	}
	return eps
}

// Kill stops member i with SIGKILL: no clean shutdown, as a node that
// loses power.
func (c *EtcdCluster) Kill(i int) { c.Members[i].Process.Kill() }

// Isolate cuts member i off from the other members (both ways, open
// connections too) and Heal reconnects it; its clients still reach it.
// Only for a cluster started Partitionable.
func (c *EtcdCluster) Isolate(i int) { c.partition(i, true) }

// Heal undoes Isolate.
func (c *EtcdCluster) Heal(i int) { c.partition(i, false) }

func (c *EtcdCluster) partition(i int, on bool) {
	c.t.Helper()
	if c.proxy == nil {
		c.t.Fatalf("etcd cluster: Isolate needs EtcdClusterOptions.Partitionable")
	}
	c.proxy.setIsolated(i, on)
}

// WaitHealthy waits until members idx answer /health: each sees a leader.
func (c *EtcdCluster) WaitHealthy(idx ...int) {
	c.t.Helper()
	var ms []*Etcd
	for _, i := range idx {
		ms = append(ms, c.Members[i])
	}
	c.waitHealthy(ms...)
}

// Restart starts member i again, stopped or killed, on its data dir and
// ports, and waits for it to answer /health. A member that comes back
// into a cluster without quorum is started with wait=false.
func (c *EtcdCluster) Restart(i int, wait bool) {
	c.t.Helper()
	m := c.Members[i]
	if exited, _ := m.Process.Exited(); !exited {
		c.t.Fatalf("etcd member %s: restart of a running member", m.Name)
	}
	m.Process = start(c.t, fmt.Sprintf("etcd-m%d-restart-%d", i, time.Now().UnixNano()), c.dirs[i], Tool(c.t, "etcd"), append(c.args[i], "--initial-cluster-state", "existing"), nil)
	if wait {
		c.waitHealthy(m)
	}
}

func (c *EtcdCluster) waitHealthy(members ...*Etcd) {
	c.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(members))
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitReady(m.Process, "etcd member "+m.Name, 60*time.Second, func() error { return httpOK(m.Endpoints[0] + "/health") })
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			c.t.Fatalf("%v", err)
		}
	}
}
