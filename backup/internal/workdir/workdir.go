// Package workdir makes the temp dirs restore and drill work in (a
// downloaded snapshot and a restored data dir: gigabytes on a
// control-plane node's disk) and removes the ones a killed run left.
//
// A run holds an exclusive flock on its dir for as long as it lives. The
// kernel drops it when the process dies, however it dies, so a dir of the
// run's name that nobody holds is a killed run's, and one that is held
// belongs to a run still going (a drill beside a restore, two drills), which
// is left alone.
package workdir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Dir is a held work dir.
type Dir struct {
	Path string
	lock *os.File
}

// New makes a work dir named prefix* in parent and holds it.
func New(parent, prefix string) (*Dir, error) {
	p, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, err
	}
	lock, err := hold(p)
	if err != nil {
		os.RemoveAll(p)
		return nil, err
	}
	return &Dir{Path: p, lock: lock}, nil
}

// Remove deletes the dir and lets it go.
func (d *Dir) Remove() error {
	err := os.RemoveAll(d.Path)
	d.lock.Close()
	return err
}

// RemoveAbandoned removes the dirs named prefix* in parent that no live run
// holds, and returns them. Only directories of that name are touched; a
// parent that cannot be read has nothing to remove.
func RemoveAbandoned(parent, prefix string) ([]string, error) {
	des, err := os.ReadDir(parent)
	if err != nil {
		return nil, nil
	}
	var removed []string
	for _, de := range des {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), prefix) {
			continue
		}
		p := filepath.Join(parent, de.Name())
		lock, err := hold(p)
		if err != nil {
			continue // a live run's
		}
		err = os.RemoveAll(p)
		lock.Close()
		if err != nil {
			return removed, fmt.Errorf("remove %s, left by a killed run: %w", p, err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

func hold(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}
