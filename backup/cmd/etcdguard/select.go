package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// storeSections are the configuration keys the read-side commands (list,
// verify, restore, drill) need: which cluster, and where its snapshots are.
var storeSections = []string{"cluster_name", "store"}

// openStore resolves the configuration (file < env < flags) and opens the
// store.
func openStore(ctx context.Context, flags *config.Flags) (*config.Config, store.Store, error) {
	cfg, err := flags.Resolve()
	if err != nil {
		return nil, nil, err
	}
	st, err := cfg.OpenStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// findSnapshot opens the store and resolves --snapshot/--before to the
// manifest of a complete snapshot: the start of verify, restore and drill.
func findSnapshot(ctx context.Context, flags *config.Flags, sel *selectorFlags) (*config.Config, store.Store, *snapshot.Manifest, error) {
	cfg, st, err := openStore(ctx, flags)
	if err != nil {
		return nil, nil, nil, err
	}
	selector, err := sel.selector(time.Now())
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := restore.Find(ctx, st, cfg.ClusterName, selector)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, st, m, nil
}

// selectorFlags are --snapshot and --before.
type selectorFlags struct {
	snapshot, before string
}

func bindSelector(fs *pflag.FlagSet) *selectorFlags {
	s := &selectorFlags{}
	fs.StringVar(&s.snapshot, "snapshot", restore.Latest, `"latest", or a snapshot as 'etcdguard list' names it (name, data key or manifest key); with --at/--revision: the full snapshot whose delta chain is replayed (default: the newest whose chain reaches the point)`)
	fs.StringVar(&s.before, "before", "", `with --snapshot latest: the newest snapshot taken at or before this time (RFC 3339, "2026-11-22T03:00:00Z") or this long ago ("90m")`)
	return s
}

func (s *selectorFlags) selector(now time.Time) (restore.Selector, error) {
	sel := restore.Selector{Snapshot: s.snapshot}
	if s.before == "" {
		return sel, nil
	}
	if t, err := time.Parse(time.RFC3339, s.before); err == nil {
		sel.Before = t
		return sel, nil
	}
	d, err := time.ParseDuration(strings.TrimPrefix(s.before, "-"))
	if err != nil || d <= 0 {
		return sel, fmt.Errorf(`--before %q: give a time ("2026-11-22T03:00:00Z") or how long ago ("90m", "2h")`, s.before)
	}
	sel.Before = now.Add(-d)
	return sel, nil
}

// changedConfigArgs returns the configuration flags given on this command
// line (--config, --cluster-name, --store-…), to repeat them in the
// commands printed for other members. Credentials are never flags.
func changedConfigArgs(cmd *cobra.Command) []string {
	var args []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == config.FlagName("cluster_name") || strings.HasPrefix(f.Name, "store-") {
			args = append(args, "--"+f.Name, f.Value.String())
		}
	})
	return args
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// pointFlags are --at and --revision: a point-in-time restore from a full
// snapshot and its delta chain.
type pointFlags struct {
	at       string
	revision int64
}

func bindPoint(fs *pflag.FlagSet) *pointFlags {
	p := &pointFlags{}
	fs.StringVar(&p.at, "at", "", `point-in-time: the state etcd was in at this time (RFC 3339, "2026-11-22T09:41:59Z", or this long ago, "90s"): the newest full snapshot before it plus its delta chain up to it`)
	fs.Int64Var(&p.revision, "revision", 0, "point-in-time: the state etcd was in at this revision (the newest full snapshot at or before it plus its delta chain up to it)")
	return p
}

// point returns the point asked for, or nil for none.
func (p *pointFlags) point(now time.Time, sel *selectorFlags) (*restore.Point, error) {
	if p.at == "" && p.revision == 0 {
		return nil, nil
	}
	if p.at != "" && p.revision != 0 {
		return nil, errors.New("--at and --revision both name a point in time: give one")
	}
	if sel.before != "" {
		return nil, errors.New("--at and --revision choose the snapshot themselves: they cannot be combined with --before (--snapshot NAME pins the full snapshot whose chain is replayed)")
	}
	if p.revision < 0 {
		return nil, fmt.Errorf("--revision %d: etcd revisions are positive", p.revision)
	}
	if p.revision > 0 {
		return &restore.Point{Revision: p.revision}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, p.at); err == nil {
		return &restore.Point{At: t}, nil
	}
	d, err := time.ParseDuration(strings.TrimPrefix(p.at, "-"))
	if err != nil || d <= 0 {
		return nil, fmt.Errorf(`--at %q: give a time ("2026-11-22T09:41:59Z") or how long ago ("90s", "5m")`, p.at)
	}
	return &restore.Point{At: now.Add(-d)}, nil
}

// findTarget resolves --at/--revision to a point-in-time plan (from the
// --snapshot given, else the newest whose chain reaches the point), or else
// --snapshot/--before to a snapshot (plan nil).
func findTarget(ctx context.Context, flags *config.Flags, sel *selectorFlags, pt *pointFlags) (*config.Config, store.Store, *snapshot.Manifest, *restore.Plan, error) {
	p, err := pt.point(time.Now(), sel)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if p == nil {
		cfg, st, m, err := findSnapshot(ctx, flags, sel)
		return cfg, st, m, nil, err
	}
	cfg, st, err := openStore(ctx, flags)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var plan *restore.Plan
	if sel.snapshot != restore.Latest {
		// The base pinned, as restore prints it for the other members.
		var m *snapshot.Manifest
		if m, err = restore.Find(ctx, st, cfg.ClusterName, restore.Selector{Snapshot: sel.snapshot}); err == nil {
			plan, err = restore.PlanPointFrom(ctx, st, m, *p)
		}
	} else {
		plan, err = restore.PlanPoint(ctx, st, cfg.ClusterName, *p)
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return cfg, st, plan.Snapshot, plan, nil
}
