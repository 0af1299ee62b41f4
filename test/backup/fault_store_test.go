package backup_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/test/infra"
)

// S3 faults: each either ends in a complete snapshot or in nothing
// visible at all (no manifest, no orphan, no open multipart upload).
func TestFaultS3(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 20) // several 5 MiB parts
	proxy := startS3Proxy(t, s.Endpoint)
	env := snapEnv(e, s, proxy.URL())
	snapshots := 0

	t.Run("unreachable", func(t *testing.T) {
		env := snapEnv(e, s, fmt.Sprintf("http://127.0.0.1:%d", infra.FreePort(t)))
		_, stderr, code := snapRun(t, env, "snapshot")
		if code != 1 || !strings.Contains(stderr, "snapshot: upload: ") || !strings.Contains(stderr, " s3://"+s.Bucket+"/"+snapPrefix+"/prod-eu1/") || !strings.Contains(stderr, "connection refused") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		assertNothingHalfVisible(t, s, snapshots)
	})

	// The agent waits for an unreachable store (it may come up after the
	// node), but a bucket that does not exist is a configuration to fix:
	// the start fails at once, so systemd shows it.
	t.Run("agent fails its start on a missing bucket", func(t *testing.T) {
		env := append(snapEnv(e, s, ""), "ETCDGUARD_STORE_URL=s3://no-such-bucket-"+snapCluster+"/backups")
		start := time.Now()
		_, stderr, code := snapRun(t, env, "agent")
		if code != 1 || !strings.Contains(stderr, "the bucket does not exist, so no snapshot can be stored: fix the configuration and start again") ||
			!strings.Contains(stderr, "NoSuchBucket") {
			t.Fatalf("exit %d after %s\n%s", code, time.Since(start), stderr)
		}
		t.Logf("agent exited %d after %s: %s", code, time.Since(start).Round(time.Millisecond), lastLineOf(stderr))
	})

	// Wrong credentials: S3's own text leads with request IDs; the first
	// words say what it means, and the secret is never printed.
	t.Run("a wrong secret key is named, not echoed", func(t *testing.T) {
		env := append(snapEnv(e, s, ""), "AWS_SECRET_ACCESS_KEY=not-the-secret-k8sguard")
		_, stderr, code := snapRun(t, env, "list")
		if code != 1 || !strings.Contains(stderr, "etcdguard: the store answered that the secret key does not match the access key") ||
			strings.Contains(stderr, "not-the-secret-k8sguard") || strings.Contains(stderr, s.SecretKey) {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		t.Logf("list: %s", lastLineOf(stderr))
		_, stderr, code = snapRun(t, env, "agent")
		if code != 1 || !strings.Contains(stderr, "the secret key does not match the access key, so no snapshot can be stored") {
			t.Fatalf("agent with a wrong secret: exit %d\n%s", code, stderr)
		}
		// Every other command that reads or writes the store: the
		// documented exit code, the same words, never the secret, and
		// restore leaves the data dir it could not fill alone.
		parent := t.TempDir()
		for _, c := range []struct {
			args []string
			code int
		}{
			{[]string{"snapshot"}, 1},
			{[]string{"check"}, 3}, // UNKNOWN: the store cannot be read
			{[]string{"check", "--verify"}, 3},
			{[]string{"verify"}, 1}, // could not check, not corrupt
			{[]string{"restore", "--data-dir", filepath.Join(parent, "etcd"), "--no-bump-revision"}, 1},
		} {
			out, stderr, code := snapRun(t, env, c.args...)
			if code != c.code || !strings.Contains(out+stderr, "the secret key does not match the access key") ||
				strings.Contains(out+stderr, "not-the-secret-k8sguard") || strings.Contains(out+stderr, s.SecretKey) {
				t.Fatalf("%v with a wrong secret: exit %d, want %d\n%s%s", c.args, code, c.code, out, stderr)
			}
			if c.args[0] == "check" && !strings.Contains(out, "UNKNOWN store: cannot list s3://"+s.Bucket+"/"+snapPrefix+"/: the store answered that the secret key does not match the access key") {
				t.Fatalf("%v with a wrong secret: the finding does not say it\n%s", c.args, out)
			}
			t.Logf("%v: exit %d: %s", c.args, code, lastLineOf(out+stderr))
		}
		if left, _ := os.ReadDir(parent); len(left) != 0 {
			t.Fatalf("restore with a wrong secret left %v", left)
		}
		assertNothingHalfVisible(t, s, snapshots)
	})

	// A session token the store does not know. The snapshot's first
	// request to fail is a HEAD (is the name free?), and S3 answers a HEAD
	// with a status and no body: the SDK could only say "BadRequest: Bad
	// Request". The reason is named all the same, and the token never
	// printed.
	t.Run("an invalid session token is named", func(t *testing.T) {
		env := append(snapEnv(e, s, ""), "AWS_SESSION_TOKEN=not-a-token-k8sguard")
		for _, args := range [][]string{{"snapshot"}, {"list"}} {
			out, stderr, code := snapRun(t, env, args...)
			last := lastLineOf(stderr)
			if code != 1 || !strings.Contains(last, "etcdguard: the store answered that the session token is invalid") ||
				strings.Contains(out+stderr, "not-a-token-k8sguard") {
				t.Fatalf("%v with an invalid session token: exit %d\n%s%s", args, code, out, stderr)
			}
			t.Logf("%v: exit %d: %s", args, code, last)
		}
		assertNothingHalfVisible(t, s, snapshots)
	})

	t.Run("transient 5xx on parts is retried", func(t *testing.T) {
		var failed atomic.Int64
		proxy.SetFail(func(r *http.Request) int {
			if isUploadPart(r) && failed.Add(1) <= 2 {
				return http.StatusServiceUnavailable
			}
			return 0
		})
		defer proxy.SetFail(nil)
		out, stderr, code := snapRun(t, env, "snapshot")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		if failed.Load() < 3 {
			t.Fatalf("only %d part requests seen: the fault was not exercised", failed.Load())
		}
		snapshots++
		assertNothingHalfVisible(t, s, snapshots)
		if _, _, code := snapRun(t, env, "check", "--verify"); code != 0 {
			t.Fatal("check --verify after retried parts is not OK")
		}
	})

	t.Run("persistent 5xx fails the upload and aborts it", func(t *testing.T) {
		proxy.SetFail(func(r *http.Request) int {
			if isUploadPart(r) {
				return http.StatusInternalServerError
			}
			return 0
		})
		defer proxy.SetFail(nil)
		_, stderr, code := snapRun(t, env, "snapshot")
		if code != 1 || !strings.Contains(stderr, "snapshot: upload:") || !strings.Contains(stderr, "InternalServerError") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		assertNothingHalfVisible(t, s, snapshots)
		if n := multipartUploads(t, s); n != 0 {
			t.Fatalf("%d multipart uploads left open", n)
		}
		// check reports the failure (recorded in the store) as a warning.
		out, _, code := snapRun(t, env, "check")
		if code != 1 || !strings.Contains(out, "the last snapshot attempt failed at stage upload") {
			t.Fatalf("check exit %d:\n%s", code, out)
		}
	})

	// A store that fails reads says nothing about the backup: check
	// --verify is UNKNOWN (and exports no verify_ok 0, which pages as a
	// corrupt backup), not CRITICAL.
	t.Run("failing reads leave check --verify UNKNOWN", func(t *testing.T) {
		proxy.SetFail(func(r *http.Request) int {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".db.zst") {
				return http.StatusServiceUnavailable
			}
			return 0
		})
		defer proxy.SetFail(nil)
		out, _, code := snapRun(t, env, "check", "--verify")
		if code != 3 || !strings.Contains(out, "UNKNOWN verify: cannot verify the newest snapshot") {
			t.Fatalf("check --verify with reads failing: exit %d\n%s", code, out)
		}
		out, _, _ = snapRun(t, env, "check", "--verify", "--format", "prometheus")
		if strings.Contains(out, "etcdguard_check_verify_ok") {
			t.Fatalf("a verify that could not read the object exported verify_ok:\n%s", out)
		}
	})

	// The agent's full snapshot against a store that answers 500 to every
	// UploadPart: each attempt fails and is retried (after a quarter
	// interval), nothing looks complete meanwhile, and once the store
	// heals the retry commits the snapshot, leaving no open upload.
	t.Run("agent: persistent 5xx on parts fails, retries, then completes", func(t *testing.T) {
		var failed atomic.Int64
		proxy.SetFail(func(r *http.Request) int {
			if isUploadPart(r) {
				failed.Add(1)
				return http.StatusInternalServerError
			}
			return 0
		})
		defer proxy.SetFail(nil)
		agent := snapStart(t, append(env, "ETCDGUARD_SCHEDULE_INTERVAL=20s", "ETCDGUARD_SCHEDULE_JITTER=0s"), "agent")
		waitFor(t, 90*time.Second, "two failed snapshot attempts", func() bool {
			return strings.Count(agent.log(), `"snapshot failed"`) >= 2
		})
		if strings.Contains(agent.log(), "snapshot complete") {
			t.Fatalf("a snapshot completed while every part failed:\n%s", agent.log())
		}
		if !strings.Contains(agent.log(), "InternalServerError") {
			t.Fatalf("the failure does not name the store's answer:\n%s", agent.log())
		}
		assertNothingHalfVisible(t, s, snapshots)
		t.Logf("%d part uploads refused; agent: %s", failed.Load(), lastLineOf(agent.log()))

		proxy.SetFail(nil)
		waitFor(t, 90*time.Second, "the retried snapshot", func() bool { return strings.Contains(agent.log(), "snapshot complete") })
		agent.signal(syscall.SIGTERM)
		if code := agent.waitExit(t, 30*time.Second); code != 0 {
			t.Fatalf("agent exit %d after SIGTERM\n%s", code, agent.log())
		}
		snapshots++
		assertNothingHalfVisible(t, s, snapshots)
		if n := multipartUploads(t, s); n != 0 {
			t.Fatalf("%d multipart uploads left open by the failed attempts", n)
		}
	})

	t.Run("slow store still completes", func(t *testing.T) {
		proxy.SetDelay(300 * time.Millisecond)
		defer proxy.SetDelay(0)
		if out, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		snapshots++
		assertNothingHalfVisible(t, s, snapshots)
	})
}

