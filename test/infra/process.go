package infra

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	// Own process group, so a stop reaches children too; the parent-death
	// signal stops it if the test binary itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the creating *thread* exits: pin it.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
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
func FreePort(t TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls ready until it returns nil or timeout passes; it fails fast
// when the process exits.
func waitFor(t TB, p *Process, what string, timeout time.Duration, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if exited, err := p.Exited(); exited {
			t.Fatalf("%s exited before it was ready (%v); log %s:\n%s", p.Name, err, p.LogPath, Tail(p.LogPath, 40))
		}
		if last = ready(); last == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %s: %v; log %s:\n%s", what, timeout, last, p.LogPath, Tail(p.LogPath, 40))
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
