package infra

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a program the harness started.
type Process struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string

	stopOnce sync.Once
	done     chan struct{}
	waitErr  error
}

// start runs bin with args, logging to dir/name.log. It is stopped in
// Cleanup; when the test failed, the log's tail goes to the test output.
func start(t TB, name, dir, bin string, args []string, env []string) *Process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%s: create log: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	if err := startInGroupDyingWithUs(cmd); err != nil {
		logFile.Close()
		t.Fatalf("%s: start %s: %v", name, bin, err)
	}
	p := &Process{Name: name, Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- last lines of %s (%s):\n%s", name, logPath, Tail(logPath, 40))
		}
	})
	return p
}

// Stop sends SIGTERM to the process group, then SIGKILL after 10 s.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		pgid := -p.Cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// Kill sends SIGKILL to the process group and waits for it.
func (p *Process) Kill() {
	p.stopOnce.Do(func() {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
}

// Pause freezes the process group (SIGSTOP): its sockets stay open and
// take connections, nothing answers; as a hung node, or one cut off.
func (p *Process) Pause() { _ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGSTOP) }

// Resume thaws a paused process group (SIGCONT).
func (p *Process) Resume() { _ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGCONT) }

// Exited reports whether the process has exited (and how).
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// FreePort returns a loopback port that was free a moment ago.
//
// It is drawn from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), never from it: a port the kernel picked
// for a listener (":0") can be handed out again as the source port of any
// outgoing connection (a test's client, a proxy, the agent) in the moment
// before the program meant to listen on it does, and the program then dies
// with "address already in use" (seen in CI, an etcd restarted mid-test).
// Below the range only another listener can take it.
func FreePort(t TB) int {
	t.Helper()
	low := ephemeralLow()
	for range 200 {
		port := freePortFloor + rand.IntN(low-freePortFloor)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // a listener holds it: draw again
		}
		l.Close()
		return port
	}
	t.Fatalf("free port: no free loopback port in %d-%d after 200 draws", freePortFloor, low-1)
	return 0
}

// freePortFloor keeps FreePort off the well-known and registered ports
// other services on a machine tend to hold.
const freePortFloor = 10000

// ephemeralLow is the first port of the kernel's ephemeral range, 32768
// (Linux's default) when it cannot be read or leaves too little below it;
// read once per test binary.
var ephemeralLow = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low < freePortFloor+1000 {
		return 32768
	}
	return low
})

// waitFor polls ready until it returns nil or timeout passes; it fails fast
// when the process exits.
func waitFor(t TB, p *Process, what string, timeout time.Duration, ready func() error) {
	t.Helper()
	if err := waitReady(p, what, timeout, ready); err != nil {
		t.Fatalf("%v", err)
	}
}

// exitedEarly: the process exited before it was ready; tail is its
// log's end, read once when the exit was seen.
type exitedEarly struct {
	p    *Process
	err  error
	tail string
}

func (e *exitedEarly) Error() string {
	return fmt.Sprintf("%s exited before it was ready (%v); log %s:\n%s", e.p.Name, e.err, e.p.LogPath, e.tail)
}

// waitReady is waitFor returning its failure: an *exitedEarly when the
// process exited, else the readiness check's last error at the timeout.
func waitReady(p *Process, what string, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if exited, err := p.Exited(); exited {
			return &exitedEarly{p: p, err: err, tail: Tail(p.LogPath, 40)}
		}
		if last = ready(); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %v; log %s:\n%s", what, timeout, last, p.LogPath, Tail(p.LogPath, 40))
}

// startOnFreePorts runs launch (which starts a program on FreePort ports
// and waits for it) and, when the program exited because some other
// process bound one of those ports first, runs it again on new ones: a
// port free when drawn can still be taken by another test's listener
// before the program binds it. Three tries, each logged; any other
// failure fails the test at once.
func startOnFreePorts[T any](t TB, name string, launch func() (T, error)) T {
	t.Helper()
	const tries = 3
	for try := 1; ; try++ {
		v, err := launch()
		if err == nil {
			return v
		}
		var early *exitedEarly
		if try < tries && errors.As(err, &early) && portTaken(early.tail) {
			t.Logf("%s: a port was taken before it could bind it (try %d of %d); starting it again on new ports", name, try, tries)
			continue
		}
		t.Fatalf("%v", err)
	}
}

// portTaken: a log saying the program could not bind its port, in Go's
// words ("bind: address already in use") or Python's ("[Errno 98] Address
// already in use").
func portTaken(log string) bool {
	return strings.Contains(strings.ToLower(log), "address already in use")
}

// RepoRoot is the k8sguard checkout (the directory holding GNUmakefile).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "GNUmakefile")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "main.go")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no k8sguard checkout above the working directory")
		}
		dir = parent
	}
}

// Tool returns the path of a program `make tools` builds into .tools/bin.
func Tool(t TB, name string) string {
	t.Helper()
	dir := os.Getenv("K8SGUARD_TOOLS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			t.Fatalf("locate %s: %v", name, err)
		}
		dir = filepath.Join(root, ".tools", "bin")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		// Never a skip: a test that needs a real program and does not run
		// it has proven nothing.
		t.Fatalf("%s not found at %s (the harness looks in $K8SGUARD_TOOLS, else .tools/bin of the checkout): build the test "+
			"programs with `make tools` (kube-apiserver, kube-controller-manager, etcd, etcdctl, etcdutl, versitygw, tfplugindocs; "+
			"about 6–9 minutes the first time, cached after)", name, p)
	}
	return p
}

// startInGroupDyingWithUs starts cmd in its own process group, so a stop
// reaches its children too, with a parent-death signal that kills it if
// the test binary itself is killed. Pdeathsig fires when the creating
// *thread* exits: the start is pinned to one.
func startInGroupDyingWithUs(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Start()
}