// kill -9 in the middle of an upload: no manifest, list hides the
// leftovers, and the next snapshot succeeds. Its cleanup leaves the open
// multipart upload while it is younger than CommitGrace (it may be a live
// writer's) and removes it once it is older.
func TestFaultKill9MidUpload(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 20)
	proxy := startS3Proxy(t, s.Endpoint)
	proxy.SetDelay(2 * time.Second)
	env := snapEnv(e, s, proxy.URL())

	p := snapStart(t, env, "snapshot")
	select {
	case <-proxy.partSeen:
	case <-time.After(60 * time.Second):
		t.Fatalf("no part upload started; log:\n%s", p.log())
	}
	p.signal(syscall.SIGKILL)
	p.waitExit(t, 10*time.Second)
	proxy.SetDelay(0)

	assertNothingHalfVisible(t, s, 0)
	if n := multipartUploads(t, s); n != 1 {
		t.Fatalf("%d open multipart uploads after kill -9, want the killed one", n)
	}
	out, stderr, code := snapRun(t, env, "snapshot")
	if code != 0 {
		t.Fatalf("next snapshot exit %d\n%s%s", code, out, stderr)
	}
	if n := multipartUploads(t, s); n != 1 || strings.Contains(stderr, "incomplete_uploads") {
		t.Fatalf("%d multipart uploads open after the next snapshot, want the killed one (younger than CommitGrace):\n%s", n, stderr)
	}
	assertNothingHalfVisible(t, s, 1)

	ageMultipartUploads(t, s, snapshot.CommitGrace+time.Minute)
	out, stderr, code = snapRun(t, env, "snapshot")
	if code != 0 {
		t.Fatalf("third snapshot exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "cleaned up after interrupted snapshots") || !strings.Contains(stderr, "incomplete_uploads=1") {
		t.Fatalf("the upload older than CommitGrace was not cleaned up:\n%s", stderr)
	}
	if n := multipartUploads(t, s); n != 0 {
		t.Fatalf("%d multipart uploads still open", n)
	}
	assertNothingHalfVisible(t, s, 2)
}

