package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/preflight"
)

// Exit codes of preflight beyond exitCorrupt (missing or corrupt db).
const exitStale = 3

// preflightStoreTimeout bounds the lag check's store listing, so that a
// slow store delays etcd's start by at most this much. It bounds the store
// only: reading a large database from a cold, throttled disk at boot (an
// 8 GiB one at a cloud volume's 125 MiB/s) takes longer, and cutting that
// short would keep a healthy etcd down.
var preflightStoreTimeout = 30 * time.Second

func newPreflightCommand() *cobra.Command {
	o := preflight.Options{}
	var noLagCheck bool
	var envFile string
	cmd := &cobra.Command{
		Use:   "preflight --data-dir DIR",
		Short: "Check an etcd data dir before etcd starts on it (ExecStartPre)",
		Long: `Check an etcd member's data dir before etcd starts on it, for ExecStartPre= of
etcd's own systemd unit (see the etcd.service.d drop-in etcdguard ships). Run
it while etcd is stopped: it opens the database read-only.

It refuses (non-zero exit, a message naming the problem) when:
  - DIR/member exists but DIR/member/snap/db does not (the member lost its
    database);
  - the database is truncated (shorter than its pages in use), one of bbolt's
    two meta pages is damaged (bbolt would silently open the older one),
    bbolt's own consistency check (Tx.Check) fails or bbolt crashes reading
    it, or an entry of etcd's key bucket does not decode as a revision of
    itself. bbolt keeps no checksums of values: a flipped bit inside a
    stored value is found only by etcd's own corruption checks between
    members;
  - the member's revision is behind the newest point the backups in the
    store restore (the newest snapshot, or the end of its delta chain) by
    more than --max-revision-lag (gardener's stale-data check: an old
    disk, say a volume restored from an old cloud snapshot, must not
    silently come back as the cluster), and no other member of the
    cluster answers with a leader. A member of a multi-member cluster that
    was down while the others wrote (a rolling reboot) is behind too; the
    preflight then asks the other members, at the client URLs its database
    lists and --etcd-endpoints, with the etcd TLS settings, for their
    status (5s at most): when one answers with a leader, raft catches the
    member up from it and it passes, saying so;
  - DIR holds no member yet while the store holds a backup: etcd would start
    a new, empty cluster. A member being added to a running cluster gets
    its data from the leader: pass --allow-empty for its first start.

Without store configuration (no --config, ETCDGUARD_CONFIG, default file or
--store-url) only the lag check is skipped, and the output says so. The
store's credentials are the agent's: the instance role, or the static keys
in the agent's environment file, read with --env-file. In etcd's unit use
--env-file rather than EnvironmentFile=, which would hand the file's
variables to etcd as well (a proxy meant for S3 would carry etcd's peer
traffic). If the
store does not answer within 30s, the lag check is skipped with a WARNING:
an S3 outage must not keep etcd down.

Exit status: 0 passed, 2 database missing or corrupt, 3 stale (behind the
newest backup, or empty while backups exist), 1 could not check (bad
flags, database locked by a running etcd, I/O error).`,
		Example: `  # in etcd.service.d/etcdguard-preflight.conf
  ExecStartPre=+/usr/local/bin/etcdguard preflight --data-dir /var/lib/etcd --config /etc/etcdguard/config.yaml --env-file /etc/etcdguard/env

  # by hand, without a store: integrity only
  etcdguard preflight --data-dir /var/lib/etcd`,
		Args: cobra.NoArgs,
	}
	flags := config.BindFlags(cmd.Flags(), append([]string{"etcd"}, storeSections...)...)
	fs := cmd.Flags()
	fs.StringVar(&o.DataDir, "data-dir", "", "etcd's data dir, as etcd's --data-dir (required)")
	fs.Int64Var(&o.MaxRevisionLag, "max-revision-lag", preflight.DefaultMaxRevisionLag, "refuse when the member's revision is more than this behind the newest backup's")
	fs.BoolVar(&noLagCheck, "no-lag-check", false, "skip the comparison with the newest backup (integrity checks only)")
	fs.StringVar(&envFile, "env-file", "", "read variables for this run from this file (KEY=VALUE lines as systemd's EnvironmentFile= takes them, without escapes or continuations; the agent's /etc/etcdguard/env with the store's credentials): set ones win, a missing file is skipped")
	fs.BoolVar(&o.AllowEmpty, "allow-empty", false, "accept a data dir without a member even when backups exist (a member's first start in a running cluster)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.DataDir == "" {
			return errors.New("--data-dir is required: etcd's data dir, as in its unit")
		}
		if o.MaxRevisionLag < 0 {
			return fmt.Errorf("--max-revision-lag %d is negative; to skip the check say --no-lag-check", o.MaxRevisionLag)
		}
		if envFile != "" {
			// Before the configuration: ETCDGUARD_* variables are part of it.
			if _, err := config.LoadEnvFile(envFile); err != nil {
				return err
			}
		}
		cfg, err := flags.Resolve()
		if err != nil {
			return err
		}
		if !noLagCheck && cfg.IsSet("store.url") {
			ctx, cancel := context.WithTimeout(cmd.Context(), preflightStoreTimeout)
			o.Store, o.StoreError = cfg.OpenStore(ctx)
			cancel()
			o.Cluster = cfg.ClusterName
			o.StoreTimeout = preflightStoreTimeout
		}
		if !noLagCheck {
			// Only to ask the other members whether they have a leader;
			// without readable TLS files a member behind is refused.
			if ec, err := cfg.EtcdClientConfig(); err == nil {
				o.Etcd = &ec
			} else {
				o.EtcdError = err
			}
		}
		r, err := preflight.Run(cmd.Context(), o)
		if noLagCheck {
			r.Notes = append(r.Notes, "lag check skipped: --no-lag-check")
		}
		var p *preflight.Problem
		if errors.As(err, &p) {
			code := exitCorrupt
			if p.Kind == preflight.Stale {
				code = exitStale
			}
			printNotes(cmd, r)
			return &exitError{code: code, err: fmt.Errorf("refusing to start etcd: %w", err)}
		}
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if r.Size > 0 {
			fmt.Fprintf(out, "preflight passed: %s (%s, %d-byte pages, txid %d) at revision %d (%s, consistent index %d, %d key revisions), bbolt check clean\n",
				r.DB, humanize.IBytes(uint64(r.Size)), r.PageSize, r.TxID, r.Revision, compaction(r), r.ConsistentIndex, r.Keys)
		} else {
			fmt.Fprintf(out, "preflight passed: %s has no database yet\n", o.DataDir)
		}
		printNotes(cmd, r)
		return nil
	}
	return cmd
}

func printNotes(cmd *cobra.Command, r *preflight.Report) {
	for _, n := range r.Notes {
		fmt.Fprintln(cmd.OutOrStdout(), "  "+n)
	}
}

// compaction says how far the database is compacted, and the compaction
// etcd finishes when it starts (a restore marked compacted schedules one
// at its bumped revision).
func compaction(r *preflight.Report) string {
	if r.ScheduledCompactRevision > r.CompactRevision {
		return fmt.Sprintf("compacted at %d, to %d when etcd starts", r.CompactRevision, r.ScheduledCompactRevision)
	}
	return fmt.Sprintf("compacted at %d", r.CompactRevision)
}
