package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"0.1.0": true, "1.20.3": true, "1.0.0-rc1": true, "1.0.0-beta.2": true,
		"v0.1.0": false, "0.1": false, "01.2.3": false, "1.2.3-RC1": false, "1.2.3+meta": false, "": false,
	} {
		if err := validVersion(v); (err == nil) != ok {
			t.Errorf("validVersion(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}

func TestSignSumsWithoutAKeySaysWhatIsMissing(t *testing.T) {
	sums := filepath.Join(t.TempDir(), "x_SHA256SUMS")
	if err := os.WriteFile(sums, []byte("00  a.zip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := signSums(sums, "", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "NOT SIGNED: x_SHA256SUMS has no .sig because GPG_FINGERPRINT is not set") {
		t.Fatalf("message: %q", out.String())
	}
	if _, err := os.Stat(sums + ".sig"); !os.IsNotExist(err) {
		t.Fatal("a .sig was written without a key")
	}
}

func TestChangelogRendersDebianEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "CHANGELOG.md")
	md := "# Changelog\n\nintro\n\n## [Unreleased]\n\n### Added\n- next thing\n\n" +
		"## [0.2.0] - 2026-12-01\n\n### Added\n- a long entry that goes on and on about what was added to the product in this release\n  and continues here.\n### Fixed\n- a bug\n\n" +
		"## [0.1.0] - 2026-11-01\n\n### Added\n- first\n"
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := readChangelog(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.section("0.2.0") == nil || c.section("0.3.0") != nil || len(c.section("0.2.0").entries) != 2 {
		t.Fatalf("sections: %+v", c.sections)
	}
	got := string(c.debian("etcdguard", "0.2.0", "M <m@example.com>", time.Time{}))
	want := `etcdguard (0.2.0) unstable; urgency=medium

  * Added: a long entry that goes on and on about what was added to the product
    in this release and continues here.
  * Fixed: a bug

 -- M <m@example.com>  Tue, 01 Dec 2026 00:00:00 +0000

etcdguard (0.1.0) unstable; urgency=medium

  * Added: first

 -- M <m@example.com>  Sun, 01 Nov 2026 00:00:00 +0000
`
	if got != want {
		t.Fatalf("debian changelog:\n%s\nwant:\n%s", got, want)
	}
	// A snapshot build of an unreleased version heads the log with the
	// [Unreleased] entries.
	snap := string(c.debian("etcdguard", "0.3.0-rc1", "M <m@example.com>", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)))
	if !strings.HasPrefix(snap, "etcdguard (0.3.0~rc1) unstable; urgency=medium\n\n  * Development build: not a release.") || !strings.Contains(snap, "  * Added: next thing\n") {
		t.Fatalf("snapshot changelog:\n%s", snap)
	}
}

func TestChangelogRefusesAReleaseWithoutADate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "CHANGELOG.md")
	if err := os.WriteFile(path, []byte("## [0.2.0]\n- x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readChangelog(path); err == nil || !strings.Contains(err.Error(), "release 0.2.0 needs a date") {
		t.Fatalf("err = %v", err)
	}
}

func TestPackagedUnitsStartTheInstalledBinary(t *testing.T) {
	dst, err := packagedUnits("../../backup/systemd", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"etcdguard.service", "etcdguard-snapshot.service", "etcdguard-snapshot.timer"} {
		b, err := os.ReadFile(filepath.Join(dst, u))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "/usr/local/bin") {
			t.Errorf("%s still names /usr/local/bin", u)
		}
		if strings.HasSuffix(u, ".service") && !strings.Contains(string(b), "ExecStart=/usr/bin/etcdguard ") {
			t.Errorf("%s does not start /usr/bin/etcdguard", u)
		}
	}
}