// kill -9 in the middle of a restore into an existing empty data dir (the
// mount point of a dedicated etcd volume, typically): the work dir it
// leaves inside must not make the next restore refuse the dir as not empty
// (a mount point cannot be moved aside either); the next restore removes it
// and says so.
func TestFaultKill9MidRestore(t *testing.T) {
	e, s := etcdWithSnapshot(t, 20)
	proxy := startS3Proxy(t, s.Endpoint)
	proxy.SetDelay(2 * time.Second)
	target := filepath.Join(t.TempDir(), "etcd")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(target, ".etcd.etcdguard-restore-*")

	p := snapStart(t, snapEnv(e, s, proxy.URL()), "restore", "--data-dir", target, "--no-bump-revision")
	waitFor(t, 60*time.Second, "the restore's work dir", func() bool { m, _ := filepath.Glob(work); return len(m) > 0 })
	p.signal(syscall.SIGKILL)
	p.waitExit(t, 10*time.Second)
	left, _ := filepath.Glob(work)
	if len(left) != 1 {
		t.Fatalf("after kill -9: work dirs %v, want the killed restore's", left)
	}

	out, stderr, code := snapRun(t, snapEnv(e, s, ""), "restore", "--data-dir", target, "--no-bump-revision")
	if code != 0 {
		t.Fatalf("the next restore: exit %d\n%s%s", code, out, stderr)
	}
	if want := "removed " + left[0] + ", left by an interrupted restore"; !strings.Contains(out, want) {
		t.Fatalf("the next restore did not say %q:\n%s", want, out)
	}
	if m, _ := filepath.Glob(work); len(m) > 0 {
		t.Fatalf("work dirs left after the next restore: %v", m)
	}
	if _, err := os.Stat(filepath.Join(target, "member", "snap", "db")); err != nil {
		t.Fatalf("restored data dir: %v", err)
	}
	t.Logf("killed restore left %s; the next one removed it and restored into %s", filepath.Base(left[0]), target)
}

