package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/fanout"
	"github.com/k8sguard/k8sguard/backup/retention"
	"github.com/k8sguard/k8sguard/backup/snapshot"
)

// listEntry is one line of `list --json`: the manifest plus the shrink
// marker.
type listEntry struct {
	*snapshot.Manifest
	Name   string      `json:"name"`
	Shrink *shrinkMark `json:"shrink,omitempty"`
	Chain  *chainMark  `json:"delta_chain,omitempty"`
}

// chainMark is a snapshot's delta chain: the window a point-in-time
// restore from this snapshot reaches.
type chainMark struct {
	Segments     int       `json:"segments"`
	LastRevision int64     `json:"last_revision"`
	CoveredAt    time.Time `json:"covered_at,omitzero"`
	Gap          string    `json:"gap,omitempty"` // the first missing link; the window ends before it
	Orphans      int       `json:"uncommitted_segments,omitempty"`
}

func (c *chainMark) String() string {
	if c == nil || c.Segments == 0 {
		return ""
	}
	s := fmt.Sprintf("%d segments → r%d", c.Segments, c.LastRevision)
	if !c.CoveredAt.IsZero() {
		s += " " + c.CoveredAt.UTC().Format(time.RFC3339)
	}
	if c.Gap != "" {
		s += " (BROKEN: " + c.Gap + ")"
	}
	return s
}

type shrinkMark struct {
	Previous string   `json:"previous"` // the snapshot it shrank from
	Percent  int64    `json:"percent"`  // keys as a percentage of the previous
	Vanished []string `json:"vanished,omitempty"`
	Open     bool     `json:"open"` // neither resolved by a later snapshot nor acknowledged
}

func newListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the complete snapshots of the cluster, newest first",
		Long: `List the complete snapshots (those with a manifest) of the cluster, newest
first: when each was taken, etcd's revision, stored and raw size, key count,
the sha256 of the stored object and a shrink marker.

A snapshot taken with 'etcdguard snapshot --quorum-lost' (from a member
without a leader, the cluster's quorum lost for good) is marked QUORUM LOST,
and has "quorum_lost": true in --json.

A snapshot is marked SHRUNK when it has fewer than check.shrink_ratio × the
keys of the snapshot before it, or a whole /registry/<resource> prefix
vanished: what "etcdctl del -r" on the wrong range looks like. Restore the
snapshot before the shrink with 'etcdguard restore --snapshot NAME'.

Uploads that never finished (data without a manifest) are not snapshots;
they are counted on stderr.`,
		Example: `  etcdguard list --config /etc/etcdguard/config.yaml
  etcdguard list --store-url s3://etcd-backups/prod --cluster-name prod-eu1 --json`,
		Args: cobra.NoArgs,
	}
	flags := config.BindFlags(cmd.Flags(), append(storeSections, "check.shrink_ratio")...)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array (manifest fields, name, shrink) instead of a table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		cfg, st, err := openStore(ctx, flags)
		if err != nil {
			return err
		}
		l, err := snapshot.List(ctx, st, cfg.ClusterName)
		if err != nil {
			return fmt.Errorf("list snapshots of %q in %s: %w", cfg.ClusterName, st, err)
		}
		acks, err := snapshot.ShrinkAcks(ctx, st, cfg.ClusterName)
		if err != nil {
			return fmt.Errorf("read shrink acknowledgements: %w", err)
		}
		marks := map[string]*shrinkMark{}
		for _, s := range retention.FindShrinks(l.Snapshots, cfg.Check.ShrinkRatio, acks) {
			pct := int64(100)
			if s.Before.Keys > 0 {
				pct = s.After.Keys * 100 / s.Before.Keys
			}
			marks[s.After.Name()] = &shrinkMark{Previous: s.Before.Name(), Percent: pct, Vanished: s.Vanished, Open: s.Open()}
		}
		entries := make([]listEntry, len(l.Snapshots))
		// Each chain's outline is a listing and a manifest: read ahead.
		outline, stop := fanout.Ordered(ctx, len(l.Snapshots), fanout.Window, func(ctx context.Context, i int) (*delta.Outline, error) {
			return delta.OutlineOf(ctx, st, l.Snapshots[i])
		})
		defer stop()
		for i, m := range l.Snapshots {
			entries[i] = listEntry{Manifest: m, Name: m.Name(), Shrink: marks[m.Name()]}
			o, err := outline()
			if err != nil {
				return err
			}
			if o.Segments > 0 || o.Orphans > 0 {
				entries[i].Chain = &chainMark{Segments: o.Segments, LastRevision: o.LastRevision, CoveredAt: o.CoveredAt, Gap: o.Gap, Orphans: o.Orphans}
			}
		}
		for _, b := range l.Broken {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: unreadable manifest: %v\n", b)
		}
		if n := len(l.Orphans); n > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "note: %d data object(s) without a manifest (interrupted uploads; the agent cleans them up)\n", n)
		}
		out := cmd.OutOrStdout()
		if asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(entries)
		}
		if len(entries) == 0 {
			_, err := fmt.Fprintf(out, "no complete snapshot of cluster %q in %s\n", cfg.ClusterName, st)
			return err
		}
		printWindow(out, entries)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tREVISION\tSTORED\tRAW\tKEYS\tSHA256\tDELTA CHAIN\tNOTE\tSHRINK")
		for _, e := range entries {
			note := ""
			if e.QuorumLost {
				note = "QUORUM LOST (member " + e.MemberID + ", no leader)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.Name, e.CreatedAt.UTC().Format(time.RFC3339), e.Revision,
				humanize.IBytes(uint64(e.StoredSize)), humanize.IBytes(uint64(e.RawSize)), e.Keys, short(e.StoredSHA256), e.Chain, note, e.Shrink)
		}
		return tw.Flush()
	}
	return cmd
}

