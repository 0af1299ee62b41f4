package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/retention"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

func newRestoreCommand() *cobra.Command {
	var o restore.Options
	cmd := &cobra.Command{
		Use:   "restore --data-dir DIR",
		Short: "Restore a snapshot into a new etcd data dir",
		Long: `Restore one etcd member's data dir from a snapshot in the store.

The snapshot streams from the store through decompression and verification
(sha256 of the object and of the .db against the manifest, etcd's own
trailing hash) into a temp file beside the target; etcdutl restores it into
a temp data dir, which is then renamed into place. Nothing is buffered in
memory, and the target is touched only once all of that succeeded.

The data dir must be missing or empty: etcdguard refuses to overwrite one.
With --force it moves a non-empty etcd data dir (one holding member/) aside
to DIR.etcdguard-moved-<time>, never a running member's, and never deletes
anything; what an interrupted restore left (.DIR.etcdguard-restore-*, in or
beside DIR) is removed first. Free space is checked first (twice the snapshot,
plus the WAL). A snapshot that fails verification is refused (exit status 2)
and the data dir is left untouched. Picked without a name ("latest", or
--before), a snapshot at or after a shrink that is neither resolved nor
acknowledged ('etcdguard list' marks it SHRUNK) is refused: on the day of an
"etcdctl del" on the wrong range it is the accident itself. Name it with
--snapshot to restore it all the same.

Point in time: --at TIME or --revision N restores the newest full snapshot
before that point whose delta chain reaches it (a snapshot taken by hand
while the agent runs starts none; the agent's older chain goes on past it)
and replays that chain (what the agent commits every delta.interval) up to
it, offline, with etcd's own storage code, before etcdutl restores the
result. Each segment is checked against its manifest (sha256) and the one
before it (the chain); a missing or altered segment is refused by name
(exit status 2), and nothing past it is ever replayed: a point before it
still restores. Revisions come out as in the original etcd.
--snapshot NAME with --at/--revision replays that snapshot's own chain
instead: restore prints it so for the other members, so that every member
replays the same snapshot and chain. Keys whose lease was granted after
the full snapshot are restored without a lease. 'etcdguard list' shows
the restorable window.

For a cluster of several members, run restore once per member, on each
member's host, with the same snapshot, --initial-cluster and
--initial-cluster-token; restore prints the exact command for every other
member. Stop every etcd member (and the API servers) before restoring, and
start the restored members together.

` + bumpHelp + `

Every member of a cluster must be restored with the same bump: restore
prints the other members' commands with --bump-revision set.`,
		Example: `  # single member, newest snapshot
  etcdguard restore --config /etc/etcdguard/config.yaml --data-dir /var/lib/etcd-restored

  # the last snapshot before the accident, member 1 of 3
  etcdguard restore --before 2026-11-22T09:40:00Z --data-dir /var/lib/etcd \
    --name etcd-a --initial-cluster etcd-a=https://10.0.1.10:2380,etcd-b=https://10.0.2.10:2380,etcd-c=https://10.0.3.10:2380 \
    --initial-advertise-peer-urls https://10.0.1.10:2380 --initial-cluster-token prod-eu1-restored

  # one second before the accident (a full snapshot plus its delta chain)
  etcdguard restore --config /etc/etcdguard/config.yaml --at 2026-11-22T09:41:58Z --data-dir /var/lib/etcd-restored`,
		Args: cobra.NoArgs,
	}
	flags := config.BindFlags(cmd.Flags(), storeSections...)
	sel := bindSelector(cmd.Flags())
	pt := bindPoint(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&o.DataDir, "data-dir", "", "the etcd data dir to create (required); must be missing or empty unless --force")
	fs.StringVar(&o.Name, "name", restore.DefaultName, "this member's name, as etcd's --name")
	fs.StringVar(&o.InitialCluster, "initial-cluster", "", "every member as name=peer-url,… (default NAME=the peer URLs)")
	fs.StringSliceVar(&o.PeerURLs, "initial-advertise-peer-urls", nil, "this member's peer URLs (default: its entry in --initial-cluster, else "+restore.DefaultPeerURL+")")
	fs.StringVar(&o.InitialClusterToken, "initial-cluster-token", "", "token of the restored cluster (default etcdguard-restore-<snapshot name>: new for every snapshot, so old members cannot join, and the same on every member restoring it)")
	fs.BoolVar(&o.Force, "force", false, "move a non-empty etcd data dir (one holding member/) aside to DIR.etcdguard-moved-<time> (never deleted)")
	bump := bindBumpFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()                     // ends on SIGTERM/SIGINT (main)
		if _, err := o.Normalize(); err != nil { // before any download
			return err
		}
		cfg, st, m, plan, err := findTarget(ctx, flags, sel, pt)
		if brk := (*delta.BrokenLinkError)(nil); errors.As(err, &brk) {
			return &exitError{code: exitCorrupt, err: fmt.Errorf("%w; pick a point before it ('etcdguard list' shows the restorable windows)", err)}
		}
		if err != nil {
			return err
		}
		o.Replay = plan
		if o.InitialClusterToken == "" {
			o.InitialClusterToken = restore.DefaultClusterToken(m)
		}
		// Derived from the full snapshot's revision: with a replay the
		// base is higher, so the bump only errs on the large side.
		if o.RevisionBump, err = bump.resolve(ctx, cmd.ErrOrStderr(), st, cfg.ClusterName, m, time.Now()); err != nil {
			return err
		}
		if plan == nil && sel.snapshot == restore.Latest {
			if err := refuseShrunkPick(ctx, st, cfg.ClusterName, cfg.Check.ShrinkRatio, m); err != nil {
				return err
			}
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "restoring %s (taken %s, revision %d, %d keys, %s) into %s\n",
			m.DataKey, m.CreatedAt.UTC().Format(time.RFC3339), m.Revision, m.Keys, humanize.IBytes(uint64(m.RawSize)), o.DataDir)
		if plan != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "then replaying %d delta segment(s) of its chain up to %s\n", len(plan.Segments), plan.Point)
		}
		res, err := restore.Restore(ctx, st, m, o)
		if ie := (*restore.IntegrityError)(nil); errors.As(err, &ie) {
			return &exitError{code: exitCorrupt, err: fmt.Errorf("%w; pick an older snapshot ('etcdguard list', then --snapshot NAME)", err)}
		}
		if brk := (*delta.BrokenLinkError)(nil); errors.As(err, &brk) {
			return &exitError{code: exitCorrupt, err: fmt.Errorf("%w; pick a point before it ('etcdguard list' shows the restorable windows)", err)}
		}
		if err != nil {
			return err
		}
		return printRestored(cmd.OutOrStdout(), res, changedConfigArgs(cmd))
	}
	return cmd
}

