package infra

import (
	"fmt"
	"os"
	"syscall"
)

// SkipFullDiskEnv is the opt-out from the tests that fill a real
// filesystem: they mount a small tmpfs, which needs root with
// CAP_SYS_ADMIN (CI runs as root on a throwaway machine).
const SkipFullDiskEnv = "K8SGUARD_SKIP_FULL_DISK"

// ReasonSkipFullDisk is the skip summary's wording for that opt-out.
const ReasonSkipFullDisk = SkipFullDiskEnv + "=1 (full-disk tests, which mount a tmpfs)"

// SmallDisk mounts a tmpfs of size bytes for the test and returns its
// mount point, unmounted at cleanup: a filesystem that fills up for real,
// so writes fail with the kernel's ENOSPC, not an injected error.
func SmallDisk(t TB, size int64) string {
	t.Helper()
	if os.Getenv(SkipFullDiskEnv) == "1" {
		Skip(t, ReasonSkipFullDisk, "unset "+SkipFullDiskEnv+" to run the full-disk tests (they need root to mount a tmpfs)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount a %d-byte tmpfs at %s for a full-disk test: %v. It needs root with CAP_SYS_ADMIN (CI has it); %s=1 skips these tests, and the run says so",
			size, dir, err, SkipFullDiskEnv)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// GrowDisk resizes a SmallDisk: the operator freeing space.
func GrowDisk(t TB, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("resize the tmpfs at %s to %d bytes: %v", dir, size, err)
	}
}
