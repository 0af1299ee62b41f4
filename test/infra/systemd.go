package infra

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A real systemd as PID 1, for the tests of the shipped unit files: the
// test's own PID, mount, UTS, IPC and cgroup namespaces (the network stays
// shared, so units reach the harness's etcd and S3 on 127.0.0.1).
//
// Booting systemd in a mount namespace that shares the machine's
// filesystem is destructive: systemd-tmpfiles-setup once wiped the host's
// /tmp that way. So before systemd is exec'd, inside the private mount
// namespace (propagation private: nothing leaks back), every place it or
// a unit may write is replaced:
//
//   - /tmp, /run, /var, /dev/shm, /etc/systemd/system: fresh tmpfs;
//   - /etc and /usr: overlays whose upper layer is a tmpfs (writes, e.g.
//     /etc/group or /usr/local/bin, never reach the disk);
//   - /dev: a tmpfs with only the harmless nodes bound in (no host /dev/log,
//     /dev/shm, /dev/mqueue);
//   - /sys (each of its submounts too) and /proc/sys: read-only;
//     /sys/fs/cgroup: the test's own cgroup subtree only (a cgroup
//     namespace rooted at fresh child cgroups);
//   - / itself and every other host mount (/home, /work, ...) are
//     remounted read-only last, so a path the list above missed fails
//     loudly instead of changing the host; host files bound in are
//     read-only too, host directories bound in (an etcd data dir) are
//     the one writable exception.
//
// systemd sees only the units the test installs ($SYSTEMD_UNIT_PATH is
// /etc/systemd/system alone, the tmpfs): none of the stock units that
// alter a machine (tmpfiles, sysctl, sysusers, modules-load, udev, getty,
// remount-fs, ...) exist for it. It boots into k8sguard-test.target, which
// starts journald and nothing else. The cleanup kills the namespace's PID 1
// with SIGKILL (which ends every process in it) and removes the cgroups,
// pass or fail, then checks that a marker file in the host's /tmp survived.

// SkipSystemdEnv is the opt-out from the tests that boot systemd as PID 1.
// They need root, util-linux's unshare and nsenter, and systemd installed
// (CI installs it).
const SkipSystemdEnv = "K8SGUARD_SKIP_SYSTEMD"

// ReasonSkipSystemd is the skip summary's wording for that opt-out.
const ReasonSkipSystemd = SkipSystemdEnv + "=1 (tests that boot systemd as PID 1 in a namespace)"

// SystemdFile is a file installed inside the namespace before boot.
type SystemdFile struct {
	Path string // absolute, under /etc, /usr/local or /var
	Data []byte
	Mode os.FileMode
	UID  int
	GID  int
}

// SystemdOptions say what the nested systemd finds at boot.
type SystemdOptions struct {
	// Units are unit files and drop-ins by their path under
	// /etc/systemd/system ("etcdguard.service",
	// "etcd.service.d/etcdguard-preflight.conf").
	Units map[string][]byte
	// Files are installed with their mode and owner.
	Files []SystemdFile
	// Binds bind-mount host paths (files or directories) inside: the
	// key is the path inside, under /etc, /usr/local or /var.
	Binds map[string]string
	// Groups are lines appended to the namespace's /etc/group
	// ("etcd-backup:x:950:").
	Groups []string
}

// stockUnits are copied from the machine's systemd: journald, and the
// targets a unit's default dependencies name (-.slice and system.slice are
// built into systemd).
var stockUnits = []string{
	"systemd-journald.service", "systemd-journald.socket",
	"shutdown.target", "sockets.target", "timers.target", "paths.target", "slices.target",
	"network.target", "network-online.target", "time-set.target", "time-sync.target",
}

// ownUnits stand in for the boot targets: empty, so a unit's default
// dependencies (Requires=sysinit.target, After=basic.target) hold without
// starting the machine's early-boot services.
var ownUnits = map[string]string{
	"sysinit.target": "[Unit]\nDescription=k8sguard test: sysinit (empty)\nDefaultDependencies=no\n",
	"basic.target":   "[Unit]\nDescription=k8sguard test: basic (empty)\nDefaultDependencies=no\nRequires=sysinit.target\nAfter=sysinit.target\n",
	"k8sguard-test.target": "[Unit]\nDescription=k8sguard test: the only boot target\nDefaultDependencies=no\n" +
		"Wants=systemd-journald.service\nAfter=systemd-journald.service\n",
}

