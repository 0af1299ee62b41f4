package config

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// EnvConfigFile names the configuration file when --config is not given.
const EnvConfigFile = "ETCDGUARD_CONFIG"

// DefaultConfigFile is read when neither --config nor ETCDGUARD_CONFIG is
// set and it exists.
const DefaultConfigFile = "/etc/etcdguard/config.yaml"

// Flags binds every configuration key to a flag and an environment
// variable: key "store.kms_key_id" is flag --store-kms-key-id and variable
// ETCDGUARD_STORE_KMS_KEY_ID. Precedence: flags > environment > file >
// defaults.
type Flags struct {
	fs         *pflag.FlagSet
	configPath string
	keys       []string
	names      map[string]string // key → flag name, where not FlagName(key)
	// LookupEnv reads the environment (os.LookupEnv; replaceable in tests).
	LookupEnv func(string) (string, bool)
}

// FlagName is the flag for a key.
func FlagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}

// EnvName is the environment variable for a key.
func EnvName(key string) string {
	return "ETCDGUARD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// usage says what each key means; every key of Config has an entry (a test
// holds us to it), and it is the help text of its flag.
var usage = map[string]string{
	"cluster_name":           "name of the cluster; snapshots go under <store>/<cluster_name>/",
	"etcd.endpoints":         "etcd client URLs, comma-separated",
	"etcd.ca_file":           "CA bundle that signed etcd's serving certificate",
	"etcd.cert_file":         "client certificate for etcd",
	"etcd.key_file":          "client key for etcd",
	"etcd.dial_timeout":      "how long to wait for an etcd connection",
	"store.url":              "where snapshots go: s3://bucket/prefix or file:///dir",
	"store.region":           "S3 region (default: the AWS SDK's)",
	"store.endpoint":         "S3-compatible endpoint URL; path-style addressing when set",
	"store.sse":              "S3 server-side encryption: AES256 or aws:kms",
	"store.kms_key_id":       "KMS key for sse aws:kms (default: the bucket's)",
	"schedule.interval":      "take a snapshot every interval",
	"schedule.cron":          "take snapshots on a cron schedule instead, e.g. \"*/30 * * * *\"",
	"schedule.jitter":        "delay each scheduled snapshot by a random part of this",
	"compression":            "zstd or none",
	"retention.keep_last":    "keep the newest N snapshots",
	"retention.keep_daily":   "also keep the newest snapshot of each of the last N days (UTC)",
	"retention.keep_weekly":  "also keep the newest snapshot of each of the last N ISO weeks",
	"leader_election":        "elect one agent per cluster through etcd; only the leader uploads",
	"metrics.listen":         "address for /metrics, /healthz and /readyz (empty: off)",
	"check.max_age":          "newest snapshot older than this is CRITICAL",
	"check.shrink_ratio":     "a snapshot with fewer than this × the previous snapshot's keys is a shrink",
	"check.max_drill_age":    "no successful restore drill within this is a WARNING (default 2 × drill.interval; unchecked without drills)",
	"drill.interval":         "the agent runs a restore drill of the newest snapshot this often (0: never)",
	"drill.expect_prefixes":  "key prefixes that must hold keys in the drill's restored etcd, comma-separated",
	"drill.work_dir":         "where the drill restores into (default $TMPDIR); needs twice the snapshot's size free",
	"check.max_rpo_warning":  "with deltas on, a recovery point older than this is a WARNING (the newest delta segment's coverage)",
	"check.max_rpo_critical": "with deltas on, a recovery point older than this is CRITICAL; so is a broken delta chain",
	"delta.interval":         "commit the changes etcd made as a delta segment this often: the recovery point (0: full snapshots only)",
	"delta.max_bytes":        "cut a delta segment early when its events reach this size (it is also cut at 4 MiB compressed); also the most held in memory while the store is down (then a full snapshot follows)",
	"check.verify":           "re-read the newest data object and compare its sha256 with the manifest",
	"check.format":           "report format: text (Nagios plugin), json or prometheus",
	"check.textfile":         "also write the report in Prometheus format to this file (node_exporter textfile collector)",
}

// BindFlags adds --config and a flag for every key under the given
// top-level sections ("etcd", "store", "cluster_name", …; none means all)
// to fs.
func BindFlags(fs *pflag.FlagSet, sections ...string) *Flags {
	return BindFlagsRenamed(fs, nil, sections...)
}

// BindFlagsRenamed is BindFlags with some flags spelled differently, for a
// command whose own settings read better short (check's --format for
// check.format). Environment variables keep their full names.
func BindFlagsRenamed(fs *pflag.FlagSet, renames map[string]string, sections ...string) *Flags {
	f := &Flags{fs: fs, LookupEnv: os.LookupEnv, names: map[string]string{}}
	fs.StringVar(&f.configPath, "config", "", "configuration file (env "+EnvConfigFile+"; default "+DefaultConfigFile+" when it exists)")
	def := Default()
	for _, key := range knownKeys(reflect.TypeOf(*def), "") {
		v, ok := lookup(def, key)
		if !ok || v.Kind() == reflect.Struct && v.Type() != reflect.TypeOf(Duration{}) {
			continue // a section, not a value
		}
		if !inSections(key, sections) {
			continue
		}
		f.keys = append(f.keys, key)
		name := FlagName(key)
		if r, ok := renames[key]; ok {
			name = r
			f.names[key] = r
		}
		fl := fs.VarPF(&rawValue{typ: typeName(v)}, name, "", usage[key]+" (env "+EnvName(key)+", config "+key+")")
		fl.DefValue = formatValue(v)
		if v.Kind() == reflect.Bool {
			fl.NoOptDefVal = "true"
		}
	}
	return f
}

func inSections(key string, sections []string) bool {
	if len(sections) == 0 {
		return true
	}
	for _, s := range sections {
		if key == s || strings.HasPrefix(key, s+".") {
			return true
		}
	}
	return false
}

// Resolve loads the file (from --config, ETCDGUARD_CONFIG, or the default
// path when it exists), applies environment variables, then flags, and
// validates the result.
func (f *Flags) Resolve() (*Config, error) {
	path := f.configPath
	if path == "" {
		path, _ = f.LookupEnv(EnvConfigFile)
	}
	if path == "" {
		if _, err := os.Stat(DefaultConfigFile); err == nil {
			path = DefaultConfigFile
		}
	}
	c, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	var errs []string
	for _, key := range f.keys {
		if s, ok := f.LookupEnv(EnvName(key)); ok {
			if err := c.set(key, s, EnvName(key)); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	for _, key := range f.keys {
		name := FlagName(key)
		if r, ok := f.names[key]; ok {
			name = r
		}
		if fl := f.fs.Lookup(name); fl != nil && fl.Changed {
			if err := c.set(key, fl.Value.String(), "--"+name); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// set parses s into key and records where it came from.
func (c *Config) set(key, s, from string) error {
	v, ok := lookup(c, key)
	if !ok {
		return fmt.Errorf("%s: unknown key %s", from, key)
	}
	fail := func(what string) error { return fmt.Errorf("%s: %s: %q is not %s", from, key, s, what) }
	switch {
	case v.Type() == reflect.TypeOf(Duration{}):
		var d Duration
		if err := d.parse(s); err != nil {
			return fmt.Errorf("%s: %s: %v", from, key, err)
		}
		v.Set(reflect.ValueOf(d))
	case v.Type() == reflect.TypeOf(ByteSize(0)):
		var b ByteSize
		if err := b.parse(s); err != nil {
			return fmt.Errorf("%s: %s: %v", from, key, err)
		}
		v.Set(reflect.ValueOf(b))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Slice:
		var items []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		v.Set(reflect.ValueOf(items))
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fail("an integer")
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fail("a number")
		}
		v.SetFloat(x)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fail("true or false")
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("%s: %s: unsupported type %s", from, key, v.Type())
	}
	c.origin[key] = from
	return nil
}

// lookup finds the field for a dotted key.
func lookup(c *Config, key string) (reflect.Value, bool) {
	v := reflect.ValueOf(c).Elem()
	for _, part := range strings.Split(key, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		idx, ok := fieldsByTag(v.Type())[part]
		if !ok {
			return reflect.Value{}, false
		}
		v = v.Field(idx)
	}
	return v, true
}

func typeName(v reflect.Value) string {
	switch {
	case v.Type() == reflect.TypeOf(Duration{}):
		return "duration"
	case v.Type() == reflect.TypeOf(ByteSize(0)):
		return "size"
	case v.Kind() == reflect.Slice:
		return "strings"
	default:
		return v.Kind().String()
	}
}

func formatValue(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case []string:
		return strings.Join(x, ",")
	case Duration:
		if x.Duration == 0 {
			return ""
		}
		return x.String()
	case ByteSize:
		return x.String()
	default:
		s := fmt.Sprint(x)
		if s == "0" || s == "false" {
			return ""
		}
		return s
	}
}

// rawValue keeps a flag's text; Resolve parses it with the same code as
// environment variables, so both give the same errors.
type rawValue struct {
	s   string
	typ string
}

func (r *rawValue) String() string     { return r.s }
func (r *rawValue) Set(s string) error { r.s = s; return nil }
func (r *rawValue) Type() string       { return r.typ }
