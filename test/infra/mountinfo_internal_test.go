package infra

import (
	"reflect"
	"testing"
)

// The nested systemd's namespace remounts read-only every host mount it
// does not replace, /sys's submounts included: a remount of /sys is not
// recursive, and debugfs, bpf or efivarfs under it stayed writable.
func TestParseMountinfoRemountsSysSubmounts(t *testing.T) {
	const mountinfo = `22 1 0:21 / / rw,relatime - overlay overlay rw
23 22 0:22 / /proc rw,nosuid - proc proc rw
24 22 0:23 / /sys rw,nosuid - sysfs sysfs rw
25 24 0:24 / /sys/kernel/debug rw - debugfs debugfs rw
26 24 0:25 / /sys/fs/bpf rw - bpf bpf rw
27 24 0:26 / /sys/firmware/efi/efivars rw - efivarfs efivarfs rw
28 24 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw
29 28 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
30 22 0:29 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw
31 22 8:1 /home /home rw - ext4 /dev/sda1 rw
32 22 8:1 /work /work\040dir rw - ext4 /dev/sda1 rw
33 22 8:1 /docker /var/lib/docker rw - ext4 /dev/sda1 rw
34 22 0:30 / /tmp rw - tmpfs tmpfs rw
35 22 0:31 / /dev rw - devtmpfs udev rw
36 35 0:32 / /dev/shm rw - tmpfs tmpfs rw
37 22 0:33 / /sysroot rw - ext4 /dev/sda2 rw`
	got := parseMountinfo(mountinfo)
	want := mountPoints{
		others: []string{"/home", "/work dir", "/sysroot"},
		sys:    []string{"/sys/kernel/debug", "/sys/fs/bpf", "/sys/firmware/efi/efivars"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseMountinfo:\n got %+v\nwant %+v", got, want)
	}
}