// Systemd is a running systemd, PID 1 of its own namespaces.
type Systemd struct {
	// PID is systemd's process ID on the host.
	PID     int
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

// systemdPrograms are what the harness runs; a missing one fails the test.
var systemdPrograms = []string{"/lib/systemd/systemd", "unshare", "nsenter", "mount", "systemctl", "journalctl"}

// NeedSystemd skips the test on the opt-out and fails it when what a
// systemd as PID 1 needs is missing. StartSystemd calls it; a test calls
// it first to fail (or skip) before it starts anything else.
func NeedSystemd(t TB) {
	t.Helper()
	if os.Getenv(SkipSystemdEnv) == "1" {
		Skip(t, ReasonSkipSystemd, "unset "+SkipSystemdEnv+" to boot systemd as PID 1 (needs root, systemd, unshare, nsenter)")
	}
	for _, p := range systemdPrograms {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s not found (%v): the systemd tests boot a real systemd as PID 1 and need systemd and util-linux "+
				"(apt-get install systemd util-linux; .ci/run does); %s=1 skips them, and the run says so", p, err, SkipSystemdEnv)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("booting systemd as PID 1 in a namespace needs root (euid %d); %s=1 skips these tests, and the run says so", os.Geteuid(), SkipSystemdEnv)
	}
}

