package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"go.yaml.in/yaml/v3"
)

// Load reads a configuration file strictly over the defaults and validates
// it. An empty path means the defaults alone.
func Load(path string) (*Config, error) {
	c, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// loadFile decodes the file at path (none when "") strictly over the
// defaults, without validating: flags and environment may still change it.
func loadFile(path string) (*Config, error) {
	c := Default()
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.decode(path, b); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes YAML (named name in errors) strictly over the defaults and
// validates it.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	if err := c.decode(name, data); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decode walks the YAML tree against the Config struct itself rather than
// trusting yaml's KnownFields, so that every error names the full key
// ("store.sse"), its line, and for a known key in the wrong place, where it
// belongs.
func (c *Config) decode(name string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is the defaults
		}
		return fmt.Errorf("config %s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("config %s:%d: a second YAML document; etcdguard reads one", name, extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	d := decoder{name: name, cfg: c, known: knownKeys(reflect.TypeOf(*c), "")}
	d.walk(root, reflect.ValueOf(c).Elem(), "")
	if len(d.errs) > 0 {
		return fmt.Errorf("config %s:\n  %s", name, strings.Join(d.errs, "\n  "))
	}
	return nil
}

type decoder struct {
	name  string
	cfg   *Config
	known []string // every key path in the schema, for "did you mean"
	errs  []string
}

func (d *decoder) fail(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, fmt.Sprintf("%s:%d: ", d.name, n.Line)+fmt.Sprintf(format, args...))
}

func (d *decoder) walk(n *yaml.Node, v reflect.Value, path string) {
	if v.Kind() == reflect.Struct && v.Type() != reflect.TypeOf(Duration{}) {
		d.walkStruct(n, v, path)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(n, "%s: %s", path, describeDecodeError(n, v, err))
	}
}

func (d *decoder) walkStruct(n *yaml.Node, v reflect.Value, path string) {
	where := "at the top level"
	if path != "" {
		where = "under " + path
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, "%s must be a mapping of keys, got %s", orTop(path), kindName(n))
		return
	}
	fields := fieldsByTag(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if line, dup := seen[k.Value]; dup {
			d.fail(k, "key %q is already set at line %d", join(path, k.Value), line)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown key %q %s", k.Value, where)
			if elsewhere := d.placesOf(k.Value); len(elsewhere) > 0 {
				msg += fmt.Sprintf("; it belongs at %s", strings.Join(elsewhere, " or "))
			} else {
				msg += fmt.Sprintf(" (known: %s)", strings.Join(sortedKeys(fields), ", "))
			}
			d.fail(k, "%s", msg)
			continue
		}
		d.cfg.origin[join(path, k.Value)] = fmt.Sprintf("%s:%d", d.name, k.Line)
		d.walk(val, v.Field(idx), join(path, k.Value))
	}
}

// placesOf lists the schema paths whose last segment is key.
func (d *decoder) placesOf(key string) []string {
	var out []string
	for _, p := range d.known {
		if p == key || strings.HasSuffix(p, "."+key) {
			out = append(out, p)
		}
	}
	return out
}

func describeDecodeError(n *yaml.Node, v reflect.Value, err error) string {
	want := v.Kind().String()
	switch {
	case v.Type() == reflect.TypeOf(Duration{}), v.Type() == reflect.TypeOf(ByteSize(0)):
		return err.Error()
	case v.Kind() == reflect.Slice:
		want = "a list of strings"
	case v.Kind() == reflect.Int:
		want = "an integer"
	case v.Kind() == reflect.Float64:
		want = "a number"
	case v.Kind() == reflect.Bool:
		want = "true or false"
	case v.Kind() == reflect.String:
		want = "a string"
	}
	return fmt.Sprintf("%q is not %s", n.Value, want)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "something else"
	}
}

func orTop(path string) string {
	if path == "" {
		return "the configuration"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldsByTag(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if tag := yamlName(t.Field(i)); tag != "" {
			m[tag] = i
		}
	}
	return m
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	return strings.Split(f.Tag.Get("yaml"), ",")[0]
}

func knownKeys(t reflect.Type, path string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		p := join(path, name)
		out = append(out, p)
		if ft := t.Field(i).Type; ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration{}) {
			out = append(out, knownKeys(ft, p)...)
		}
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// UnmarshalYAML accepts "90s", "30m", "2h".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s is not a duration like 30s, 5m or 2h", kindName(n))
	}
	return d.parse(n.Value)
}

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s, 5m or 2h", s)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration back in its string form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d Duration) String() string { return d.Duration.String() }

// ByteSize is a size written with a unit ("64MiB", "512KiB", "1GB"); a
// bare number is bytes.
type ByteSize int64

// UnmarshalYAML accepts "64MiB", "1GiB", "1048576".
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s is not a size like 64MiB", kindName(n))
	}
	return b.parse(n.Value)
}

func (b *ByteSize) parse(s string) error {
	v, err := humanize.ParseBytes(s)
	if err != nil || v > 1<<62 {
		return fmt.Errorf("%q is not a size like 64MiB or 1GiB", s)
	}
	*b = ByteSize(v)
	return nil
}

// MarshalYAML writes the size back with its unit.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

func (b ByteSize) String() string { return humanize.IBytes(uint64(b)) }
