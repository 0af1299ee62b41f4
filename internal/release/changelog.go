package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// changelog is CHANGELOG.md (Keep a Changelog): one section per release,
// newest first, each with "### Added"/"### Changed"/... lists.
type changelog struct {
	sections []changelogSection
}

type changelogSection struct {
	version string    // "0.1.0", or "Unreleased"
	date    time.Time // zero for Unreleased
	entries []string  // "Added: ...", one per list item, unwrapped
}

var sectionHeading = regexp.MustCompile(`^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?\s*$`)

func readChangelog(path string) (*changelog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read changelog: %w", err)
	}
	c := &changelog{}
	var cur *changelogSection
	kind := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			m := sectionHeading.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("%s:%d: a release heading is \"## [X.Y.Z] - YYYY-MM-DD\" or \"## [Unreleased]\", not %q", path, n, line)
			}
			s := changelogSection{version: m[1]}
			if m[1] != "Unreleased" {
				if s.date, err = time.Parse("2006-01-02", m[2]); err != nil {
					return nil, fmt.Errorf("%s:%d: release %s needs a date (## [%s] - YYYY-MM-DD)", path, n, m[1], m[1])
				}
			}
			c.sections = append(c.sections, s)
			cur = &c.sections[len(c.sections)-1]
			kind = ""
		case cur == nil:
		case strings.HasPrefix(line, "### "):
			kind = strings.TrimSpace(strings.TrimPrefix(line, "### "))
		case strings.HasPrefix(line, "- "):
			cur.entries = append(cur.entries, kind+": "+strings.TrimSpace(line[2:]))
		case strings.HasPrefix(line, "  ") && strings.TrimSpace(line) != "" && len(cur.entries) > 0:
			cur.entries[len(cur.entries)-1] += " " + strings.TrimSpace(line)
		}
	}
	return c, sc.Err()
}

func (c *changelog) section(version string) *changelogSection {
	for i := range c.sections {
		if c.sections[i].version == version {
			return &c.sections[i]
		}
	}
	return nil
}

// debian renders the Debian changelog of a native package at version
// (dpkg-parsechangelog's format, lines within 80 columns): every released
// section, newest first, headed by a development entry when version has no
// section of its own (a -snapshot build).
func (c *changelog) debian(pkg, version, maintainer string, built time.Time) []byte {
	var out strings.Builder
	entry := func(v string, date time.Time, items []string) {
		fmt.Fprintf(&out, "%s (%s) unstable; urgency=medium\n\n", pkg, debianVersion(v))
		for _, it := range items {
			for i, l := range wrap(it, 76) {
				if i == 0 {
					fmt.Fprintf(&out, "  * %s\n", l)
				} else {
					fmt.Fprintf(&out, "    %s\n", l)
				}
			}
		}
		fmt.Fprintf(&out, "\n -- %s  %s\n\n", maintainer, date.UTC().Format(time.RFC1123Z))
	}
	if c.section(version) == nil {
		items := []string{"Development build: not a release. See CHANGELOG.md, [Unreleased]."}
		if u := c.section("Unreleased"); u != nil {
			items = append(items, u.entries...)
		}
		entry(version, built, items)
	}
	for _, s := range c.sections {
		if s.version != "Unreleased" {
			entry(s.version, s.date, s.entries)
		}
	}
	return []byte(strings.TrimRight(out.String(), "\n") + "\n")
}

// debianVersion maps semver's 1.2.3-rc1 to dpkg's 1.2.3~rc1, which sorts
// before 1.2.3 as semver does.
func debianVersion(v string) string { return strings.Replace(v, "-", "~", 1) }

func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// gzipMax compresses as `gzip -9n` does (lintian checks the best
// compression flag; no name or time in the header, so bytes are stable).
func gzipMax(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
