package agent

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"time"

	"github.com/k8sguard/k8sguard/backup/drill"
	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/watermark"
)

// drillTimeout bounds one scheduled drill (download, restore, start etcd).
const drillTimeout = time.Hour

// drillResult is a finished drill: its report (never nil) and its error.
type drillResult struct {
	report *drill.Report
	err    error
}

// firstDrill is when a new leader drills first: one drill.interval after
// the last success recorded in the store (which also sets the metric, so
// a restarted agent does not look like it never drilled), or at once.
func (l *loop) firstDrill(ctx context.Context) time.Time {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	last, err := drill.LastSuccess(ctx, l.Store, l.Config.ClusterName)
	if err != nil {
		l.Log.Warn("cannot read the last drill; drilling at once", "err", err)
		return l.now()
	}
	if last == nil {
		return l.now()
	}
	if l.Metrics != nil {
		l.Metrics.Drill.LastSuccess.Set(float64(last.StartedAt.Unix()))
	}
	return maxTime(last.StartedAt.Add(l.Config.Drill.Interval.Duration), l.now())
}

func (l *loop) scheduleDrill(at time.Time) {
	l.drillAt.set(at)
	l.Log.Info("next restore drill", "at", at.UTC().Format(time.RFC3339))
}

// onDrillDue marks the drill due and starts it unless a snapshot is in
// flight (then onSnapshotDone starts it).
func (l *loop) onDrillDue(ctx context.Context) {
	l.drillAt.clear()
	l.drillPending = true
	l.startDrill(ctx)
}

// startDrill starts a due drill of the newest snapshot when this agent
// leads, no snapshot or drill is running, and a snapshot exists.
func (l *loop) startDrill(ctx context.Context) {
	if !l.drillPending || !l.leader || l.snapshot.running() || l.drill.running() || l.last == nil {
		return
	}
	l.drillPending = false
	m := l.last
	l.drill.start(ctx, drillTimeout, func(ctx context.Context) drillResult { return l.runDrill(ctx, m) })
	l.notify("STATUS=" + l.status("restore drill in progress"))
}

// onDrillDone records the drill, schedules the next one and says how it
// went in STATUS= (unless a snapshot in flight owns STATUS= now).
func (l *loop) onDrillDone(r drillResult) {
	l.drill.finish()
	at := l.reportDrill(r)
	if !l.leader {
		return
	}
	l.scheduleDrill(at)
	if !l.snapshot.running() {
		verdict := "passed"
		if r.err != nil {
			verdict = "FAILED"
		}
		l.notify("STATUS=" + l.status(fmt.Sprintf("restore drill %s; next snapshot at %s", verdict, l.snapshotAt.at.UTC().Format(time.RFC3339))))
	}
}

// runDrill restores m into a temp dir, starts etcd on it and checks it; a
// success is recorded in the store for `check` (max_drill_age).
func (l *loop) runDrill(ctx context.Context, m *snapshot.Manifest) drillResult {
	l.Log.Info("restore drill starting", "snapshot", m.Name())
	// The drill runs an etcd server in this process, whose heap grows with
	// the restored database: the soft memory limit sized for streaming a
	// snapshot would make the collector run without pause. Lift it while
	// the drill runs.
	limit := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(limit)
	r, err := drill.Run(ctx, l.Store, m, drill.Options{
		ExpectPrefixes: l.Config.Drill.ExpectPrefixes,
		WorkDir:        l.Config.Drill.WorkDir,
		RevisionBump:   l.revisionBump(ctx, m),
		Now:            l.Now,
	})
	if err == nil {
		if rerr := drill.Record(ctx, l.Store, r); rerr != nil {
			// The drill proved the snapshot; only check cannot see it.
			l.Log.Warn("restore drill passed but could not be recorded in the store", "err", rerr)
		}
	}
	return drillResult{report: r, err: err}
}

// revisionBump is the bump `etcdguard restore` would use for m now, so
// that the drill proves the restore an operator would run.
func (l *loop) revisionBump(ctx context.Context, m *snapshot.Manifest) uint64 {
	w, err := watermark.Load(ctx, l.Store, l.Config.ClusterName)
	if err != nil {
		l.Log.Warn("cannot read the revision watermark; the drill derives its revision bump without it", "err", err)
	}
	b := restore.DeriveBump(m, w, l.now())
	l.Log.Info("restore drill revision bump", "bump", b.Amount, "why", b.Reason)
	return b.Amount
}

// reportDrill logs and counts a finished drill, and returns when to drill
// next: one interval later, or after a quarter of it when it failed.
func (l *loop) reportDrill(res drillResult) time.Time {
	r := res.report
	lastSuccess := time.Time{}
	if res.err == nil {
		lastSuccess = r.StartedAt
		l.Log.Info("restore drill passed", "snapshot", r.Snapshot, "revision", r.Revision, "keys", r.Keys, "rto_seconds", r.Seconds)
	} else {
		l.Log.Error("restore drill failed", "snapshot", r.Snapshot, "err", res.err)
	}
	if l.Metrics != nil {
		l.Metrics.Drill.Observe(r, lastSuccess)
	}
	interval := l.Config.Drill.Interval.Duration
	if res.err != nil {
		interval = max(interval/4, time.Minute)
	}
	return l.now().Add(interval)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
