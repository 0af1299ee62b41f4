package infra

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreePort's ports lie below the kernel's ephemeral range, where no
// outgoing connection's source port can land, and can be bound.
func TestFreePortIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 50 {
		port := FreePort(t)
		if port < freePortFloor || port >= low {
			t.Fatalf("FreePort gave %d, outside %d-%d (below the ephemeral range)", port, freePortFloor, low-1)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("FreePort gave %d, which cannot be bound: %v", port, err)
		}
		l.Close()
	}
}

// A real etcd whose client port another process holds exits with "address
// already in use"; startOnFreePorts starts it again on new ports, and the
// etcd it returns serves.
func TestStartOnFreePortsRetriesAPortTakenBeforeBind(t *testing.T) {
	heldPort := holdPort(t).Port
	var tries []error
	e := startOnFreePorts(t, "etcd", func() (*Etcd, error) {
		port := FreePort(t)
		if len(tries) == 0 {
			port = heldPort
		}
		e, err := startEtcd(t, EtcdOptions{}, port, FreePort(t))
		tries = append(tries, err)
		return e, err
	})
	if len(tries) != 2 {
		t.Fatalf("%d tries, want 2 (the first on the held port): %v", len(tries), tries)
	}
	if !strings.Contains(tries[0].Error(), "address already in use") {
		t.Fatalf("first try on the held port %d failed with %v, want etcd's \"address already in use\"", heldPort, tries[0])
	}
	if err := httpOK(e.Endpoints[0] + "/health"); err != nil {
		t.Fatalf("the etcd of the second try does not serve: %v", err)
	}
}

// Any other failure fails the test on the first try, with the failure.
func TestStartOnFreePortsFailsAtOnceOnOtherErrors(t *testing.T) {
	ft := &fatalTB{TB: t}
	tries := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		startOnFreePorts[int](ft, "nothing", func() (int, error) {
			tries++
			return 0, errors.New("no such flag --nope")
		})
	}()
	<-done
	if tries != 1 || !strings.Contains(ft.fatal, "no such flag --nope") {
		t.Fatalf("%d tries, fatal %q; want 1 try and the launch's error", tries, ft.fatal)
	}
}

// fatalTB records Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	TB
	mu    sync.Mutex
	fatal string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// Each program startOnFreePorts restarts says its port was taken in words
// portTaken knows: run each on a port the test holds and read its log.
func TestPortTakenReadsEachProgramsBindError(t *testing.T) {
	held := holdPort(t)
	addr, port := held.String(), fmt.Sprint(held.Port)
	dir := t.TempDir()
	programs := []struct {
		name string
		bin  func() string
		args []string
		env  []string
	}{
		{"versitygw", func() string { return Tool(t, "versitygw") },
			[]string{"--port", addr, "posix", "--versioning-dir", t.TempDir(), t.TempDir()},
			[]string{"ROOT_ACCESS_KEY=k8sguardtest", "ROOT_SECRET_KEY=k8sguardtestsecret"}},
		{"moto_server", func() string { return motoBin(t) }, []string{"-H", "127.0.0.1", "-p", port}, nil},
	}
	for _, p := range programs {
		proc := start(t, p.name, dir, p.bin(), p.args, p.env)
		err := waitReady(proc, p.name, 60*time.Second, func() error { return errors.New("never ready: it should exit") })
		var early *exitedEarly
		if !errors.As(err, &early) {
			t.Fatalf("%s on a held port: %v, want it to exit", p.name, err)
		}
		if !portTaken(Tail(proc.LogPath, 40)) {
			t.Fatalf("%s exited on a held port, but portTaken does not see why in its log:\n%s", p.name, Tail(proc.LogPath, 40))
		}
	}
}

// holdPort listens on a loopback port until the test ends, as another
// program that got there first would.
func holdPort(t *testing.T) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr)
}
