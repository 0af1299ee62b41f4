package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/snapshot"
)

// loop is the agent's event loop: run selects on its channels, and each
// event has a handler (onElected, onSnapshotDue, onDrillDone, …) that
// updates the state below. Only run's goroutine touches it.
type loop struct {
	*Agent
	sched cron.Schedule
	ping  time.Duration
	last  *snapshot.Manifest // newest known snapshot, nil when none

	leader bool
	lost   <-chan struct{} // closes when leadership ends; nil when a follower

	snapshotAt alarm // the next scheduled snapshot
	snapshot   job[snapResult]

	// The scheduled restore drill (drill.interval): due once drillAt fires,
	// started when no snapshot is in flight and one exists.
	drillAt      alarm
	drillPending bool
	drill        job[drillResult]

	watermark        job[error] // recording etcd's revision (watermark.go)
	watermarkFailing bool

	// The delta chain after the newest snapshot (delta.interval), nil
	// when none runs.
	chain *chain
	// electedAt is when this agent was last elected; bridge extends the
	// chain before this agent's first one up to its start (Bridge).
	electedAt time.Time
	bridge    job[bridgeResult]
}

type snapResult struct {
	res *snapshot.Result
	err error
}

// run handles events until ctx ends.
func (l *loop) run(ctx context.Context) error {
	leadership := make(chan leaderEvent, 1)
	if l.Config.LeaderElection {
		go l.campaign(ctx, leadership)
	} else {
		leadership <- leaderEvent{leader: true, lost: make(chan struct{})}
	}
	tick := time.NewTicker(l.ping)
	defer tick.Stop()
	watermarkTick := time.NewTicker(watermarkInterval)
	defer watermarkTick.Stop()
	defer l.snapshot.cancelIfRunning()
	defer l.drill.cancelIfRunning()
	defer l.watermark.cancelIfRunning()
	defer l.bridge.cancelIfRunning()
	for {
		select {
		case <-ctx.Done():
			l.onStop()
			return nil
		case <-tick.C:
			l.notify("WATCHDOG=1")
		case ev := <-leadership:
			l.onElected(ctx, ev)
		case <-l.lost:
			l.onLeadershipLost()
		case <-l.snapshotAt.C:
			l.onSnapshotDue(ctx)
		case r := <-l.snapshot.done:
			l.onSnapshotDone(ctx, r)
		case <-l.drillAt.C:
			l.onDrillDue(ctx)
		case r := <-l.drill.done:
			l.onDrillDone(r)
		case <-watermarkTick.C:
			l.onWatermarkTick(ctx)
		case err := <-l.watermark.done:
			l.onWatermarkRecorded(err)
		case err := <-l.chain.ended():
			l.onChainEnded(err)
		case r := <-l.bridge.done:
			l.bridge.finish()
			l.bridged(r)
		}
	}
}

// onStop aborts what is in flight (an aborted upload leaves no snapshot
// behind) and waits for it.
func (l *loop) onStop() {
	if l.snapshot.running() {
		l.Log.Info("stopping: aborting the in-flight snapshot")
		l.snapshot.abort()
	}
	if l.drill.running() {
		l.Log.Info("stopping: aborting the restore drill")
		l.drill.abort()
	}
	if l.watermark.running() {
		l.watermark.abort()
	}
	if l.chain != nil {
		l.Log.Info("stopping: committing the delta chain's last segment")
		l.chain.stop(l.Agent, "")
		l.chain = nil
	}
}

// onElected starts the leader's work: schedule the first snapshot and
// drill. What an interrupted predecessor left is cleaned up after each
// snapshot, in the snapshot's bounded job (Once, onSnapshotDue), not here:
// this loop pings the watchdog, and a store that hangs must not stop it.
func (l *loop) onElected(ctx context.Context, ev leaderEvent) {
	l.leader, l.lost = true, ev.lost
	l.electedAt = l.now()
	l.setLeader(true)
	first := l.firstRun()
	if l.deltasOn() {
		// A delta chain starts from a full snapshot this agent took: a
		// new leader cannot continue its predecessor's.
		first = l.now()
	}
	l.scheduleSnapshot(first)
	l.onWatermarkTick(ctx) // at once: a new leader's first record
	if l.Config.Drill.Interval.Duration > 0 {
		l.scheduleDrill(l.firstDrill(ctx))
	}
}

// onLeadershipLost stops scheduling: another agent uploads now. An
// in-flight snapshot finishes (it is as good as the new leader's).
func (l *loop) onLeadershipLost() {
	l.leader, l.lost = false, nil
	l.setLeader(false)
	if l.chain != nil {
		l.chain.stop(l.Agent, delta.BreakLeadership)
		l.chain = nil
	}
	// The next leader bridges the chain: a bridge in flight stops (its
	// result still arrives; what it committed is whole, and the next
	// leader waits bridgeWait before it reads the chain).
	l.bridge.cancelIfRunning()
	l.snapshotAt.clear()
	l.drillAt.clear()
	l.drillPending = false
	l.Log.Warn("lost leadership; another agent uploads now")
	l.notify("STATUS=" + l.status("follower"))
}

func (l *loop) scheduleSnapshot(at time.Time) {
	l.snapshotAt.set(at)
	l.notify("STATUS=" + l.status(fmt.Sprintf("next snapshot at %s", at.UTC().Format(time.RFC3339))))
}

