package backup_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

func TestFaultEtcd(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 20)
	proxy := startTCPProxy(t, strings.TrimPrefix(e.Endpoints[0], "http://"))
	env := append(snapEnv(e, s, ""), "ETCDGUARD_ETCD_ENDPOINTS="+proxy.URL())

	t.Run("unreachable at start", func(t *testing.T) {
		proxy.SetDown(true)
		defer proxy.SetDown(false)
		_, stderr, code := snapRun(t, env, "snapshot")
		if code != 1 || !strings.Contains(stderr, "snapshot: etcd: no etcd endpoint answered: "+proxy.URL()) {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		assertNothingHalfVisible(t, s, 0)
		out, _, code := snapRun(t, env, "check")
		if code != 2 || !strings.Contains(out, "no complete snapshot") || !strings.Contains(out, "failed at stage etcd") {
			t.Fatalf("check exit %d:\n%s", code, out)
		}
	})

	t.Run("cut mid-stream", func(t *testing.T) {
		proxy.Throttle(2 * time.Millisecond) // about 16 MiB/s: the cut lands mid-stream
		start := proxy.toClient.Load()
		p := snapStart(t, env, "snapshot")
		waitFor(t, 60*time.Second, "4 MiB of the snapshot stream", func() bool { return proxy.toClient.Load()-start > 4<<20 })
		proxy.SetDown(true)
		code := p.waitExit(t, 60*time.Second)
		proxy.SetDown(false)
		proxy.Throttle(0)
		if code != 1 || !strings.Contains(p.log(), "snapshot: etcd: read snapshot stream") {
			t.Fatalf("exit %d\n%s", code, p.log())
		}
		assertNothingHalfVisible(t, s, 0)
		if n := multipartUploads(t, s); n != 0 {
			t.Fatalf("%d multipart uploads left open", n)
		}
	})

	t.Run("next snapshot succeeds", func(t *testing.T) {
		if out, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		assertNothingHalfVisible(t, s, 1)
	})
}

// Bad TLS material and bad configuration fail at start, naming the file,
// key and line, before anything touches etcd or the store.
func TestFaultBadTLSAndConfig(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("ca.crt", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
	misplaced := write("misplaced.yaml", "cluster_name: prod-eu1\netcd:\n  endpoints: [http://127.0.0.1:2379]\n  max_age: 2h\n")
	typo := write("typo.yaml", "retention:\n  keep_lst: 3\n")

	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"CA file without a certificate", []string{"ETCDGUARD_ETCD_CA_FILE=" + notPEM}, []string{"snapshot"}, 1,
			"etcd.ca_file " + notPEM + ": no PEM certificate in it"},
		{"missing client key", []string{"ETCDGUARD_ETCD_CERT_FILE=" + notPEM, "ETCDGUARD_ETCD_KEY_FILE=" + filepath.Join(dir, "nope.key")}, []string{"snapshot"}, 1,
			"etcd.cert_file " + notPEM + " / etcd.key_file " + filepath.Join(dir, "nope.key")},
		{"cert without key", []string{"ETCDGUARD_ETCD_CERT_FILE=" + notPEM}, []string{"snapshot"}, 1,
			"ETCDGUARD_ETCD_CERT_FILE: etcd.cert_file: cert_file and key_file go together"},
		{"misplaced key", []string{"ETCDGUARD_CONFIG=" + misplaced}, []string{"snapshot"}, 1,
			misplaced + `:4: unknown key "max_age" under etcd; it belongs at check.max_age`},
		{"typo, check exits UNKNOWN", nil, []string{"check", "--config", typo}, 3,
			typo + `:2: unknown key "keep_lst" under retention (known: keep_daily, keep_last, keep_weekly)`},
		{"bad flag value", nil, []string{"agent", "--schedule-interval", "soon"}, 1,
			`--schedule-interval: schedule.interval: "soon" is not a duration like 30s, 5m or 2h`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := snapRun(t, append(snapEnv(e, s, ""), tc.env...), tc.args...)
			// check says it on stdout, as its Nagios status line; the
			// other commands on stderr.
			said := stderr
			if tc.args[0] == "check" && strings.HasPrefix(out, "ETCDGUARD UNKNOWN - ") {
				said = out
			}
			if code != tc.code || !strings.Contains(said, tc.want) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant it to contain %q", code, tc.code, out, stderr, tc.want)
			}
		})
	}
	assertNothingHalfVisible(t, s, 0)
}
