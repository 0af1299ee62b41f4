package backup_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

// Full disks, for real: a small tmpfs fills up and the kernel answers
// ENOSPC. Nothing half-written may look complete, nothing is left behind,
// and once there is room again the next run succeeds.

// A file:// store on a disk too small for the snapshot.
func TestFaultDiskFullFileStore(t *testing.T) {
	e := infra.StartEtcd(t)
	fillEtcd(t, e, 12) // incompressible: 12 MiB stored
	disk := infra.SmallDisk(t, 4<<20)
	storeDir := filepath.Join(disk, "backups")
	env := []string{
		"ETCDGUARD_CLUSTER_NAME=" + snapCluster,
		"ETCDGUARD_ETCD_ENDPOINTS=" + strings.Join(e.Endpoints, ","),
		"ETCDGUARD_STORE_URL=file://" + storeDir,
		"ETCDGUARD_METRICS_LISTEN=",
		"ETCDGUARD_CONFIG=/dev/null",
	}

	out, stderr, code := snapRun(t, env, "snapshot")
	if code != 1 || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("snapshot onto a full disk: exit %d, want 1 saying so\n%s%s", code, out, stderr)
	}
	var left []string
	_ = filepath.WalkDir(storeDir, func(p string, d os.DirEntry, err error) error {
		// The failure record is what check reports; anything else would
		// be a piece of the snapshot.
		if rel := strings.TrimPrefix(p, storeDir+"/"); err == nil && !d.IsDir() && rel != "_etcdguard/"+snapCluster+"/last-failure.json" {
			left = append(left, rel)
		}
		return nil
	})
	if len(left) > 0 {
		t.Fatalf("a failed snapshot left %v in the store", left)
	}
	if lout, lerr, lcode := snapRun(t, env, "list"); lcode != 0 || !strings.Contains(lout+lerr, "no complete snapshot of cluster") {
		t.Fatalf("list after the failed snapshot: exit %d\n%s%s", lcode, lout, lerr)
	}
	t.Logf("snapshot onto a 4 MiB disk: exit 1, %q; nothing left in the store", lastLineOf(stderr))

	infra.GrowDisk(t, disk, 64<<20)
	if out, stderr, code := snapRun(t, env, "snapshot"); code != 0 {
		t.Fatalf("snapshot once there is room: exit %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code := snapRun(t, env, "verify"); code != 0 {
		t.Fatalf("verify of the snapshot taken once there was room: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("with room again (64 MiB), the next snapshot succeeds and verifies")
}

// A disk that fills up while the restore downloads (the free-space check
// passed; something else took the room): the restore fails saying why,
// removes its work dir and leaves the data dir as it was (missing); with
// room again, the next restore succeeds.
func TestFaultDiskFullMidRestore(t *testing.T) {
	e, s := etcdWithSnapshot(t, 12)
	disk := infra.SmallDisk(t, 160<<20) // twice the snapshot plus the WAL's 80 MiB fit
	target := filepath.Join(disk, "etcd")
	work := filepath.Join(disk, ".etcd.etcdguard-restore-*")
	proxy := startS3Proxy(t, s.Endpoint)
	proxy.SetDelay(2 * time.Second)

	p := snapStart(t, snapEnv(e, s, proxy.URL()), "restore", "--data-dir", target, "--no-bump-revision")
	waitFor(t, 60*time.Second, "the restore's work dir", func() bool { m, _ := filepath.Glob(work); return len(m) > 0 })
	filler := filepath.Join(disk, "filler")
	fillDisk(t, filler)
	if code := p.waitExit(t, 60*time.Second); code != 1 || !strings.Contains(p.log(), "no space left on device") {
		t.Fatalf("restore onto a disk that filled up: exit %d, want 1 saying so\n%s", code, p.log())
	}
	if m, _ := filepath.Glob(work); len(m) > 0 {
		t.Fatalf("the failed restore left its work dir %v", m)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed restore touched the data dir: %v", err)
	}
	t.Logf("disk filled mid-download: exit 1, %q; work dir removed, data dir not created", lastLineOf(p.log()))

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := snapRun(t, snapEnv(e, s, ""), "restore", "--data-dir", target, "--no-bump-revision"); code != 0 {
		t.Fatalf("restore once there is room: exit %d\n%s%s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(target, "member", "snap", "db")); err != nil {
		t.Fatalf("restored data dir: %v", err)
	}
	t.Logf("with room again, the next restore succeeds")
}

// A drill whose work dir has no room is refused before anything is
// downloaded, saying how much it needs.
func TestFaultDiskFullDrill(t *testing.T) {
	e, s := etcdWithSnapshot(t, 12)
	disk := infra.SmallDisk(t, 8<<20)
	out, stderr, code := snapRun(t, snapEnv(e, s, ""), "drill", "--work-dir", disk, "--no-record")
	if code != 1 || !strings.Contains(out+stderr, "not enough free space on the filesystem of "+disk) {
		t.Fatalf("drill on an 8 MiB disk: exit %d, want 1 naming the free space\n%s%s", code, out, stderr)
	}
	if entries, _ := os.ReadDir(disk); len(entries) > 0 {
		t.Fatalf("the refused drill left %d entries in its work dir", len(entries))
	}
	t.Logf("drill on an 8 MiB disk: exit 1, %q", lastLineOf(out+stderr))
}

// etcdWithSnapshot starts etcd holding mib MiB of incompressible values
// and an S3 store holding one snapshot of it.
func etcdWithSnapshot(t *testing.T, mib int) (*infra.Etcd, *infra.S3) {
	t.Helper()
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, mib)
	if out, stderr, code := snapRun(t, snapEnv(e, s, ""), "snapshot"); code != 0 {
		t.Fatalf("snapshot exit %d\n%s%s", code, out, stderr)
	}
	return e, s
}

// fillDisk writes path until its filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}
