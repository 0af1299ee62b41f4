package backup_test

// Helpers for the etcdguard snapshot, check, agent and fault tests: the
// real etcdguard binary against the real etcd and versitygw.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/test/infra"
)

// snapCluster is the cluster name every snapshot test uses.
const snapCluster = "prod-eu1"

// snapPrefix is the key prefix inside the test bucket.
const snapPrefix = "etcd"

// snapEtcdguard returns the etcdguard binary (see infra.Etcdguard).
func snapEtcdguard(t *testing.T) string {
	t.Helper()
	return infra.Etcdguard(t)
}

// snapEnv is the environment for etcdguard against etcd endpoints and the
// S3 gateway at endpoint (the gateway's own, or a fault proxy's).
func snapEnv(e *infra.Etcd, s *infra.S3, endpoint string) []string {
	if endpoint == "" {
		endpoint = s.Endpoint
	}
	return append(s.Env(),
		"ETCDGUARD_CLUSTER_NAME="+snapCluster,
		"ETCDGUARD_ETCD_ENDPOINTS="+strings.Join(e.Endpoints, ","),
		"ETCDGUARD_ETCD_DIAL_TIMEOUT=2s",
		"ETCDGUARD_STORE_URL=s3://"+s.Bucket+"/"+snapPrefix,
		"ETCDGUARD_STORE_ENDPOINT="+endpoint,
		"ETCDGUARD_STORE_REGION="+s.Region,
		"ETCDGUARD_METRICS_LISTEN=",
		// Never read the machine's /etc/etcdguard/config.yaml.
		"ETCDGUARD_CONFIG=/dev/null",
	)
}

// snapRun runs etcdguard to completion and returns stdout, stderr and the
// exit code.
func snapRun(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, snapEtcdguard(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("etcdguard %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// snapProcess is a running etcdguard (an agent, or a snapshot to kill).
type snapProcess struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// snapStart starts etcdguard in its own process group, logging to a file;
// it is killed when the test ends.
func snapStart(t *testing.T, env []string, args ...string) *snapProcess {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "etcdguard.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(snapEtcdguard(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	p := &snapProcess{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logFile.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("--- etcdguard %v log:\n%s", args, infra.Tail(logPath, 60))
		}
	})
	return p
}

func (p *snapProcess) signal(sig syscall.Signal) { _ = syscall.Kill(-p.cmd.Process.Pid, sig) }

func (p *snapProcess) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// waitExit waits up to d for the process to exit and returns its code.
func (p *snapProcess) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("etcdguard still running after %s; log:\n%s", d, infra.Tail(p.logPath, 40))
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// snapStore opens the test bucket's prefix as etcdguard's store.
func snapStore(s *infra.S3) store.Store {
	return store.NewS3(s.Client, s.Bucket, snapPrefix, store.Options{})
}

func snapList(t *testing.T, s *infra.S3) *snapshot.Listing {
	t.Helper()
	l, err := snapshot.List(context.Background(), snapStore(s), snapCluster)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// multipartUploads counts unfinished multipart uploads in the bucket.
func multipartUploads(t *testing.T, s *infra.S3) int {
	t.Helper()
	out, err := s.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

// ageMultipartUploads makes the gateway's open multipart uploads look
// started d ago: versitygw dates an upload by its directory's mtime.
func ageMultipartUploads(t *testing.T, s *infra.S3, d time.Duration) {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(s.RootDir, s.Bucket, ".sgwtmp", "multipart", "*", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no multipart upload directory in the gateway (%v)", err)
	}
	then := time.Now().Add(-d)
	for _, dir := range dirs {
		if err := os.Chtimes(dir, then, then); err != nil {
			t.Fatal(err)
		}
	}
}

// assertNothingHalfVisible: no orphaned data object, no unreadable
// manifest, no snapshot beyond want.
func assertNothingHalfVisible(t *testing.T, s *infra.S3, wantSnapshots int) {
	t.Helper()
	l := snapList(t, s)
	if len(l.Snapshots) != wantSnapshots || len(l.Orphans) != 0 || len(l.Broken) != 0 {
		t.Fatalf("store has %d snapshots (want %d), orphans %v, broken %v", len(l.Snapshots), wantSnapshots, l.Orphans, l.Broken)
	}
}

func etcdClient(t *testing.T, e *infra.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// fillEtcd writes Kubernetes-shaped keys: small objects under a few
// /registry prefixes and, for volume, mib MiB of incompressible secrets.
func fillEtcd(t *testing.T, e *infra.Etcd, mib int) {
	t.Helper()
	cli := etcdClient(t, e)
	ctx := context.Background()
	for i := range 20 {
		for _, res := range []string{"pods", "configmaps", "services/specs"} {
			if _, err := cli.Put(ctx, fmt.Sprintf("/registry/%s/default/obj-%d", res, i), `{"kind":"x"}`); err != nil {
				t.Fatal(err)
			}
		}
	}
	value := make([]byte, 1<<20)
	for i := range mib {
		if _, err := io.ReadFull(rand.Reader, value); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(ctx, fmt.Sprintf("/registry/secrets/default/blob-%d", i), string(value)); err != nil {
			t.Fatal(err)
		}
	}
}

// stepLogger returns a t.Logf that prefixes each line with the seconds
// since the call: the incident tests' timeline.
func stepLogger(t *testing.T) func(format string, args ...any) {
	started := time.Now()
	return func(format string, args ...any) {
		t.Helper()
		t.Logf("[%5.1fs] "+format, append([]any{time.Since(started).Seconds()}, args...)...)
	}
}
