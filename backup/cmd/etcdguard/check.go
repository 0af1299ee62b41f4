package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/k8sguard/k8sguard/backup/check"
	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/retention"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

func newCheckCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Judge the snapshots in the store: fresh, complete, not shrunk (Nagios exit codes)",
		Long: `Check what is in the store for the cluster and exit like a Nagios plugin:
0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the store cannot be read, or the
configuration is invalid).

CRITICAL: no snapshot; the newest is older than check.max_age; a shrink (a
snapshot with fewer than check.shrink_ratio x the previous one's keys, or a
vanished /registry/<resource> prefix: what "etcdctl del -r" on the wrong range
leaves); with --verify, the newest object does not match its manifest's sha256.
WARNING: data objects without a manifest (interrupted uploads), unreadable
manifests, a failed attempt newer than the newest snapshot, or no successful
restore drill within check.max_drill_age (default 2 x drill.interval; drills
are not checked when neither is set).

A shrink stays CRITICAL, and the snapshot before it is kept by retention,
until a newer snapshot is as large again or an operator acknowledges it with
--ack-shrink <snapshot>.

Every flag has an environment variable (shown) and a configuration key
(--ack-shrink excepted: it is an action, not a setting).`,
		Example: `  etcdguard check --config /etc/etcdguard/config.yaml
  etcdguard check --format json --verify
  etcdguard check --format prometheus --textfile /var/lib/node_exporter/textfile/etcdguard.prom
  etcdguard check --ack-shrink 20261122T031500Z-r48211`,
		Args: cobra.NoArgs,
	}
	flags := config.BindFlagsRenamed(cmd.Flags(), map[string]string{
		"check.format": "format", "check.verify": "verify", "check.textfile": "textfile",
	}, "cluster_name", "store", "check", "drill.interval", "delta.interval")
	ack := cmd.Flags().String("ack-shrink", "", "acknowledge the shrink that this snapshot shows (its name, as check prints it), then check")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.Resolve()
		if err != nil {
			return unknownVerdict(cmd, requestedFormat(cmd), err)
		}
		ctx := cmd.Context()
		st, err := cfg.OpenStore(ctx)
		if err != nil {
			return unknownVerdict(cmd, cfg.Check.Format, err)
		}
		if *ack != "" {
			if err := ackShrink(cmd, cfg, *ack); err != nil {
				// An action refused, not a verdict: said on stderr.
				return &exitError{code: int(check.Unknown), err: err}
			}
		}
		r := check.Run(ctx, st, check.Options{
			Cluster:        cfg.ClusterName,
			MaxAge:         cfg.Check.MaxAge.Duration,
			ShrinkRatio:    cfg.Check.ShrinkRatio,
			Verify:         cfg.Check.Verify,
			MaxDrillAge:    cfg.MaxDrillAgeOrDefault(),
			Deltas:         cfg.Delta.Interval.Duration > 0,
			MaxRPOWarning:  cfg.Check.MaxRPOWarning.Duration,
			MaxRPOCritical: cfg.Check.MaxRPOCritical.Duration,
			Now:            time.Now(),
		})
		out := cmd.OutOrStdout()
		switch cfg.Check.Format {
		case "json":
			err = r.WriteJSON(out)
		case "prometheus":
			err = r.WritePrometheus(out)
		default:
			err = r.WriteText(out)
		}
		if err != nil {
			return &exitError{code: int(check.Unknown), err: err}
		}
		if cfg.Check.Textfile != "" {
			if err := r.WriteTextfile(cfg.Check.Textfile); err != nil {
				return &exitError{code: int(check.Unknown), err: err}
			}
		}
		if r.Status != check.OK {
			return &exitError{code: int(r.Status), err: errors.New(strings.ToLower(r.Status.String())), reported: true}
		}
		return nil
	}
	return cmd
}

// ackShrink records an acknowledgement for a shrink check reports.
func ackShrink(cmd *cobra.Command, cfg *config.Config, name string) error {
	ctx := cmd.Context()
	st, err := cfg.OpenStore(ctx)
	if err != nil {
		return err
	}
	l, err := snapshot.List(ctx, st, cfg.ClusterName)
	if err != nil {
		return err
	}
	var open []string
	for _, s := range retention.FindShrinks(l.Snapshots, cfg.Check.ShrinkRatio, nil) {
		if s.Resolved {
			if s.After.Name() == name {
				// The restore runbook takes a fresh snapshot first: as
				// large again, it resolved the shrink by itself.
				fmt.Fprintf(cmd.ErrOrStderr(), "--ack-shrink %s: nothing to acknowledge, the shrink is already resolved: a newer snapshot is as large as %s again\n", name, s.Before.Name())
				return nil
			}
			continue
		}
		if s.After.Name() == name {
			user := os.Getenv("SUDO_USER")
			if user == "" {
				user = os.Getenv("USER")
			}
			if err := snapshot.AckShrink(ctx, st, cfg.ClusterName, name, user, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "acknowledged: %s; %s may now be rotated out by retention\n", s, s.Before.Name())
			return nil
		}
		open = append(open, s.After.Name())
	}
	if len(open) == 0 {
		return fmt.Errorf("--ack-shrink %s: there is no unresolved shrink to acknowledge", name)
	}
	return fmt.Errorf("--ack-shrink %s: not a shrunken snapshot; unresolved shrinks: %s", name, strings.Join(open, ", "))
}

// unknownVerdict is check's answer when it cannot judge at all: in the
// text format a Nagios status line on stdout, as for every other verdict
// (a monitoring system shows that line, not stderr), and exit 3.
func unknownVerdict(cmd *cobra.Command, format string, err error) error {
	if format != "" && format != "text" {
		return &exitError{code: int(check.Unknown), err: err}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "ETCDGUARD UNKNOWN - %s\n", store.Describe(err))
	return &exitError{code: int(check.Unknown), err: err, reported: true}
}

// requestedFormat is the report format asked for by flag or environment,
// for when the configuration itself could not be read.
func requestedFormat(cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup("format"); f != nil && f.Changed {
		return f.Value.String()
	}
	return os.Getenv(config.EnvName("check.format"))
}