// refuseShrunkPick refuses a snapshot that "latest" (or --before) picked
// when it is, or comes after, a shrink nobody resolved or acknowledged: on
// the day of an "etcdctl del" on the wrong range, the newest snapshot is the
// accident itself, and restoring it restores the loss. Named with
// --snapshot, any snapshot restores.
func refuseShrunkPick(ctx context.Context, st store.Store, cluster string, ratio float64, m *snapshot.Manifest) error {
	l, err := snapshot.List(ctx, st, cluster)
	if err != nil {
		return err
	}
	acks, err := snapshot.ShrinkAcks(ctx, st, cluster)
	if err != nil {
		return err
	}
	for _, s := range retention.FindShrinks(l.Snapshots, ratio, acks) {
		if !s.Open() || s.After.CreatedAt.After(m.CreatedAt) {
			continue
		}
		return fmt.Errorf("refusing to restore %s, the snapshot picked without a name: it is at or after an unresolved shrink, most likely the accident (%s). "+
			"Restore the snapshot before it, --snapshot %s, or a point before the accident with --at/--revision ('etcdguard list' shows both); "+
			"to restore %s all the same, name it: --snapshot %s", m.Name(), s, s.Before.Name(), m.Name(), m.Name())
	}
	return nil
}

// printRestored says what was done and what to run next: etcd for this
// member, and the restore command for each other member.
func printRestored(w io.Writer, res *restore.Result, configArgs []string) error {
	o, m := res.Options, res.Manifest
	for _, l := range res.Leftovers {
		fmt.Fprintf(w, "removed %s, left by an interrupted restore\n", l)
	}
	fmt.Fprintf(w, "restored %s (revision %d, %d keys) into %s as member %q in %s (download and verify %s, etcdutl restore %s)\n",
		m.DataKey, m.Revision, m.Keys, res.DataDir, o.Name,
		(res.Download + res.Restore).Round(time.Millisecond), res.Download.Round(time.Millisecond), res.Restore.Round(time.Millisecond))
	if r := res.Replayed; r != nil {
		fmt.Fprintf(w, "point in time %s: replayed %d events (%d revisions) from %d delta segment(s) in %s (index of the snapshot's keys %s, applying %s: %.0f events/s): revision %d → %d",
			res.Options.Replay.Point, r.Events, r.Changes, r.Segments, r.Duration.Round(time.Millisecond), r.Index.Round(time.Millisecond), r.Apply.Round(time.Millisecond), r.EventsPerSecond(), r.FromRevision, r.ToRevision)
		if !r.LastChange.IsZero() {
			fmt.Fprintf(w, ", newest change seen %s", r.LastChange.UTC().Format(time.RFC3339Nano))
		}
		fmt.Fprintln(w)
		if r.LeasesDropped > 0 {
			fmt.Fprintf(w, "%d put(s) carried a lease that is not in the snapshot: those keys were restored without a lease\n", r.LeasesDropped)
		}
		if r.Renumbered > 0 {
			fmt.Fprintf(w, "%d change(s) got a different revision than in the original\n", r.Renumbered)
		}
	}
	if o.RevisionBump > 0 {
		fmt.Fprintf(w, "the revision was bumped by %d to %d and marked compacted: kube-apiserver and informers relist (410 Gone) instead of resuming stale watches\n",
			o.RevisionBump, restoredRevision(res)+int64(o.RevisionBump))
	} else {
		fmt.Fprintln(w, "the revision was NOT bumped: restart every client that watched the old cluster (kube-apiserver, controllers, kubelets, operators), or their caches stay stale")
	}
	if res.MovedAside != "" {
		fmt.Fprintf(w, "the previous data dir was moved to %s (delete it yourself once the cluster is healthy)\n", res.MovedAside)
	}
	fmt.Fprintf(w, "\nstart etcd on it (its other flags as before):\n  etcd --name %s --data-dir %s --initial-advertise-peer-urls %s --initial-cluster %s --initial-cluster-token %s\n",
		shellQuote(o.Name), shellQuote(res.DataDir), shellQuote(strings.Join(o.PeerURLs, ",")), shellQuote(o.InitialCluster), shellQuote(o.InitialClusterToken))
	if len(res.Members) < 2 {
		return nil
	}
	fmt.Fprintf(w, "\nthis restored member %q only; on each other member's host, with etcd stopped, run:\n", o.Name)
	for _, mem := range res.Members {
		if mem.Name == o.Name {
			continue
		}
		args := append([]string{"etcdguard", "restore"}, configArgs...)
		target := []string{"--snapshot", m.DataKey} // the exact snapshot, not "latest", which may have moved on
		if p := res.Options.Replay; p != nil {
			// The exact revision reached, whether asked by time or revision,
			// from the same full snapshot and chain: another base (a
			// snapshot taken by hand at that very revision) would restore
			// other leases, and the members would disagree.
			target = []string{"--snapshot", m.DataKey, "--revision", fmt.Sprint(restoredRevision(res))}
		}
		args = append(args, target...)
		args = append(args,
			"--data-dir", res.DataDir,
			"--name", mem.Name,
			"--initial-cluster", o.InitialCluster,
			"--initial-advertise-peer-urls", strings.Join(mem.PeerURLs, ","),
			"--initial-cluster-token", o.InitialClusterToken)
		// The same bump on every member: a derived one changes with time.
		if o.RevisionBump > 0 {
			args = append(args, "--bump-revision", strconv.FormatUint(o.RevisionBump, 10))
		} else {
			args = append(args, "--no-bump-revision")
		}
		fmt.Fprintf(w, "  %s\n", shellJoin(args))
	}
	_, err := fmt.Fprintln(w, "then start all members; they form a new cluster with the snapshot's data.")
	return err
}

// restoredRevision is the revision before any bump: the snapshot's, or the
// last replayed change's in a point-in-time restore.
func restoredRevision(res *restore.Result) int64 {
	if r := res.Replayed; r != nil {
		return max(r.ToRevision, res.Manifest.Revision)
	}
	return res.Manifest.Revision
}