// StartSystemd boots systemd as PID 1 of fresh namespaces, isolated from
// the host as the comment above says, and waits until it runs.
func StartSystemd(t TB, opts SystemdOptions) *Systemd {
	t.Helper()
	NeedSystemd(t)

	// The host's /tmp must come out of this untouched.
	marker, err := os.CreateTemp("/tmp", "k8sguard-systemd-marker-")
	if err != nil {
		t.Fatalf("marker in /tmp: %v", err)
	}
	marker.Close()
	t.Cleanup(func() { os.Remove(marker.Name()) }) // last: after the check below

	dir := t.TempDir()
	stage := filepath.Join(dir, "stage")
	var script strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&script, format+"\n", args...) }
	q := shellQuote

	// Files and units, written to the stage and installed by the script.
	var installs []SystemdFile
	for _, name := range stockUnits {
		b, err := os.ReadFile(filepath.Join("/lib/systemd/system", name))
		if err != nil {
			t.Fatalf("stock unit %s: %v", name, err)
		}
		installs = append(installs, SystemdFile{Path: "/etc/systemd/system/" + name, Data: b, Mode: 0o644})
	}
	for name, body := range ownUnits {
		installs = append(installs, SystemdFile{Path: "/etc/systemd/system/" + name, Data: []byte(body), Mode: 0o644})
	}
	for name, body := range opts.Units {
		installs = append(installs, SystemdFile{Path: path.Join("/etc/systemd/system", name), Data: body, Mode: 0o644})
	}
	installs = append(installs, opts.Files...)
	srcs := make([]string, len(installs)) // each file's copy in the stage
	for i, f := range installs {
		if !writableInside(f.Path) {
			t.Fatalf("systemd test file %s: only paths under /etc, /usr/local and /var can be installed", f.Path)
		}
		src := filepath.Join(stage, fmt.Sprintf("f%d", i))
		if err := os.MkdirAll(stage, 0o700); err != nil {
			t.Fatalf("%v", err)
		}
		if err := os.WriteFile(src, f.Data, 0o600); err != nil {
			t.Fatalf("%v", err)
		}
		srcs[i] = src
	}

	// The cgroups: a fresh child of this process's cgroup in each
	// hierarchy systemd uses, so it manages that subtree and nothing else.
	cgroups, err := privateCgroups("k8sguard-systemd-" + randomHex(t, 4))
	if err != nil {
		t.Fatalf("cgroups for the nested systemd: %v", err)
	}
	removeCgroups := func() {
		for _, c := range cgroups {
			removeCgroupTree(c.host)
		}
	}
	// Registered before the first is made: every failure from here on
	// (a bind that does not exist, systemd not booting) removes them. It
	// runs after the cleanup below that kills the namespace.
	t.Cleanup(removeCgroups)
	for _, c := range cgroups {
		if err := os.Mkdir(c.host, 0o755); err != nil {
			t.Fatalf("create cgroup %s: %v", c.host, err)
		}
		if c.kind == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, _ := os.ReadFile(filepath.Join(filepath.Dir(c.host), f))
				_ = os.WriteFile(filepath.Join(c.host, f), b, 0o644)
			}
		}
	}

	// Stage 1 (PID 1 of the new PID and mount namespace): join the
	// private cgroups, then unshare the cgroup namespace rooted there.
	w("set -eu")
	for _, c := range cgroups {
		w("echo 1 > %s", q(filepath.Join(c.host, "cgroup.procs")))
	}
	w("exec unshare --cgroup /bin/sh %s", q(filepath.Join(dir, "stage2.sh")))
	stage1 := script.String()
	script.Reset()

	// Stage 2: the mounts, then systemd.
	mounts, err := hostMounts()
	if err != nil {
		t.Fatalf("read the mount table: %v", err)
	}
	scratch := filepath.Join(dir, "scratch")
	if err := os.Mkdir(scratch, 0o700); err != nil {
		t.Fatalf("%v", err)
	}
	w("set -eu")
	w("mount --make-rprivate /")
	w("mount -t tmpfs -o mode=0700 k8sguard-scratch %s", q(scratch))
	// /proc/sys and /sys read-only; the cgroup tree: ours only.
	w("mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys")
	w("mount -o remount,bind,ro /sys")
	// A remount is not recursive: /sys's own submounts (debugfs, tracefs,
	// bpf, securityfs, efivarfs, configfs, ...) stay writable unless each
	// is remounted; before the cgroup tmpfs below hides /sys/fs/cgroup.
	for _, mp := range mounts.sys {
		w("mount -o remount,bind,ro %s", q(mp))
	}
	w("mount -t tmpfs -o mode=0755 cgroup-root /sys/fs/cgroup")
	for _, c := range cgroups {
		w("mkdir -p %s && mount -t %s %s %s", q(c.inside), c.fstype, c.options, q(c.inside))
	}
	// /dev: a tmpfs with the harmless nodes.
	dev := filepath.Join(scratch, "dev")
	w("mkdir %s && mount -t tmpfs -o mode=0755,nosuid k8sguard-dev %s", q(dev), q(dev))
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		w("touch %s && mount --bind /dev/%s %s", q(dev+"/"+n), n, q(dev+"/"+n))
	}
	w("touch %s && mount --bind /dev/null %s", q(dev+"/console"), q(dev+"/console"))
	w("mkdir %s && mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts %s", q(dev+"/pts"), q(dev+"/pts"))
	w("ln -s pts/ptmx %s && ln -s /proc/self/fd %s", q(dev+"/ptmx"), q(dev+"/fd"))
	w("mkdir %s && mount -t tmpfs -o mode=1777,nosuid,nodev k8sguard-shm %s", q(dev+"/shm"), q(dev+"/shm"))
	w("mount --move %s /dev", q(dev))
	// /etc and /usr: overlays on tmpfs; /etc/systemd/system, /var, /run:
	// fresh tmpfs.
	for _, d := range []string{"etc", "usr"} {
		up, work := filepath.Join(scratch, d+".up"), filepath.Join(scratch, d+".work")
		w("mkdir %s %s && mount -t overlay k8sguard-%s -o lowerdir=/%s,upperdir=%s,workdir=%s /%s", q(up), q(work), d, d, up, work, d)
	}
	w("mount -t tmpfs -o mode=0755 k8sguard-units /etc/systemd/system")
	w("mount -t tmpfs -o mode=0755 k8sguard-var /var")
	w("mkdir -p /var/tmp /var/lib /var/log /var/cache /var/spool && chmod 1777 /var/tmp && ln -s /run /var/run && ln -s /run/lock /var/lock")
	w("mount -t tmpfs -o mode=0755,nosuid,nodev k8sguard-run /run")
	for _, g := range opts.Groups {
		w("echo %s >> /etc/group", q(g))
	}
	for i, f := range installs {
		w("install -D -m %04o -o %d -g %d %s %s", f.Mode.Perm(), f.UID, f.GID, q(srcs[i]), q(f.Path))
	}
	binds := make([]string, 0, len(opts.Binds))
	for inside := range opts.Binds {
		binds = append(binds, inside)
	}
	sort.Strings(binds)
	for _, inside := range binds {
		host := opts.Binds[inside]
		if !writableInside(inside) {
			t.Fatalf("systemd test bind %s: only paths under /etc, /usr/local and /var can be bound", inside)
		}
		fi, err := os.Stat(host)
		if err != nil {
			t.Fatalf("systemd test bind %s: %v", inside, err)
		}
		if fi.IsDir() { // a data dir: writable
			w("mkdir -p %s && mount --bind %s %s", q(inside), q(host), q(inside))
		} else { // a program or a configuration file: read-only
			w("mkdir -p %s && touch %s", q(path.Dir(inside)), q(inside))
			w("mount --bind %s %s && mount -o remount,bind,ro %s", q(host), q(inside), q(inside))
		}
	}
	// Last: /tmp (the stage lived there), then / and every other host
	// mount read-only.
	w("mount -t tmpfs -o mode=1777,nosuid,nodev k8sguard-tmp /tmp")
	w("mount -o remount,bind,ro /")
	for _, mp := range mounts.others {
		w("mount -o remount,bind,ro %s", q(mp))
	}
	w("exec /lib/systemd/systemd --unit=k8sguard-test.target --log-target=journal --show-status=no")
	if err := os.WriteFile(filepath.Join(dir, "stage2.sh"), []byte(script.String()), 0o600); err != nil {
		t.Fatalf("%v", err)
	}

	logPath := filepath.Join(dir, "systemd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%v", err)
	}
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private", "--mount-proc",
		"--uts", "--ipc", "/bin/sh", "-c", stage1)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"container=k8sguard-test",
		// Only the units the test installs exist for this systemd.
		"SYSTEMD_UNIT_PATH=/etc/systemd/system",
	}
	if err := startInGroupDyingWithUs(cmd); err != nil {
		logFile.Close()
		t.Fatalf("start unshare: %v", err)
	}
	s := &Systemd{LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(s.done) }()
	t.Cleanup(func() {
		if s.PID > 0 {
			_ = syscall.Kill(s.PID, syscall.SIGKILL) // ends the whole PID namespace
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Logf("unshare (pid %d) did not exit 20 s after SIGKILL", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("--- last lines of the nested systemd's console (%s):\n%s", logPath, Tail(logPath, 60))
		}
		if _, err := os.Stat(marker.Name()); err != nil {
			t.Fatalf("THE HOST'S /tmp WAS TOUCHED: the marker %s is gone after the nested systemd ran (%v)", marker.Name(), err)
		}
	})

	// systemd's host PID: unshare's child.
	deadline := time.Now().Add(10 * time.Second)
	for s.PID == 0 {
		s.PID = childOf(cmd.Process.Pid)
		if s.PID == 0 {
			select {
			case <-s.done:
				t.Fatalf("the namespace exited before systemd started (PID namespaces unavailable?); log:\n%s", Tail(logPath, 40))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no child of unshare after 10 s; log:\n%s", Tail(logPath, 40))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		out, _ := s.Exec(5*time.Second, "systemctl", "is-system-running")
		state := strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			if state == "degraded" {
				failed, _ := s.Exec(5*time.Second, "systemctl", "--failed", "--no-legend")
				t.Logf("nested systemd is degraded: %s", failed)
			}
			break
		}
		select {
		case <-s.done:
			t.Fatalf("the nested systemd exited while booting; log:\n%s", Tail(logPath, 60))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nested systemd is %q after 60 s; log:\n%s", state, Tail(logPath, 60))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The isolation holds: the host's root filesystem is read-only here.
	if out, err := s.Exec(10*time.Second, "touch", "/.k8sguard-systemd-probe"); err == nil || !strings.Contains(out, "Read-only file system") {
		os.Remove("/.k8sguard-systemd-probe")
		t.Fatalf("inside the nested systemd's namespace / is writable (touch: %v %s): the isolation from the host failed", err, out)
	}
	return s
}

// Exec runs a command inside the namespaces (nsenter) with a timeout and
// returns its combined output.
func (s *Systemd) Exec(timeout time.Duration, args ...string) (string, error) {
	return s.ExecInput(timeout, nil, args...)
}

// ExecInput is Exec with stdin.
func (s *Systemd) ExecInput(timeout time.Duration, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(s.PID), "-m", "-p", "-u", "-i", "--"}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "LANG=C.UTF-8"}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("%s: timed out after %s", strings.Join(args, " "), timeout)
	}
	return out.String(), err
}

