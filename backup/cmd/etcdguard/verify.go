package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/restore"
)

// exitCorrupt is the exit code of verify and restore when the snapshot
// failed verification (1 is any other failure), so scripts can tell a bad
// backup from an unreachable store.
const exitCorrupt = 2

func newVerifyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a snapshot's integrity without restoring it",
		Long: `Stream a snapshot from the store and check it: the stored object's size and
sha256 against the manifest, the decompressed etcd snapshot's size and sha256
against the manifest, and the sha256 etcd itself appended to the snapshot
against the bytes before it. Nothing is written to disk and no data dir is
needed.

Exit status: 0 intact, 2 corrupt, 1 could not check (store unreachable,
no such snapshot).`,
		Example: `  etcdguard verify --config /etc/etcdguard/config.yaml
  etcdguard verify --snapshot 20261122T031500Z-r1234
  etcdguard verify --before 2h`,
		Args: cobra.NoArgs,
	}
	flags := config.BindFlags(cmd.Flags(), storeSections...)
	sel := bindSelector(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		_, st, m, err := findSnapshot(ctx, flags, sel)
		if err != nil {
			return err
		}
		start := time.Now()
		c, err := restore.Stream(ctx, st, m, io.Discard)
		if ie := (*restore.IntegrityError)(nil); errors.As(err, &ie) {
			return &exitError{code: exitCorrupt, err: fmt.Errorf("verify: %w; do not restore it, pick an older snapshot ('etcdguard list')", err)}
		}
		if err != nil {
			return fmt.Errorf("verify %s: %w", m.DataKey, err)
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), `snapshot %s is intact (checked in %s)
  taken        %s, etcd revision %d, %d keys
  stored       %s, sha256 %s, as in the manifest
  etcd .db     %s, sha256 %s, as in the manifest
  etcd's hash  %s, matches the data
`, m.DataKey, time.Since(start).Round(time.Millisecond),
			m.CreatedAt.UTC().Format(time.RFC3339), m.Revision, m.Keys,
			humanize.IBytes(uint64(c.StoredBytes)), c.StoredSHA256,
			humanize.IBytes(uint64(c.RawBytes)), c.RawSHA256, c.EtcdHash)
		return err
	}
	return cmd
}
