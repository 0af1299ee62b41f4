package infra

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// peerProxy stands in front of every member's peer port, so that a test
// can cut one member off from the others (EtcdCluster.Isolate) while its
// clients (the agent beside it) still reach it: a network partition on
// loopback. etcd opens peer connections both ways and forwards some
// requests (a lease renewal to the leader) without naming itself, so the
// proxy tells which member opened a connection by the process that owns
// its other end (/proc/net/tcp and /proc/<pid>/fd), never by headers.
type peerProxy struct {
	c        *EtcdCluster
	mu       sync.Mutex
	isolated map[int]bool
	conns    map[net.Conn]connEnds
	lns      []net.Listener
}

type connEnds struct{ from, to int } // member indexes; from -1: not a member

func (p *peerProxy) listen(t TB, to int, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("peer proxy: %v", err)
	}
	p.lns = append(p.lns, ln)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c, to, target)
		}
	}()
	return "http://" + ln.Addr().String()
}

func (p *peerProxy) forward(c net.Conn, to int, target string) {
	from := p.memberOf(c)
	ends := connEnds{from, to}
	p.mu.Lock()
	if p.cut(ends) {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = ends, ends
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut: the connection crosses the partition. Called with mu held.
func (p *peerProxy) cut(e connEnds) bool {
	return p.isolated[e.to] || (e.from >= 0 && p.isolated[e.from])
}

func (p *peerProxy) setIsolated(i int, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isolated[i] = on
	for c, e := range p.conns {
		if p.cut(e) {
			c.Close()
		}
	}
}

// memberOf returns the index of the member whose process opened c, -1
// when none did.
func (p *peerProxy) memberOf(c net.Conn) int {
	remote := c.RemoteAddr().(*net.TCPAddr)
	local := c.LocalAddr().(*net.TCPAddr)
	inode := socketInode(remote.Port, local.Port)
	if inode == "" {
		return -1
	}
	want := "socket:[" + inode + "]"
	for i, m := range p.c.Members {
		proc := m.Process
		if proc == nil {
			continue
		}
		dir := fmt.Sprintf("/proc/%d/fd", proc.Cmd.Process.Pid)
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join(dir, fd.Name())); l == want {
				return i
			}
		}
	}
	return -1
}

// socketInode finds, in /proc/net/tcp, the socket bound to 127.0.0.1:port
// and connected to 127.0.0.1:peer, and returns its inode.
func socketInode(port, peer int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	localWant := fmt.Sprintf("0100007F:%04X", port)
	remoteWant := fmt.Sprintf("0100007F:%04X", peer)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 9 && fs[1] == localWant && fs[2] == remoteWant {
			if _, err := strconv.Atoi(fs[9]); err == nil {
				return fs[9]
			}
		}
	}
	return ""
}
