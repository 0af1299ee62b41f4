// Package durable holds the one filesystem step etcdguard needs for a
// rename to survive a crash: syncing the directory that holds the entry.
package durable

import (
	"fmt"
	"os"
)

// SyncDir fsyncs dir, so that entries renamed into (or out of) it are on
// disk, not only the files' contents: without it a power loss right after
// a rename can bring back the old name.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
