// Package config is etcdguard's configuration: one YAML file, decoded
// strictly (an unknown or misplaced key is an error naming it and its line,
// the class of mistake behind Zalando's misplaced concurrencyPolicy), then
// overridden by ETCDGUARD_* environment variables, then by flags.
//
//	cfg, err := config.Load("/etc/etcdguard/config.yaml") // file only
//	flags := config.BindFlags(cmd.Flags(), "etcd", "store") // in a cobra command
//	cfg, err := flags.Resolve()                              // file < env < flags
package config

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/k8sguard/k8sguard/backup/store"
)

// Config is the whole etcdguard configuration.
type Config struct {
	ClusterName    string    `yaml:"cluster_name"`
	Etcd           Etcd      `yaml:"etcd"`
	Store          Store     `yaml:"store"`
	Schedule       Schedule  `yaml:"schedule"`
	Compression    string    `yaml:"compression"`
	Retention      Retention `yaml:"retention"`
	LeaderElection bool      `yaml:"leader_election"`
	Metrics        Metrics   `yaml:"metrics"`
	Check          Check     `yaml:"check"`
	Drill          Drill     `yaml:"drill"`
	Delta          Delta     `yaml:"delta"`

	// origin remembers where each key's value came from ("config.yaml:7",
	// "ETCDGUARD_STORE_URL", "--store-url") so errors can point at it.
	origin map[string]string
}

// Etcd is how to reach etcd.
type Etcd struct {
	Endpoints   []string `yaml:"endpoints"`
	CAFile      string   `yaml:"ca_file"`
	CertFile    string   `yaml:"cert_file"`
	KeyFile     string   `yaml:"key_file"`
	DialTimeout Duration `yaml:"dial_timeout"`
}

// Store is where snapshots go.
type Store struct {
	URL      string `yaml:"url"`
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"`
	SSE      string `yaml:"sse"`
	KMSKeyID string `yaml:"kms_key_id"`
}

// Schedule is when the agent takes snapshots: every Interval, or on Cron,
// each time delayed by a random fraction of Jitter so that many clusters
// sharing a bucket do not upload in the same second.
type Schedule struct {
	Interval Duration `yaml:"interval"`
	Cron     string   `yaml:"cron"`
	Jitter   Duration `yaml:"jitter"`
}

// Retention is grandfather-father-son retention over complete snapshots.
type Retention struct {
	KeepLast   int `yaml:"keep_last"`
	KeepDaily  int `yaml:"keep_daily"`
	KeepWeekly int `yaml:"keep_weekly"`
}

// Metrics is the agent's HTTP listener for /metrics, /healthz and /readyz.
type Metrics struct {
	Listen string `yaml:"listen"`
}

// Check holds the thresholds of `etcdguard check`.
type Check struct {
	MaxAge      Duration `yaml:"max_age"`
	ShrinkRatio float64  `yaml:"shrink_ratio"`
	// MaxDrillAge: no successful restore drill within it is a WARNING.
	// 0 (the default) means 2 × drill.interval when the agent drills, and
	// no drill check at all when it does not; see MaxDrillAgeOrDefault.
	MaxDrillAge Duration `yaml:"max_drill_age"`
	// MaxRPOWarning and MaxRPOCritical judge the recovery point when
	// deltas are on: how long ago the newest delta segment (or, without
	// one yet, the full snapshot it chains from) was covered.
	MaxRPOWarning  Duration `yaml:"max_rpo_warning"`
	MaxRPOCritical Duration `yaml:"max_rpo_critical"`
	// Verify re-reads the newest data object and compares its sha256.
	Verify bool `yaml:"verify"`
	// Format of the report: text (Nagios), json or prometheus.
	Format string `yaml:"format"`
	// Textfile also writes the report in Prometheus format to this path
	// (atomically), for node_exporter's textfile collector.
	Textfile string `yaml:"textfile"`
}

// Drill is the agent's scheduled restore drill (see package drill): every
// Interval the elected agent restores the newest snapshot into a temp dir,
// starts etcd on it, checks it, and records the success in the store.
type Drill struct {
	// Interval between drills; 0 (the default) means no scheduled drills.
	Interval Duration `yaml:"interval"`
	// ExpectPrefixes must each hold keys in the restored etcd.
	ExpectPrefixes []string `yaml:"expect_prefixes"`
	// WorkDir is where the restored data dir goes ($TMPDIR when empty).
	WorkDir string `yaml:"work_dir"`
}

