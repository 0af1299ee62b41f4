package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// The example from the issue must load as written.
const issueExample = `cluster_name: prod-eu1
etcd:
  endpoints: [https://127.0.0.1:2379]
  ca_file: /etc/kubernetes/pki/etcd/ca.crt
  cert_file: /etc/kubernetes/pki/etcd/healthcheck-client.crt
  key_file: /etc/kubernetes/pki/etcd/healthcheck-client.key
  dial_timeout: 5s
store:
  url: s3://bucket/prefix          # or file:///var/lib/etcdguard/snapshots (the embedded default)
  region: eu-central-1
  endpoint: ""                     # S3-compatible endpoint; path style when set
  sse: aws:kms                     # or AES256
  kms_key_id: ""
schedule: { interval: 30m }        # or { cron: "*/30 * * * *" }, with jitter
compression: zstd                  # or none
retention: { keep_last: 48, keep_daily: 14, keep_weekly: 8 }
leader_election: true              # one agent per cluster uploads, via an etcd election
metrics: { listen: 127.0.0.1:9471 }
check: { max_age: 2h, shrink_ratio: 0.5 }
`

func TestIssueExampleLoads(t *testing.T) {
	c, err := Parse("config.yaml", []byte(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClusterName != "prod-eu1" || c.Store.SSE != "aws:kms" || !c.LeaderElection ||
		c.Etcd.DialTimeout.Duration != 5*time.Second || c.Retention.KeepWeekly != 8 ||
		c.Check.MaxAge.Duration != 2*time.Hour || c.Check.ShrinkRatio != 0.5 ||
		!reflect.DeepEqual(c.Etcd.Endpoints, []string{"https://127.0.0.1:2379"}) {
		t.Fatalf("decoded %+v", c)
	}
}

func TestEmptyFileIsTheDefaults(t *testing.T) {
	c, err := Parse("empty.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.URL != DefaultStoreURL || c.Schedule.Interval.Duration != 30*time.Minute {
		t.Fatalf("defaults %+v", c)
	}
}

// Each bad file must fail with a message naming the key and its line.
func TestStrictDecodingNamesKeyAndLine(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "cluster_name: a\nfrobnicate: 1\n",
			`config.yaml:2: unknown key "frobnicate" at the top level (known: check, cluster_name, compression, delta, drill, etcd, leader_election, metrics, retention, schedule, store)`},
		{"misplaced key names where it belongs", "etcd:\n  endpoints: [http://a:2379]\n  max_age: 2h\n",
			`config.yaml:3: unknown key "max_age" under etcd; it belongs at check.max_age`},
		{"misplaced section key", "store:\n  url: file:///x\ninterval: 5m\n",
			`config.yaml:3: unknown key "interval" at the top level; it belongs at schedule.interval`},
		{"typo under a section", "retention:\n  keep_lst: 3\n",
			`config.yaml:2: unknown key "keep_lst" under retention (known: keep_daily, keep_last, keep_weekly)`},
		{"wrong type", "retention:\n  keep_last: many\n",
			`config.yaml:2: retention.keep_last: "many" is not an integer`},
		{"bare number duration", "etcd:\n  dial_timeout: 5\n",
			`config.yaml:2: etcd.dial_timeout: "5" is not a duration like 30s, 5m or 2h`},
		{"section as scalar", "store: s3://b/p\n",
			`config.yaml:1: store must be a mapping of keys, got "s3://b/p"`},
		{"duplicate key", "compression: zstd\ncompression: none\n",
			`config.yaml:2: key "compression" is already set at line 1`},
		{"bad sse value", "store:\n  url: s3://b/p\n  sse: aes\n",
			`config.yaml:3: store.sse: "aes" must be AES256 or aws:kms`},
		{"interval and cron", "schedule:\n  interval: 5m\n  cron: '*/5 * * * *'\n",
			`config.yaml:1: schedule: set interval or cron, not both`},
		{"bad cron", "schedule:\n  cron: 'every day'\n",
			`config.yaml:2: schedule.cron: "every day"`},
		{"cert without key", "etcd:\n  cert_file: /c.crt\n",
			`config.yaml:2: etcd.cert_file: cert_file and key_file go together`},
		{"relative file store", "store:\n  url: file://snapshots\n",
			`config.yaml:2: store.url: "file://snapshots" must be s3://bucket/prefix or file:///absolute/dir`},
		{"shrink ratio out of range", "check:\n  shrink_ratio: 2\n",
			`config.yaml:2: check.shrink_ratio: 2 must be in (0, 1]`},
		{"drill interval too short", "drill:\n  interval: 10s\n",
			`config.yaml:2: drill.interval: 10s is shorter than a minute`},
		{"drill key misplaced under check", "check:\n  interval: 24h\n",
			`config.yaml:2: unknown key "interval" under check`},
		{"drill expect prefix not a key", "drill:\n  interval: 24h\n  expect_prefixes: [registry/namespaces]\n",
			`config.yaml:3: drill.expect_prefixes: "registry/namespaces" is not an etcd key prefix`},
		{"negative max drill age", "check:\n  max_drill_age: -1h\n",
			`config.yaml:2: check.max_drill_age: must not be negative`},
		{"delta interval too short", "delta:\n  interval: 100ms\n",
			`config.yaml:2: delta.interval: 100ms is shorter than a second (0 turns deltas off)`},
		{"delta max_bytes not a size", "delta:\n  max_bytes: lots\n",
			`config.yaml:2: delta.max_bytes: "lots" is not a size like 64MiB or 1GiB`},
		{"delta max_bytes too small", "delta:\n  max_bytes: 64KiB\n",
			`config.yaml:2: delta.max_bytes: 64 KiB must be between 1MiB and 1GiB`},
		{"delta key misplaced under schedule", "schedule:\n  max_bytes: 1MiB\n",
			`config.yaml:2: unknown key "max_bytes" under schedule; it belongs at delta.max_bytes`},
		{"rpo warning past critical", "check:\n  max_rpo_warning: 10m\n",
			`config.yaml:2: check.max_rpo_warning: 10m0s is longer than check.max_rpo_critical 5m0s`},
		{"two documents", "compression: zstd\n---\ncompression: none\n",
			`config.yaml:2: a second YAML document`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("config.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
}

func TestEveryKeyHasUsageFlagAndEnv(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f := BindFlags(fs)
	if len(f.keys) < 20 {
		t.Fatalf("only %d keys bound: %v", len(f.keys), f.keys)
	}
	for _, k := range f.keys {
		if usage[k] == "" {
			t.Errorf("key %s has no usage text", k)
		}
		fl := fs.Lookup(FlagName(k))
		if fl == nil || !strings.Contains(fl.Usage, EnvName(k)) {
			t.Errorf("key %s: flag %s missing or its help does not name %s", k, FlagName(k), EnvName(k))
		}
	}
	if FlagName("store.kms_key_id") != "store-kms-key-id" || EnvName("store.kms_key_id") != "ETCDGUARD_STORE_KMS_KEY_ID" {
		t.Fatal("naming scheme changed")
	}
}

func TestPrecedenceFlagsOverEnvOverFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("cluster_name: from-file\ncompression: none\nstore:\n  url: file:///from/file\n  region: file-region\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"ETCDGUARD_CONFIG":         path,
		"ETCDGUARD_CLUSTER_NAME":   "from-env",
		"ETCDGUARD_STORE_URL":      "file:///from/env",
		"ETCDGUARD_ETCD_ENDPOINTS": "http://a:2379, http://b:2379",
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f := BindFlags(fs)
	f.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := fs.Parse([]string{"--cluster-name", "from-flag", "--leader-election", "--schedule-interval=5m"}); err != nil {
		t.Fatal(err)
	}
	c, err := f.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.ClusterName, c.Store.URL, c.Store.Region, c.Compression, c.Etcd.Endpoints, c.LeaderElection, c.Schedule.Interval.Duration}
	want := []any{"from-flag", "file:///from/env", "file-region", "none", []string{"http://a:2379", "http://b:2379"}, true, 5 * time.Minute}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestEnvAndFlagErrorsNameTheirSource(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f := BindFlags(fs, "retention", "store")
	f.LookupEnv = func(k string) (string, bool) {
		if k == "ETCDGUARD_RETENTION_KEEP_LAST" {
			return "lots", true
		}
		return "", false
	}
	if fs.Lookup("etcd-endpoints") != nil {
		t.Fatal("etcd flags bound although only retention and store were asked for")
	}
	if err := fs.Parse([]string{"--store-sse", "rot13"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.Resolve()
	if err == nil || !strings.Contains(err.Error(), `ETCDGUARD_RETENTION_KEEP_LAST: retention.keep_last: "lots" is not an integer`) {
		t.Fatalf("err = %v", err)
	}
	f.LookupEnv = func(string) (string, bool) { return "", false }
	_, err = f.Resolve()
	if err == nil || !strings.Contains(err.Error(), `--store-sse: store.sse: "rot13" must be AES256 or aws:kms`) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadMissingFileNamesIt(t *testing.T) {
	_, err := Load("/nonexistent/etcdguard.yaml")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/etcdguard.yaml") {
		t.Fatalf("err = %v", err)
	}
}

func TestBadTLSMaterialIsNamed(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		etcd Etcd
		want string
	}{
		{"missing CA", Etcd{CAFile: filepath.Join(dir, "nope.crt")}, "etcd.ca_file: open " + filepath.Join(dir, "nope.crt")},
		{"CA without PEM", Etcd{CAFile: notPEM}, "etcd.ca_file " + notPEM + ": no PEM certificate in it"},
		{"cert that is not a cert", Etcd{CertFile: notPEM, KeyFile: notPEM}, "etcd.cert_file " + notPEM + " / etcd.key_file " + notPEM},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.etcd.Endpoints = []string{"https://127.0.0.1:2379"}
			c.Etcd = tc.etcd
			if _, err := c.EtcdClientConfig(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMaxDrillAgeDefaultsToTwiceTheDrillInterval(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want time.Duration
	}{
		{"", 0}, // no drills scheduled, none asked for: not checked
		{"drill:\n  interval: 24h\n", 48 * time.Hour},
		{"check:\n  max_drill_age: 192h\n", 192 * time.Hour},
		{"drill:\n  interval: 24h\ncheck:\n  max_drill_age: 30h\n", 30 * time.Hour},
	} {
		c, err := Parse("config.yaml", []byte(tc.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if got := c.MaxDrillAgeOrDefault(); got != tc.want {
			t.Errorf("%q: MaxDrillAgeOrDefault() = %s, want %s", tc.yaml, got, tc.want)
		}
	}
}

// TestDeltaSectionAsTheIssueWritesIt: delta: { interval: 10s, max_bytes:
// 64MiB } is the default, and a flow mapping, env and flags all set it.
func TestDeltaSectionAsTheIssueWritesIt(t *testing.T) {
	c, err := Parse("config.yaml", []byte("delta: { interval: 30s, max_bytes: 16MiB }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Delta.Interval.Duration != 30*time.Second || c.Delta.MaxBytes != 16<<20 {
		t.Fatalf("decoded %+v", c.Delta)
	}
	if d := Default().Delta; d.Interval.Duration != 10*time.Second || d.MaxBytes != 64<<20 {
		t.Fatalf("default delta %+v, want 10s and 64MiB (on by default)", d)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f := BindFlags(fs, "delta")
	f.LookupEnv = func(k string) (string, bool) {
		if k == "ETCDGUARD_DELTA_MAX_BYTES" {
			return "8MiB", true
		}
		return "", false
	}
	if err := fs.Parse([]string{"--delta-interval", "0s"}); err != nil {
		t.Fatal(err)
	}
	c, err = f.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.Delta.Interval.Duration != 0 || c.Delta.MaxBytes != 8<<20 {
		t.Fatalf("env and flag gave %+v, want deltas off and 8MiB", c.Delta)
	}
}
