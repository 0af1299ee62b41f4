// Package packaging_test installs, upgrades and removes the etcdguard .deb
// on this machine with the real dpkg, checks it with lintian and
// systemd-analyze, and compares it with the .rpm. It changes the system
// (as root, as CI does on its throwaway machine) and purges what it
// installed, also on failure.
package packaging_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/test/infra"
)

const pkg = "etcdguard"

// requireSystem fails clearly when the test cannot run here.
func requireSystem(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the package tests install the etcdguard .deb with dpkg and must run as root (CI does, on a throwaway machine)")
	}
	var missing []string
	for _, tool := range []string{"dpkg", "dpkg-deb", "lintian", "rpm", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing %v: apt-get install lintian rpm systemd (.ci/run does)", missing)
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Fatalf("%s is already installed on this machine (%s): the test would replace it; remove it first", pkg, out)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildPackages runs the release program for this machine's architecture
// and returns the .deb and .rpm paths.
func buildPackages(t *testing.T, version string) (deb, rpm string) {
	t.Helper()
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dist := t.TempDir()
	cmd := exec.Command("go", "run", ".", "-snapshot", "-only", "packages", "-arches", runtime.GOARCH,
		"-version", version, "-root", root, "-dist", dist)
	cmd.Dir = filepath.Join(root, "internal", "release")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release program: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(dist, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("want one .deb and one .rpm in %s, got %v %v", dist, debs, rpms)
	}
	return debs[0], rpms[0]
}

// nextPatch returns version with its patch number plus one.
func nextPatch(t *testing.T, version string) string {
	core, _, _ := strings.Cut(version, "-")
	parts := strings.Split(core, ".")
	patch, err := strconv.Atoi(parts[2])
	if err != nil {
		t.Fatalf("VERSION %q: %v", version, err)
	}
	return fmt.Sprintf("%s.%s.%d", parts[0], parts[1], patch+1)
}

// debFiles lists the regular files and symlinks in a .deb (no directories).
func debFiles(t *testing.T, deb string) []string {
	var files []string
	for _, line := range strings.Split(run(t, "dpkg-deb", "-c", deb), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || strings.HasPrefix(f[0], "d") {
			continue
		}
		files = append(files, strings.TrimPrefix(f[5], "."))
	}
	sort.Strings(files)
	return files
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

const (
	configFile = "/etc/etcdguard/config.yaml"
	agentUnit  = "/lib/systemd/system/etcdguard.service"
)

// The .deb is lintian-clean, installs the binary, units and config, keeps
// an edited config across an upgrade, and dpkg -r leaves only the conffile.
func TestDebInstallUpgradeRemove(t *testing.T) {
	requireSystem(t)
	version, err := infra.Version()
	if err != nil {
		t.Fatal(err)
	}
	newer := nextPatch(t, version)
	deb, rpm := buildPackages(t, version)
	debNewer, _ := buildPackages(t, newer)
	for _, p := range []string{deb, rpm, debNewer} {
		if fi, err := os.Stat(p); err == nil {
			t.Logf("built %s (%d bytes)", filepath.Base(p), fi.Size())
		}
	}

	t.Run("lintian", func(t *testing.T) {
		// Only the overrides shipped in the package (each with its reason)
		// may silence a tag; any error or warning fails.
		out, err := exec.Command("lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", deb).CombinedOutput()
		if err != nil {
			t.Fatalf("lintian: %v\n%s", err, out)
		}
		t.Logf("lintian clean: %s", strings.TrimSpace(strings.ReplaceAll(string(out), "running with root privileges is not recommended!", "")))
	})

	t.Run("rpm lists the same files", func(t *testing.T) {
		// The documented differences: Debian bookworm's lintian wants units
		// under /lib (the same directory under merged /usr); lintian
		// overrides mean nothing to rpm; RPM distributions keep the licence
		// in /usr/share/licenses (%license), Debian in the copyright file.
		var fromDeb []string
		for _, f := range debFiles(t, deb) {
			if f == "/usr/share/lintian/overrides/etcdguard" {
				continue
			}
			fromDeb = append(fromDeb, strings.Replace(f, "/lib/systemd/", "/usr/lib/systemd/", 1))
		}
		sort.Strings(fromDeb)
		var fromRPM []string
		for _, f := range strings.Fields(run(t, "rpm", "-qlp", rpm)) {
			if f != "/usr/share/licenses/etcdguard/LICENSE" {
				fromRPM = append(fromRPM, f)
			}
		}
		sort.Strings(fromRPM)
		if strings.Join(fromDeb, "\n") != strings.Join(fromRPM, "\n") {
			t.Fatalf("the .deb and the .rpm ship different files:\n.deb: %v\n.rpm: %v", fromDeb, fromRPM)
		}
		if cf := run(t, "rpm", "-qcp", rpm); strings.TrimSpace(cf) != configFile {
			t.Fatalf("rpm config files: %q, want %s", cf, configFile)
		}
	})

	t.Cleanup(func() {
		// Whatever happened above: leave the machine as it was.
		if out, err := exec.Command("dpkg", "--purge", pkg).CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge %s: %v\n%s", pkg, err, out)
		}
	})
	run(t, "dpkg", "-i", deb)
	if got := run(t, "/usr/bin/etcdguard", "version"); !strings.HasPrefix(got, "etcdguard "+version+" ") {
		t.Fatalf("installed etcdguard version: %q, want %s", got, version)
	}
	installed := debFiles(t, deb)
	for _, f := range installed {
		if !fileExists(f) {
			t.Errorf("%s is in the package but not on disk", f)
		}
	}
	if got := strings.TrimSpace(run(t, "dpkg-query", "--control-show", pkg, "conffiles")); got != configFile {
		t.Errorf("conffiles: %q, want %s", got, configFile)
	}
	// The units as installed: ExecStart names the packaged binary, and
	// systemd's own checker accepts them.
	unit, _ := os.ReadFile(agentUnit)
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/etcdguard agent --config /etc/etcdguard/config.yaml") {
		t.Errorf("%s does not start /usr/bin/etcdguard:\n%s", agentUnit, unit)
	}
	run(t, "systemd-analyze", "verify", agentUnit, "/lib/systemd/system/etcdguard-snapshot.service", "/lib/systemd/system/etcdguard-snapshot.timer")
	// A man page for etcdguard and each of its commands (etcdguard man, from
	// --help), so lintian needs no no-manual-page override any more.
	for _, cmd := range commands(t, run(t, "/usr/bin/etcdguard", "--help")) {
		if page := "/usr/share/man/man1/etcdguard-" + cmd + ".1.gz"; !fileExists(page) {
			t.Errorf("no man page %s for etcdguard %s", page, cmd)
		}
	}
	if !fileExists("/usr/share/man/man1/etcdguard.1.gz") {
		t.Error("no man page /usr/share/man/man1/etcdguard.1.gz")
	}
	if o := readFile(t, "/usr/share/lintian/overrides/etcdguard"); strings.Contains(o, "no-manual-page") {
		t.Errorf("the lintian overrides still silence no-manual-page:\n%s", o)
	}
	// The example configuration decodes (strictly) as shipped.
	run(t, "/usr/bin/etcdguard", "list", "--config", configFile, "--store-url", "file://"+t.TempDir())

	// A local edit survives the upgrade.
	edited := strings.Replace(readFile(t, configFile), "cluster_name: my-cluster", "cluster_name: prod-eu1 # edited on this node", 1)
	if err := os.WriteFile(configFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "dpkg", "-i", debNewer)
	if got := run(t, "/usr/bin/etcdguard", "version"); !strings.HasPrefix(got, "etcdguard "+newer+" ") {
		t.Fatalf("after the upgrade etcdguard version is %q, want %s", got, newer)
	}
	if got := readFile(t, configFile); got != edited {
		t.Fatalf("the upgrade to %s replaced the edited %s:\n%s", newer, configFile, got)
	}
	for _, leftover := range []string{configFile + ".dpkg-dist", configFile + ".dpkg-old"} {
		if fileExists(leftover) {
			t.Errorf("the upgrade left %s", leftover)
		}
	}
	t.Logf("dpkg -i %s over %s kept the edited %s: %q", filepath.Base(debNewer), version, configFile, editedLine(edited))

	// Remove (not purge): only the conffile stays, as edited.
	run(t, "dpkg", "-r", pkg)
	for _, f := range installed {
		if f != configFile && fileExists(f) {
			t.Errorf("dpkg -r left %s", f)
		}
	}
	if got := readFile(t, configFile); got != edited {
		t.Errorf("dpkg -r changed the conffile:\n%s", got)
	}
	if st := run(t, "dpkg-query", "-W", "-f=${Status}", pkg); st != "deinstall ok config-files" {
		t.Errorf("status after dpkg -r: %q", st)
	}
	t.Logf("dpkg -r removed the %d other files and left %s as edited (status deinstall ok config-files)", len(installed)-1, configFile)
	run(t, "dpkg", "--purge", pkg)
	if fileExists(configFile) || fileExists(filepath.Dir(configFile)) {
		t.Errorf("dpkg --purge left %s", filepath.Dir(configFile))
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// editedLine is the line of the config the test edited.
func editedLine(config string) string {
	for _, l := range strings.Split(config, "\n") {
		if strings.Contains(l, "# edited on this node") {
			return l
		}
	}
	return ""
}

// commands are the command names of `etcdguard --help` (help itself has
// no page of its own).
func commands(t *testing.T, help string) []string {
	t.Helper()
	_, list, ok := strings.Cut(help, "Available Commands:\n")
	if !ok {
		t.Fatalf("etcdguard --help lists no commands:\n%s", help)
	}
	var names []string
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(line, "  ") {
			break
		}
		if f[0] != "help" {
			names = append(names, f[0])
		}
	}
	if len(names) < 5 {
		t.Fatalf("etcdguard --help lists only %v", names)
	}
	return names
}