// Delta is continuous backup between full snapshots (package delta):
// the elected agent reads etcd's changes from each full snapshot's
// revision (in batches, every second) and commits what changed every Interval as a segment of that snapshot's
// chain, which `restore --at`/`--revision` replays.
type Delta struct {
	// Interval between segments: the recovery point objective, plus the
	// upload. 0 turns deltas off (full snapshots only).
	Interval Duration `yaml:"interval"`
	// MaxBytes cuts a segment early when its events reach this size (a
	// segment is also cut at 4 MiB compressed, to bound memory whatever
	// the data), and caps what is held in memory while the store is
	// unreachable (the chain then breaks and a full snapshot follows when
	// the store is back).
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// Duration is a time.Duration written with a unit ("30m", "5s"); a bare
// number is refused because YAML would otherwise read 5 as 5 nanoseconds.
type Duration struct{ time.Duration }

// DefaultStoreURL is the embedded default store.
const DefaultStoreURL = "file:///var/lib/etcdguard/snapshots"

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{
		ClusterName: "default",
		Etcd: Etcd{
			Endpoints:   []string{"http://127.0.0.1:2379"},
			DialTimeout: Duration{5 * time.Second},
		},
		Store:       Store{URL: DefaultStoreURL},
		Schedule:    Schedule{Interval: Duration{30 * time.Minute}, Jitter: Duration{time.Minute}},
		Compression: "zstd",
		Retention:   Retention{KeepLast: 48, KeepDaily: 14, KeepWeekly: 8},
		Metrics:     Metrics{Listen: "127.0.0.1:9471"},
		Check: Check{MaxAge: Duration{2 * time.Hour}, ShrinkRatio: 0.5, Format: "text",
			MaxRPOWarning: Duration{time.Minute}, MaxRPOCritical: Duration{5 * time.Minute}},
		Delta:  Delta{Interval: Duration{10 * time.Second}, MaxBytes: 64 << 20},
		origin: map[string]string{},
	}
}

// clusterNamePattern keeps names usable as an S3 key segment and an etcd
// key; a leading "_" or "." is reserved for etcdguard's own objects.
var clusterNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// IsSet reports whether key was given (in the file, the environment or a
// flag) rather than left at its default.
func (c *Config) IsSet(key string) bool { return c.origin[key] != "" }