// onSnapshotDue starts the scheduled snapshot, bounded by snapshotJobTimeout.
func (l *loop) onSnapshotDue(ctx context.Context) {
	l.snapshotAt.clear()
	if !l.leader || l.snapshot.running() {
		return
	}
	select {
	case <-l.lost:
		// Leadership ended while the timer fired (both were ready at
		// once; select picks either): no snapshot from a follower.
		l.onLeadershipLost()
		return
	default:
	}
	l.snapshot.start(ctx, snapshotJobTimeout, func(ctx context.Context) snapResult {
		res, err := l.Once(ctx)
		if err == nil && l.deltasOn() {
			// What an interrupted chain left goes once older than
			// CommitGrace: after every snapshot, as a leader runs for weeks.
			if err := l.CleanupChains(ctx, l.now()); err != nil {
				l.Log.Warn("cleanup after interrupted delta chains failed; retrying after the next snapshot", "err", err)
			}
		}
		return snapResult{res, err}
	})
	l.notify("STATUS=" + l.status("snapshot in progress"))
}

// onSnapshotDone schedules the next snapshot (sooner after a failure) and
// starts a drill that fell due meanwhile: after a failure the last good
// snapshot is still worth proving.
func (l *loop) onSnapshotDone(ctx context.Context, r snapResult) {
	l.snapshot.finish()
	if r.err == nil {
		l.last = r.res.Manifest
		if l.leader && l.deltasOn() {
			l.followSnapshot(ctx, r.res)
		}
	}
	if l.leader {
		if r.err != nil {
			l.scheduleSnapshot(l.now().Add(l.retryDelay()))
		} else {
			l.scheduleSnapshot(l.nextRun(l.now()))
		}
	}
	l.startDrill(ctx)
}

// followSnapshot ends the running delta chain (its last segment is
// committed) and starts the new snapshot's. A chain that follows none of
// this agent's (its first since its election, or after a break) leaves
// revisions between the chain before it and the new snapshot in no
// chain: a bridge, in the background, extends that chain up to the new
// snapshot (Bridge).
func (l *loop) followSnapshot(ctx context.Context, res *snapshot.Result) {
	fresh := l.chain == nil
	if l.chain != nil {
		l.chain.stop(l.Agent, "")
		l.chain = nil
	}
	c, err := l.startChain(ctx, res)
	if err != nil {
		l.Log.Error("delta chain not started; retrying with the next snapshot", "err", err)
		return
	}
	l.chain = c
	if fresh {
		l.startBridge(ctx, res.Manifest)
	}
}

// startBridge runs Bridge as a job, bridgeWait after the election at the
// earliest: this loop goes on meanwhile.
func (l *loop) startBridge(ctx context.Context, snap *snapshot.Manifest) {
	if l.bridge.running() {
		l.Log.Warn("a delta bridge is still running; none for this snapshot", "snapshot", snap.Name())
		return
	}
	wait := max(l.electedAt.Add(bridgeWait).Sub(l.now()), 0)
	l.bridge.start(ctx, wait+bridgeTimeout+2*defaultCleanupTimeout, func(ctx context.Context) bridgeResult {
		return l.Bridge(ctx, snap, wait)
	})
}

// onChainEnded handles a chain that stopped by itself: a break. A new full
// snapshot, at once, starts the next chain.
func (l *loop) onChainEnded(err error) {
	c := l.chain
	l.chain = nil
	if err == nil {
		return // stopped with the agent
	}
	var brk *delta.ChainBreak
	if !errors.As(err, &brk) {
		brk = &delta.ChainBreak{Reason: delta.BreakGap, Err: fmt.Errorf("the chain ended unexpectedly: %v", err)}
	}
	l.chainBroke(c, brk)
	if l.leader && !l.snapshot.running() {
		l.scheduleSnapshot(l.now())
	}
}

// alarm is a one-shot timer whose channel is nil while it is not set, so
// that a select on it blocks.
type alarm struct {
	C     <-chan time.Time
	at    time.Time
	timer *time.Timer
}

func (a *alarm) set(at time.Time) {
	a.clear()
	a.timer = time.NewTimer(max(time.Until(at), 0))
	a.C, a.at = a.timer.C, at
}

func (a *alarm) clear() {
	if a.timer != nil {
		a.timer.Stop()
	}
	a.C = nil
}

// job is work run in its own goroutine with its own deadline; done is nil
// while none runs, so that a select on it blocks.
type job[T any] struct {
	done   chan T
	cancel context.CancelFunc
}

func (j *job[T]) running() bool { return j.done != nil }

func (j *job[T]) start(ctx context.Context, timeout time.Duration, work func(context.Context) T) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	j.done, j.cancel = make(chan T, 1), cancel
	go func(done chan<- T) { done <- work(ctx) }(j.done)
}

// finish releases a job whose result run has received.
func (j *job[T]) finish() {
	j.cancelIfRunning()
	j.done, j.cancel = nil, nil
}

// abort cancels a running job and waits for it to return.
func (j *job[T]) abort() {
	j.cancel()
	<-j.done
	j.finish()
}

func (j *job[T]) cancelIfRunning() {
	if j.cancel != nil {
		j.cancel()
	}
}