// WriteFile writes a file inside (under /etc, /usr/local or /var).
func (s *Systemd) WriteFile(t TB, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if !writableInside(p) {
		t.Fatalf("write %s inside the namespace: only paths under /etc, /usr/local and /var", p)
	}
	out, err := s.ExecInput(10*time.Second, data, "sh", "-c", `cat > "$1.new" && chmod "$2" "$1.new" && mv "$1.new" "$1"`, "sh", p, fmt.Sprintf("%04o", mode.Perm()))
	if err != nil {
		t.Fatalf("write %s inside the namespace: %v\n%s", p, err, out)
	}
}

// Systemctl runs systemctl inside, bounded by timeout.
func (s *Systemd) Systemctl(timeout time.Duration, args ...string) (string, error) {
	return s.Exec(timeout, append([]string{"systemctl"}, args...)...)
}

// Show returns unit properties (systemctl show -p).
func (s *Systemd) Show(t TB, unit string, props ...string) map[string]string {
	t.Helper()
	out, err := s.Systemctl(10*time.Second, "show", unit, "-p", strings.Join(props, ","))
	if err != nil {
		t.Fatalf("systemctl show %s: %v\n%s", unit, err, out)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// Journal returns the journal of a unit (all boots; there is one).
func (s *Systemd) Journal(unit string) string {
	out, err := s.Exec(20*time.Second, "journalctl", "--no-pager", "-o", "short-precise", "-u", unit)
	if err != nil {
		return out + "\n(journalctl: " + err.Error() + ")"
	}
	return out
}

// mountPoints are the host's mount points the namespace remounts
// read-only: others are the mounts besides / (/home, /work, /boot and the
// like), past those the namespace replaces or does not let systemd write
// (/proc, /sys, /dev, /tmp, /run, /var, /etc, /usr); sys are /sys's
// submounts outside /sys/fs/cgroup (which the namespace replaces).
type mountPoints struct {
	others, sys []string
}

// hostMounts reads this process's mount table.
func hostMounts() (mountPoints, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return mountPoints{}, err
	}
	return parseMountinfo(string(b)), nil
}

func parseMountinfo(mountinfo string) mountPoints {
	seen := map[string]bool{}
	var out mountPoints
	for _, line := range strings.Split(strings.TrimSpace(mountinfo), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == "/" || seen[mp] {
			continue
		}
		seen[mp] = true
		under := func(d string) bool { return mp == d || strings.HasPrefix(mp, d+"/") }
		if strings.HasPrefix(mp, "/sys/") && !under("/sys/fs/cgroup") {
			out.sys = append(out.sys, mp)
			continue
		}
		if !slices.ContainsFunc([]string{"/proc", "/sys", "/dev", "/tmp", "/run", "/var", "/etc", "/usr"}, under) {
			out.others = append(out.others, mp)
		}
	}
	return out
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func writableInside(p string) bool {
	p = path.Clean(p)
	if !path.IsAbs(p) {
		return false
	}
	for _, prefix := range []string{"/etc/", "/usr/local/", "/var/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// childOf returns the PID of a child of ppid, 0 when there is none.
func childOf(ppid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", ppid, ppid))
	if err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			return pid
		}
		return 0
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		if f := strings.Fields(string(rest)); len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			return pid
		}
	}
	return 0
}

// cgroup is one private cgroup: where it is on the host, and how the
// namespace mounts its hierarchy.
type cgroup struct {
	kind    string // "systemd", "unified", a v1 controller list ("memory", "cpuset") or "" (pure v2)
	host    string
	inside  string
	fstype  string
	options string
}

// privateCgroups plans a child named name of this process's cgroup in each
// hierarchy (cgroup v2; or every v1 hierarchy and the unified one).
func privateCgroups(name string) ([]cgroup, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	own := map[string]string{} // hierarchy (controller list or "" for v2) → path
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			own[parts[1]] = parts[2]
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		return nil, err
	}
	const cgroup2Magic = 0x63677270
	if st.Type == cgroup2Magic {
		return []cgroup{{kind: "", host: filepath.Join("/sys/fs/cgroup", own[""], name), inside: "/sys/fs/cgroup", fstype: "cgroup2", options: "cgroup2"}}, nil
	}
	// Every v1 hierarchy this process is in (systemd mounts each one it
	// finds), and the unified one.
	var out []cgroup
	keys := make([]string, 0, len(own))
	for k := range own {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i] == "name=systemd" || keys[j] != "name=systemd" && keys[i] < keys[j]
	})
	for _, key := range keys {
		c := cgroup{kind: key, fstype: "cgroup", options: "-o " + key + " cgroup"}
		dir := key
		switch {
		case key == "":
			c.kind, dir, c.fstype, c.options = "unified", "unified", "cgroup2", "cgroup2"
		case key == "name=systemd":
			c.kind, dir, c.options = "systemd", "systemd", "-o none,name=systemd cgroup"
		case strings.HasPrefix(key, "name="):
			continue
		}
		mount := filepath.Join("/sys/fs/cgroup", dir)
		if _, err := os.Stat(filepath.Join(mount, "cgroup.procs")); err != nil {
			continue
		}
		c.host, c.inside = filepath.Join(mount, own[key], name), "/sys/fs/cgroup/"+dir
		out = append(out, c)
	}
	if len(out) == 0 || out[0].kind != "systemd" {
		return nil, fmt.Errorf("no name=systemd or cgroup2 hierarchy under /sys/fs/cgroup")
	}
	return out, nil
}

// removeCgroupTree removes a cgroup and its children, deepest first,
// retrying while their last processes exit.
func removeCgroupTree(root string) {
	for try := 0; try < 50; try++ {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if len(dirs) == 0 {
			return
		}
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(dirs[i])
		}
		time.Sleep(100 * time.Millisecond)
	}
}
