// Package retention decides which snapshots to keep (grandfather-father-
// son over manifests, plus shrink protection) and deletes the rest so that
// a half-deleted snapshot never looks complete.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// Policy is how many snapshots to keep.
type Policy struct {
	KeepLast   int // the newest N
	KeepDaily  int // the newest of each of the last N days (UTC) with snapshots
	KeepWeekly int // the newest of each of the last N ISO weeks with snapshots
}

// Plan is the outcome of applying a policy: why each kept snapshot stays,
// and which go.
type Plan struct {
	Keep   map[string]string // snapshot name → reason
	Delete []*snapshot.Manifest
}

// Decide applies p to snaps (newest first). Snapshots before an open
// shrink are kept whatever the policy says: they may be the only copy of
// what an accidental range delete removed.
func Decide(snaps []*snapshot.Manifest, p Policy, shrinks []Shrink) Plan {
	plan := Plan{Keep: map[string]string{}}
	keep := func(m *snapshot.Manifest, why string) {
		if _, ok := plan.Keep[m.Name()]; !ok {
			plan.Keep[m.Name()] = why
		}
	}
	for i, m := range snaps {
		if i < max(p.KeepLast, 1) {
			keep(m, fmt.Sprintf("keep_last %d", p.KeepLast))
		}
	}
	keepPeriodic(snaps, p.KeepDaily, "keep_daily", func(m *snapshot.Manifest) string {
		return m.CreatedAt.UTC().Format("2006-01-02")
	}, keep)
	keepPeriodic(snaps, p.KeepWeekly, "keep_weekly", func(m *snapshot.Manifest) string {
		y, w := m.CreatedAt.UTC().ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	}, keep)
	for _, s := range shrinks {
		if s.Open() {
			keep(s.Before, "last snapshot before a shrink: "+s.String())
		}
	}
	for _, m := range snaps {
		if _, ok := plan.Keep[m.Name()]; !ok {
			plan.Delete = append(plan.Delete, m)
		}
	}
	return plan
}

// Protect keeps m whatever the policy decided, for why.
func (p *Plan) Protect(m *snapshot.Manifest, why string) {
	if _, ok := p.Keep[m.Name()]; ok {
		return
	}
	p.Keep[m.Name()] = why
	for i, d := range p.Delete {
		if d.Name() == m.Name() {
			p.Delete = append(p.Delete[:i], p.Delete[i+1:]...)
			return
		}
	}
}

// keepPeriodic keeps the newest snapshot of each of the newest n periods.
func keepPeriodic(snaps []*snapshot.Manifest, n int, rule string, period func(*snapshot.Manifest) string, keep func(*snapshot.Manifest, string)) {
	seen := map[string]bool{}
	for _, m := range snaps {
		if len(seen) >= n {
			return
		}
		if pd := period(m); !seen[pd] {
			seen[pd] = true
			keep(m, rule+" "+pd)
		}
	}
}

// Result counts what Apply did.
type Result struct {
	Deleted int
	Failed  int // left for the next run (Object Lock, a network error)
}

// Apply deletes the plan's snapshots: the manifest first, so that an
// interruption leaves an orphaned data object (cleaned up later) and never
// a manifest pointing at nothing. A refused deletion (Object Lock
// retention, for one) is logged and retried next time, never fatal.
func Apply(ctx context.Context, st store.Store, plan Plan, log *slog.Logger) Result {
	var r Result
	victims := append([]*snapshot.Manifest{}, plan.Delete...)
	sort.Slice(victims, func(i, j int) bool { return victims[i].CreatedAt.Before(victims[j].CreatedAt) })
	for _, m := range victims {
		if err := st.Delete(ctx, snapshot.ManifestKey(m.DataKey)); err != nil {
			r.Failed++
			log.Warn("retention: could not delete manifest; will retry next run", "snapshot", m.Name(), "err", err)
			continue
		}
		// The delta chain goes with its full snapshot: without the
		// snapshot's manifest it can no longer be restored from.
		if _, err := delta.Delete(ctx, st, m); err != nil {
			log.Warn("retention: snapshot deleted but part of its delta chain remains; cleanup will retry", "snapshot", m.Name(), "err", err)
		}
		if err := st.Delete(ctx, m.DataKey); err != nil {
			log.Warn("retention: manifest deleted but data object remains; cleanup will retry", "snapshot", m.Name(), "err", err)
		}
		r.Deleted++
		log.Info("retention: deleted snapshot", "snapshot", m.Name())
	}
	return r
}
