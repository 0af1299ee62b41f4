package drill

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// workPrefix names a drill's work dir in the work parent.
const workPrefix = "etcdguard-drill-"

// holdWorkDir takes an exclusive flock on the drill's work dir for as long
// as the drill runs. The kernel drops it when the process dies, however it
// dies, so a work dir nobody holds is a killed drill's.
func holdWorkDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("drill work dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock drill work dir %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// removeKilledDrills removes the work dirs killed drills left in parent
// (a restored data dir and a downloaded snapshot each, often gigabytes, on
// a control-plane node's disk) and returns them. A drill still running
// holds its dir's lock, and is left alone; so is anything not named like
// a work dir.
func removeKilledDrills(parent string) []string {
	des, err := os.ReadDir(parent)
	if err != nil {
		return nil // the free-space check says what is wrong with parent
	}
	var removed []string
	for _, de := range des {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), workPrefix) {
			continue
		}
		dir := filepath.Join(parent, de.Name())
		unlock, err := holdWorkDir(dir)
		if err != nil {
			continue // a running drill's, or not ours to judge
		}
		err = os.RemoveAll(dir)
		unlock()
		if err == nil {
			removed = append(removed, dir)
		}
	}
	return removed
}