// Validate checks values that decode fine but make no sense, naming the
// key and where its value came from.
func (c *Config) Validate() error {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, c.where(key)+key+": "+fmt.Sprintf(format, args...))
	}
	if !clusterNamePattern.MatchString(c.ClusterName) {
		bad("cluster_name", "%q must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", c.ClusterName)
	}
	if len(c.Etcd.Endpoints) == 0 {
		bad("etcd.endpoints", "at least one endpoint is required, e.g. https://127.0.0.1:2379")
	}
	for _, e := range c.Etcd.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix" && u.Scheme != "unixs") || (u.Host == "" && u.Path == "") {
			bad("etcd.endpoints", "%q is not an etcd client URL (https://host:2379)", e)
		}
	}
	if (c.Etcd.CertFile == "") != (c.Etcd.KeyFile == "") {
		bad("etcd.cert_file", "cert_file and key_file go together (client certificate authentication)")
	}
	if c.Etcd.DialTimeout.Duration <= 0 {
		bad("etcd.dial_timeout", "must be positive")
	}
	if !strings.HasPrefix(c.Store.URL, "s3://") && !strings.HasPrefix(c.Store.URL, "file:///") {
		bad("store.url", "%q must be s3://bucket/prefix or file:///absolute/dir", c.Store.URL)
	}
	switch c.Store.SSE {
	case "", "AES256", "aws:kms":
	default:
		bad("store.sse", "%q must be AES256 or aws:kms", c.Store.SSE)
	}
	if c.Store.KMSKeyID != "" && c.Store.SSE != "aws:kms" {
		bad("store.kms_key_id", "is only used with sse: aws:kms")
	}
	switch {
	case c.Schedule.Cron != "" && c.Schedule.Interval.Duration != 0 && c.origin["schedule.interval"] != "":
		bad("schedule", "set interval or cron, not both")
	case c.Schedule.Cron != "":
		if _, err := cron.ParseStandard(c.Schedule.Cron); err != nil {
			bad("schedule.cron", "%q: %v", c.Schedule.Cron, err)
		}
	case c.Schedule.Interval.Duration < time.Second:
		bad("schedule.interval", "%s is shorter than a second", c.Schedule.Interval)
	}
	if c.Schedule.Jitter.Duration < 0 {
		bad("schedule.jitter", "must not be negative")
	}
	switch c.Compression {
	case "zstd", "none":
	default:
		bad("compression", "%q must be zstd or none", c.Compression)
	}
	if c.Retention.KeepLast < 1 {
		bad("retention.keep_last", "must be at least 1 (the newest snapshot is always kept)")
	}
	if c.Retention.KeepDaily < 0 || c.Retention.KeepWeekly < 0 {
		bad("retention", "keep_daily and keep_weekly must not be negative")
	}
	if c.Check.MaxAge.Duration <= 0 {
		bad("check.max_age", "must be positive")
	}
	if c.Check.MaxDrillAge.Duration < 0 {
		bad("check.max_drill_age", "must not be negative (0: 2 × drill.interval, or no drill check without drills)")
	}
	if d := c.Drill.Interval.Duration; d != 0 && d < time.Minute {
		bad("drill.interval", "%s is shorter than a minute (a drill restores and starts etcd; 0 turns drills off)", c.Drill.Interval)
	}
	for _, p := range c.Drill.ExpectPrefixes {
		if !strings.HasPrefix(p, "/") {
			bad("drill.expect_prefixes", "%q is not an etcd key prefix (it starts with /, e.g. /registry/namespaces/kube-system)", p)
		}
	}
	if d := c.Delta.Interval.Duration; d != 0 && d < time.Second {
		bad("delta.interval", "%s is shorter than a second (0 turns deltas off)", c.Delta.Interval)
	}
	if b := c.Delta.MaxBytes; b < 1<<20 || b > 1<<30 {
		bad("delta.max_bytes", "%s must be between 1MiB and 1GiB", b)
	}
	if c.Check.MaxRPOWarning.Duration <= 0 || c.Check.MaxRPOCritical.Duration <= 0 {
		bad("check.max_rpo_warning", "max_rpo_warning and max_rpo_critical must be positive")
	} else if c.Check.MaxRPOWarning.Duration > c.Check.MaxRPOCritical.Duration {
		bad("check.max_rpo_warning", "%s is longer than check.max_rpo_critical %s", c.Check.MaxRPOWarning, c.Check.MaxRPOCritical)
	}
	if c.Check.ShrinkRatio <= 0 || c.Check.ShrinkRatio > 1 {
		bad("check.shrink_ratio", "%v must be in (0, 1]", c.Check.ShrinkRatio)
	}
	switch c.Check.Format {
	case "text", "json", "prometheus":
	default:
		bad("check.format", "%q must be text, json or prometheus", c.Check.Format)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// where returns "config.yaml:7: " (or "ETCDGUARD_X: ", "--flag: ") for a key,
// or "" when the value is a default.
func (c *Config) where(key string) string {
	if o := c.origin[key]; o != "" {
		return o + ": "
	}
	return ""
}

// MaxDrillAgeOrDefault is how old the last successful drill may be before
// check warns: check.max_drill_age when set, otherwise twice drill.interval
// (one missed drill is tolerated, two are not); 0 means drills are not
// checked (none are scheduled and no age was asked for).
func (c *Config) MaxDrillAgeOrDefault() time.Duration {
	if d := c.Check.MaxDrillAge.Duration; d > 0 {
		return d
	}
	return 2 * c.Drill.Interval.Duration
}

// ScheduleSpec returns the cron schedule the agent runs on.
func (c *Config) ScheduleSpec() (cron.Schedule, error) {
	if c.Schedule.Cron != "" {
		s, err := cron.ParseStandard(c.Schedule.Cron)
		if err != nil {
			return nil, fmt.Errorf("schedule.cron %q: %w", c.Schedule.Cron, err)
		}
		return s, nil
	}
	return cron.Every(c.Schedule.Interval.Duration), nil
}

// StoreOptions are the store settings as store.Open takes them.
func (c *Config) StoreOptions() store.Options {
	return store.Options{
		Region:   c.Store.Region,
		Endpoint: c.Store.Endpoint,
		SSE:      c.Store.SSE,
		KMSKeyID: c.Store.KMSKeyID,
	}
}

// OpenStore opens the configured store, which must exist.
func (c *Config) OpenStore(ctx context.Context) (store.Store, error) {
	return store.Open(ctx, c.Store.URL, c.StoreOptions())
}

// OpenStoreToWrite opens the configured store for taking snapshots: a file
// store's directory is created when missing.
func (c *Config) OpenStoreToWrite(ctx context.Context) (store.Store, error) {
	o := c.StoreOptions()
	o.Create = true
	return store.Open(ctx, c.Store.URL, o)
}
