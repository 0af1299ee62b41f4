package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/drill"
)

func newDrillCommand() *cobra.Command {
	var (
		o        drill.Options
		asJSON   bool
		textfile string
		noRecord bool
	)
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Prove a snapshot restores: restore it into a temp dir, start etcd, check it",
		Long: `A disaster-recovery drill, safe to run on a live control-plane node: restore a
snapshot into a temp dir, start an embedded etcd on loopback ports on it,
check its revision and key counts (in total and per /registry/<resource>)
against the manifest and that every --expect-prefix holds keys, then stop
it and delete the temp dir. Each phase is timed (download, verify, restore,
start, checks): the total is the recovery time objective measured. A temp
dir a killed drill left (etcdguard-drill-*, a snapshot's size or more) is
removed by the next drill; a running drill's is not.

With --at TIME or --revision N the drill is of a point in time, as
'etcdguard restore --at' restores it: the delta chain is replayed into the
snapshot (a "replay" phase), and the key counts are checked against those
the replay left, not the full snapshot's manifest.

A successful drill is recorded in the store, where 'etcdguard check' reads
its age. --textfile writes etcdguard_drill_last_success_timestamp_seconds,
etcdguard_drill_duration_seconds{phase} and etcdguard_drill_success for
node_exporter's textfile collector.

The drill restores as 'etcdguard restore' does, with the revision bumped by
default, and then also checks that the revision moved by the bump and that
the one before it is compacted; key counts are taken at the restored
revision. --no-bump-revision drills a plain restore (counts at the
manifest's revision).

` + bumpHelp + `

Exit status: 0 passed, 1 failed (the report says which phase or check).`,
		Example: `  etcdguard drill --config /etc/etcdguard/config.yaml \
    --expect-prefix /registry/namespaces/kube-system --expect-prefix /registry/secrets/
  etcdguard drill --json --textfile /var/lib/node_exporter/textfile/etcdguard_drill.prom`,
		Args: cobra.NoArgs,
	}
	flags := config.BindFlags(cmd.Flags(), storeSections...)
	sel := bindSelector(cmd.Flags())
	pt := bindPoint(cmd.Flags())
	fs := cmd.Flags()
	fs.StringArrayVar(&o.ExpectPrefixes, "expect-prefix", nil, "a key prefix that must hold keys in the restored etcd (repeatable), e.g. /registry/namespaces/kube-system (default: the configuration's drill.expect_prefixes)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&textfile, "textfile", "", "also write the drill's metrics to this file (Prometheus text format, written atomically)")
	fs.StringVar(&o.WorkDir, "work-dir", "", "where the temp dir goes (default: the configuration's drill.work_dir, else $TMPDIR); needs twice the snapshot's size free")
	fs.BoolVar(&noRecord, "no-record", false, "do not record a successful drill in the store (for read-only credentials)")
	bump := bindBumpFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context() // ends on SIGTERM/SIGINT (main)
		cfg, st, m, plan, err := findTarget(ctx, flags, sel, pt)
		if err != nil {
			return err
		}
		// The configuration's drill section, as the agent's scheduled
		// drills use it; the flags override it.
		if !cmd.Flags().Changed("expect-prefix") {
			o.ExpectPrefixes = cfg.Drill.ExpectPrefixes
		}
		if !cmd.Flags().Changed("work-dir") {
			o.WorkDir = cfg.Drill.WorkDir
		}
		if o.RevisionBump, err = bump.resolve(ctx, cmd.ErrOrStderr(), st, cfg.ClusterName, m, time.Now()); err != nil {
			return err
		}
		o.Replay = plan
		r, drillErr := drill.Run(ctx, st, m, o)
		out := cmd.OutOrStdout()
		if asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			if err := enc.Encode(r); err != nil {
				return err
			}
		} else if err := r.WriteText(out); err != nil {
			return err
		}

		lastSuccess := r.StartedAt
		if r.OK && !noRecord {
			if err := drill.Record(ctx, st, r); err != nil {
				return fmt.Errorf("the drill passed, but recording it failed (pass --no-record with read-only credentials): %w", err)
			}
		}
		if !r.OK {
			lastSuccess = time.Time{}
			if prev, err := drill.LastSuccess(ctx, st, cfg.ClusterName); err == nil && prev != nil {
				lastSuccess = prev.StartedAt
			}
		}
		if textfile != "" {
			if err := r.WriteTextfile(textfile, lastSuccess); err != nil {
				return err
			}
		}
		if drillErr != nil {
			return &exitError{code: 1, err: drillErr}
		}
		return nil
	}
	return cmd
}
