package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/k8sguard/k8sguard/backup/agent"
	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/store"
)

// snapshotSections are the configuration a snapshot needs (retention and
// check.shrink_ratio because a snapshot applies retention afterwards).
var snapshotSections = []string{"cluster_name", "etcd", "store", "compression", "retention", "check.shrink_ratio"}

func newSnapshotCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Take one snapshot now and upload it (before a risky operation, or from a timer)",
		Long: `Take one etcd snapshot now: streamed from etcd's Maintenance API through zstd
and sha256 straight into the store (no temporary file, bounded memory), then
the manifest, written last, after etcd's own sha256 trailer has been checked.
Retention runs afterwards, keeping the last snapshot before any shrink.

Run it before a risky manual operation (an "etcdctl del", an upgrade), or from
etcdguard-snapshot.timer instead of the agent. At start it removes what
interrupted snapshots left behind once it is an hour old: unfinished
uploads, and data objects without a manifest (a younger one may be the
agent's, still uploading or its manifest still to come). An upload the agent
has in flight at that moment goes on and completes. A snapshot still
unfinished after an hour (etcd or the store stopped answering) fails, and
the failure is recorded for "etcdguard check".

A member without a leader is refused: cut off from its cluster's quorum, it
streams a database that may miss what the quorum committed since. On the day
the quorum is lost for good (the majority of the members gone and not coming
back), --quorum-lost snapshots a survivor all the same, as etcd's disaster
recovery does before restoring every member from it: every endpoint of
--etcd-endpoints, and every other member in the survivor's member list (one
cut off from a live quorum has no leader either), is asked for its status,
and the snapshot is refused if any member that answers has a leader (the
quorum is not lost). Of the members
without a leader, the one with the highest revision is taken; it is refused
when it is behind the newest point the store's backups restore (restore
those instead: it loses less), when the store cannot tell, or when a
survivor in its member list that --etcd-endpoints does not name is ahead of
it (name that one too). The snapshot is marked QUORUM LOST in 'etcdguard
list'. A refusal stores nothing.

Every flag but --quorum-lost has an environment variable (shown) and a
configuration key; flags win over the environment, which wins over the file.
--quorum-lost is for one run by hand: no file or timer sets it.`,
		Example: `  etcdguard snapshot --config /etc/etcdguard/config.yaml
  etcdguard snapshot --config /etc/etcdguard/config.yaml --quorum-lost --etcd-endpoints https://10.0.2.10:2379
  ETCDGUARD_STORE_URL=s3://backups/etcd etcdguard snapshot --etcd-endpoints https://10.0.0.1:2379 \
    --etcd-ca-file ca.crt --etcd-cert-file client.crt --etcd-key-file client.key`,
		Args: cobra.NoArgs,
	}
	flags := config.BindFlags(cmd.Flags(), snapshotSections...)
	var quorumLost bool
	cmd.Flags().BoolVar(&quorumLost, "quorum-lost", false, "the cluster lost its quorum for good: snapshot the surviving member(s) named by --etcd-endpoints although they have no leader")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.Resolve()
		if err != nil {
			return err
		}
		log := newLogger(cmd)
		boundMemory()
		a, err := agent.New(cmd.Context(), cfg, log)
		if err != nil {
			return err
		}
		a.QuorumLost = quorumLost
		if err := a.CleanupSnapshots(cmd.Context(), time.Now()); err != nil {
			if store.Misconfigured(err) != "" {
				// Wrong credentials or bucket: the upload would fail too,
				// at a HEAD whose answer has no body to say why.
				return fmt.Errorf("snapshot: %w", err)
			}
			log.Warn("cleanup after interrupted snapshots failed", "err", err)
		}
		res, err := a.Once(cmd.Context())
		if err != nil {
			return err
		}
		m := res.Manifest
		mib := func(n int64) float64 { return float64(n) / (1 << 20) }
		rate := func(n int64, d time.Duration) float64 {
			if d <= 0 {
				return 0
			}
			return mib(n) / d.Seconds()
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(),
			"snapshot %s: revision %d, %d keys, %.1f MiB raw -> %.1f MiB stored (ratio %.2f) in %.2fs; etcd read %.0f MiB/s, zstd %.0f MiB/s, upload %.0f MiB/s\n",
			m.Name(), m.Revision, m.Keys, mib(m.RawSize), mib(m.StoredSize), float64(m.RawSize)/float64(max(m.StoredSize, 1)),
			res.Duration.Seconds(), rate(m.RawSize, res.ReadBusy), rate(m.RawSize, res.CompressBusy), rate(m.StoredSize, res.Duration-res.UploadWait))
		if err == nil && m.QuorumLost {
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "quorum lost: taken from member %s without a leader; restore every member from it with --snapshot %s\n", m.MemberID, m.Name())
		}
		return err
	}
	return cmd
}

// memoryLimit is the Go heap's soft limit unless GOMEMLIMIT says
// otherwise. A snapshot's working set is fixed (the upload's part buffers,
// zstd's window, gRPC's flow-control window), but the default GOGC lets
// garbage grow to twice that before collecting; near the limit the
// collector and the scavenger keep RSS down whatever the database size.
// 34 MiB is about 1.7 times the measured live heap (19 MiB, with the store's
// default part buffers): at 32 MiB collections start to cost wall time, at
// 56 MiB peak RSS went past 64 MiB (the binary's own pages are ~25 MiB).
const memoryLimit = 34 << 20

func boundMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// newLogger logs to stderr; values logged are never secrets (no
// credentials live in the configuration).
func newLogger(cmd *cobra.Command) *slog.Logger {
	w := cmd.ErrOrStderr()
	if w == nil {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