// The read-side commands (list, verify, restore, drill) against a store
// that cannot be reached (the TCP proxy in front of it is down) or that
// fails (500 on every LIST, 503 SlowDown on every GET of an object): each
// exits 1 (could not read: not 2, which says the backup is corrupt) in
// bounded time, names the store's answer, restores nothing into the
// data dir and leaves no drill work dir behind.
func TestFaultS3ReadSide(t *testing.T) {
	e, s := etcdWithSnapshot(t, 2)
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	tcp := startTCPProxy(t, u.Host)
	proxy := startS3Proxy(t, s.Endpoint)
	var injected atomic.Int64

	faults := []struct {
		name     string
		endpoint string
		set      func()
		reset    func()
		want     string // in stderr
		listOK   bool   // list reads no data object
	}{
		{"unreachable", tcp.URL(), func() { tcp.SetDown(true) }, func() { tcp.SetDown(false) }, "request send failed", false},
		{"500 on LIST", proxy.URL(), func() {
			proxy.SetFail(func(r *http.Request) int {
				if isListObjects(r) {
					injected.Add(1)
					return http.StatusInternalServerError
				}
				return 0
			})
		}, func() { proxy.SetFail(nil) }, "InternalServerError", false},
		{"503 SlowDown on GET of manifests", proxy.URL(), func() {
			proxy.SetErrorCode("SlowDown")
			proxy.SetFail(func(r *http.Request) int {
				if isGetObject(r) && strings.HasSuffix(r.URL.Path, ".json") {
					injected.Add(1)
					return http.StatusServiceUnavailable
				}
				return 0
			})
		}, func() { proxy.SetFail(nil); proxy.SetErrorCode("") }, "SlowDown", false},
		{"503 SlowDown on GET of the data object", proxy.URL(), func() {
			proxy.SetErrorCode("SlowDown")
			proxy.SetFail(func(r *http.Request) int {
				if isGetObject(r) && strings.HasSuffix(r.URL.Path, ".db.zst") {
					injected.Add(1)
					return http.StatusServiceUnavailable
				}
				return 0
			})
		}, func() { proxy.SetFail(nil); proxy.SetErrorCode("") }, "SlowDown", true},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			env := snapEnv(e, s, f.endpoint)
			parent := t.TempDir()
			target := filepath.Join(parent, "etcd")
			drillDir := t.TempDir()
			f.set()
			defer f.reset()
			for _, args := range [][]string{
				{"list"},
				{"verify"},
				{"restore", "--data-dir", target, "--no-bump-revision"},
				{"drill", "--no-record", "--work-dir", drillDir},
			} {
				injected.Store(0)
				start := time.Now()
				out, stderr, code := snapRun(t, env, args...)
				took := time.Since(start)
				if args[0] == "list" && f.listOK {
					if code != 0 || !strings.Contains(out, "NAME") {
						t.Fatalf("list: exit %d\n%s%s", code, out, stderr)
					}
					continue
				}
				if code != 1 || !strings.Contains(stderr, f.want) || took > time.Minute {
					t.Fatalf("%s: exit %d after %s, want 1 naming %q\n%s%s", args[0], code, took.Round(time.Millisecond), f.want, out, stderr)
				}
				if f.endpoint == proxy.URL() && injected.Load() == 0 {
					t.Fatalf("%s: the fault was not exercised", args[0])
				}
				t.Logf("%s: exit %d after %s: %s", args[0], code, took.Round(time.Millisecond), lastLineOf(stderr))
			}
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Fatalf("restore left %v beside the data dir it could not restore", left)
			}
			if left, _ := os.ReadDir(drillDir); len(left) != 0 {
				t.Fatalf("drill left %v in its work dir", left)
			}
		})
	}
	// The store is whole again: nothing the faults did is visible.
	assertNothingHalfVisible(t, s, 1)
	if _, stderr, code := snapRun(t, snapEnv(e, s, tcp.URL()), "verify"); code != 0 {
		t.Fatalf("verify through the proxy once it is up: exit %d\n%s", code, stderr)
	}

	// A garbage manifest (and data object) named newer than every
	// snapshot: list warns about it by key and lists only the real one,
	// and "latest" is still the real one.
	t.Run("garbage manifest", func(t *testing.T) {
		const bogus = "29991231T235959Z-r999999"
		for _, key := range []string{bogus + ".db.zst", bogus + ".json"} {
			if _, err := s.Client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(s.Bucket), Key: aws.String(snapPrefix + "/" + snapCluster + "/" + key),
				Body: strings.NewReader("\x00garbage{not json"),
			}); err != nil {
				t.Fatal(err)
			}
		}
		env := snapEnv(e, s, "")
		out, stderr, code := snapRun(t, env, "list")
		if code != 0 || !strings.Contains(stderr, "warning: unreadable manifest: ") || !strings.Contains(stderr, bogus+".json is not valid JSON") ||
			strings.Contains(out, bogus) || strings.Count(out, "-r") != 1 {
			t.Fatalf("list: exit %d\n%s%s", code, out, stderr)
		}
		t.Logf("list: %s", lastLineOf(stderr))
		out, stderr, code = snapRun(t, env, "list", "--json")
		if code != 0 || strings.Contains(out, bogus) {
			t.Fatalf("list --json: exit %d\n%s%s", code, out, stderr)
		}
		if out, stderr, code := snapRun(t, env, "verify"); code != 0 || strings.Contains(out, bogus) {
			t.Fatalf("verify of the latest beside a garbage manifest: exit %d\n%s%s", code, out, stderr)
		}
		// Named explicitly, it is refused as unreadable (1: there is no
		// manifest to check the data against), and restore writes nothing.
		target := filepath.Join(t.TempDir(), "etcd")
		for _, args := range [][]string{
			{"verify", "--snapshot", bogus},
			{"restore", "--snapshot", bogus, "--data-dir", target, "--no-bump-revision"},
		} {
			out, stderr, code := snapRun(t, env, args...)
			if code != 1 || !strings.Contains(stderr, `snapshot "`+bogus+`": `+snapCluster+"/"+bogus+".json is not valid JSON") {
				t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
			}
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Fatalf("restore of a garbage manifest created %s: %v", target, err)
		}
		out, _, code = snapRun(t, env, "check")
		if code != 1 || !strings.Contains(out, "WARNING manifests: unreadable manifest: "+snapCluster+"/"+bogus+".json") {
			t.Fatalf("check: exit %d\n%s", code, out)
		}
	})
}
