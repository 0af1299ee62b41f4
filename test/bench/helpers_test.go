package bench_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/test/infra"
)

// etcdguardBin is the etcdguard binary `make bench` built.
func etcdguardBin(b *testing.B) string {
	b.Helper()
	bin := os.Getenv("K8SGUARD_BIN")
	if _, err := os.Stat(filepath.Join(bin, "etcdguard")); bin == "" || err != nil {
		b.Fatalf("etcdguard not found in K8SGUARD_BIN=%q: run 'make bench', which builds it", bin)
	}
	return filepath.Join(bin, "etcdguard")
}

// etcdClient is a client for the harness's etcd, closed when b ends.
func etcdClient(b *testing.B, e *infra.Etcd) *clientv3.Client {
	b.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cli.Close() })
	return cli
}

type runResult struct {
	stdout string
	out    string // stdout and stderr
	wall   time.Duration
	cpu    time.Duration // user + system time of the child (its rusage)
	maxRSS int64         // bytes: the child's own peak (VmHWM), see peakRSS
}

// mustRun runs a program to completion and measures its wall time and
// peak resident set size.
func mustRun(b *testing.B, env []string, bin string, args ...string) runResult {
	b.Helper()
	return mustRunIn(b, "", env, bin, args...)
}

// mustRunIn is mustRun in the working directory dir ("" for the current).
func mustRunIn(b *testing.B, dir string, env []string, bin string, args ...string) runResult {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, stdout strings.Builder
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, &stdout), &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", bin, err)
	}
	peak := peakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return runResult{stdout: stdout.String(), out: out.String(), wall: wall, cpu: cpu, maxRSS: peak()}
}

// settle writes back what earlier programs left dirty in the page cache
// before the next measured one starts: a 1 GiB snapshot file or upload is
// otherwise still being written to disk, on the same two cores and disk,
// during whatever runs next, and the cost lands on the wrong side of a
// comparison. Each program still pays its own writes (etcdctl fsyncs its
// file; the S3 server writes the upload), only not its predecessor's.
func settle() { syscall.Sync() }

// inTurn runs ours and baseline, the baseline first on even runs and ours
// first on odd ones: whatever one leaves behind (pages of etcd's database
// in the cache, a warmer allocator) favours each side equally often.
func inTurn(run int, baseline, ours func()) {
	if run%2 == 0 {
		baseline()
		ours()
		return
	}
	ours()
	baseline()
}

// peakRSS follows a child's VmHWM (its own peak RSS) until it exits and
// returns a function giving the last value seen. getrusage's ru_maxrss is
// no good here: os/exec starts children with vfork, and exec keeps the
// high-water mark of the parent's address space, so every child of a big
// test process "peaks" at the test process's RSS. VmHWM only grows and is
// read every 2 ms; what the last 2 ms before exit add is lost.
func peakRSS(pid int) func() int64 {
	var (
		mu   sync.Mutex
		peak int64
		done = make(chan struct{})
		stop = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			hwm := vmHWM(pid)
			mu.Lock()
			peak = max(peak, hwm)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// vmHWM is process pid's peak RSS so far (VmHWM, in bytes), or 0 when it
// cannot be read (the process is gone).
func vmHWM(pid int) int64 {
	s, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(s), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			return kib << 10
		}
	}
	return 0
}

// processCPU is the CPU time process pid has used so far (user + system),
// or 0 when it cannot be read.
func processCPU(pid int) time.Duration {
	s, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	// The fields after the command name's closing parenthesis: utime and
	// stime are the 12th and 13th, in clock ticks (100 a second).
	f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}