// printWindow says which points `restore --at`/`--revision` reaches: from
// the oldest snapshot to the furthest chain's end, and the holes between
// chains (a chain broke, and the points before the next snapshot are
// lost). A chain can go on past newer snapshots (one taken by hand while
// the agent ran starts no chain), so each hole is judged against every
// older chain, as restore plans its replay.
func printWindow(w io.Writer, entries []listEntry) {
	chains := false
	for _, e := range entries {
		chains = chains || e.Chain != nil && e.Chain.Segments > 0
	}
	if !chains {
		return // full snapshots only: each restores to its own revision
	}
	end := func(e listEntry) (int64, time.Time) {
		if e.Chain == nil || e.Chain.Segments == 0 {
			return e.Revision, e.CreatedAt
		}
		if e.Chain.Gap != "" {
			return e.Chain.LastRevision, time.Time{}
		}
		return e.Chain.LastRevision, e.Chain.CoveredAt
	}
	// reach: how far the chains of entries[i:] go, and whose it is.
	type reach struct {
		rev  int64
		at   time.Time
		name string
	}
	var holes []string
	var far reach
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		if i < len(entries)-1 && entries[i].Revision > far.rev+1 {
			holes = append(holes, fmt.Sprintf("  not restorable: revisions %d-%d (after %s, before %s): the chain of %s ends there\n",
				far.rev+1, entries[i].Revision-1, formatTime(far.at), entries[i].CreatedAt.UTC().Format(time.RFC3339), far.name))
		}
		if rev, at := end(entries[i]); rev > far.rev {
			far = reach{rev, at, entries[i].Name}
		}
	}
	oldest := entries[len(entries)-1]
	fmt.Fprintf(w, "restorable (--at, --revision): from revision %d (%s) to revision %d (%s)\n",
		oldest.Revision, oldest.CreatedAt.UTC().Format(time.RFC3339), far.rev, formatTime(far.at))
	for _, h := range holes {
		fmt.Fprint(w, h)
	}
	if c := entries[0].Chain; c != nil && c.Gap != "" {
		fmt.Fprintf(w, "  the newest chain is BROKEN: %s\n", c.Gap)
	}
	fmt.Fprintln(w)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "time unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *shrinkMark) String() string {
	if s == nil {
		return ""
	}
	out := fmt.Sprintf("SHRUNK to %d%% of %s", s.Percent, s.Previous)
	if len(s.Vanished) > 0 {
		out += fmt.Sprintf(", vanished %v", s.Vanished)
	}
	if !s.Open {
		out += " (resolved or acknowledged)"
	}
	return out
}

// short is the first 12 hex digits of a digest, enough to tell snapshots
// apart in a table; --json has the whole digest.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
