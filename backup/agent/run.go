package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/k8sguard/k8sguard/backup/snapshot"
)

// LeaseTTL is the leader lease: when the leader dies, another agent takes
// over within this many seconds.
const LeaseTTL = 10

// snapshotTimeout bounds one snapshot, so that a hung stream cannot stall
// the schedule (or the watchdog) forever.
const snapshotTimeout = time.Hour

// Run takes snapshots on the schedule until ctx ends. It sends READY=1 once
// etcd and the store have answered, WATCHDOG=1 from the loop itself (a
// stuck loop gets the agent restarted), and STATUS= with the last
// snapshot. With leader election only the elected agent snapshots.
// Cancelling ctx (SIGTERM) aborts an in-flight upload, which leaves no
// snapshot behind, and returns.
func (a *Agent) Run(ctx context.Context, watchdog time.Duration) error {
	sched, err := a.Config.ScheduleSpec()
	if err != nil {
		return err
	}
	var ready atomic.Bool
	if a.Config.Metrics.Listen != "" && a.Metrics != nil {
		ln, err := net.Listen("tcp", a.Config.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen %s: %w", a.Config.Metrics.Listen, err)
		}
		srv := &http.Server{Handler: a.Metrics.Handler(func() error {
			if !ready.Load() {
				return errors.New("etcd and the store have not both answered yet")
			}
			return nil
		}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		a.Log.Info("serving metrics", "listen", ln.Addr().String())
	}

	l := &loop{Agent: a, sched: sched, ping: time.Hour}
	if watchdog > 0 {
		l.ping = watchdog / 3
	}
	if err := l.waitForContact(ctx); err != nil {
		return err
	}
	ready.Store(true)
	a.notify("READY=1")
	a.notify("STATUS=" + l.status("connected"))
	defer a.notify("STOPPING=1")
	return l.run(ctx)
}

func (a *Agent) notify(state string) {
	if a.Notify != nil {
		a.Notify(state)
	}
}

type loop struct {
	*Agent
	sched cron.Schedule
	ping  time.Duration
	last  *snapshot.Manifest
}

// waitForContact retries until etcd and the store both answer.
func (l *loop) waitForContact(ctx context.Context) error {
	tick := time.NewTicker(l.ping)
	defer tick.Stop()
	delay := time.Second
	for attempt := 1; ; attempt++ {
		err := l.contact(ctx)
		if err == nil {
			return nil
		}
		l.Log.Warn("waiting for etcd and the store", "attempt", attempt, "err", err)
		l.notify("STATUS=waiting for etcd and the store: " + err.Error())
		wait := time.NewTimer(delay)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				wait.Stop()
				return ctx.Err()
			case <-tick.C:
				l.notify("WATCHDOG=1") // the loop is alive, only etcd is not
			case <-wait.C:
				waiting = false
			}
		}
		delay = min(delay*2, 30*time.Second)
	}
}

func (l *loop) contact(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.Etcd.DialTimeout+5*time.Second)
	defer cancel()
	cli, err := clientv3.New(l.Etcd)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer cli.Close()
	var errs []error
	for _, ep := range l.Etcd.Endpoints {
		if _, err = cli.Status(ctx, ep); err == nil {
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
	}
	if err != nil {
		return fmt.Errorf("etcd: %w", errors.Join(errs...))
	}
	if _, err := l.Store.List(ctx, l.Config.ClusterName+"/"); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func (l *loop) run(ctx context.Context) error {
	leadership := make(chan leaderEvent, 1)
	if l.Config.LeaderElection {
		go l.campaign(ctx, leadership)
	} else {
		leadership <- leaderEvent{leader: true, lost: make(chan struct{})}
	}

	tick := time.NewTicker(l.ping)
	defer tick.Stop()
	var (
		leader   bool
		lost     <-chan struct{}
		next     <-chan time.Time
		timer    *time.Timer
		inflight chan snapResult
		cancelIn context.CancelFunc = func() {}

		// The scheduled restore drill (drill.interval): due once drillNext
		// fires, started when no snapshot is in flight and one exists.
		drillNext     <-chan time.Time
		drillTimer    *time.Timer
		drillDue      bool
		drilling      chan drillResult
		cancelDrill   context.CancelFunc = func() {}
		drillsEnabled                    = l.Config.Drill.Interval.Duration > 0
		nextAt        time.Time          // of the scheduled snapshot, for STATUS=
	)
	defer func() { cancelIn(); cancelDrill() }()
	scheduleDrill := func(at time.Time) {
		if drillTimer != nil {
			drillTimer.Stop()
		}
		drillTimer = time.NewTimer(max(time.Until(at), 0))
		drillNext = drillTimer.C
		l.Log.Info("next restore drill", "at", at.UTC().Format(time.RFC3339))
	}
	startDrill := func() {
		if !drillDue || !leader || inflight != nil || drilling != nil || l.last == nil {
			return
		}
		drillDue = false
		dctx, cancel := context.WithTimeout(ctx, drillTimeout)
		cancelDrill = cancel
		drilling = make(chan drillResult, 1)
		go func(ch chan drillResult, m *snapshot.Manifest) { ch <- l.drill(dctx, m) }(drilling, l.last)
		l.notify("STATUS=" + l.status("restore drill in progress"))
	}
	schedule := func(at time.Time) {
		if timer != nil {
			timer.Stop()
		}
		d := max(time.Until(at), 0)
		timer = time.NewTimer(d)
		next = timer.C
		nextAt = at
		l.notify("STATUS=" + l.status(fmt.Sprintf("next snapshot at %s", at.UTC().Format(time.RFC3339))))
	}
	for {
		select {
		case <-ctx.Done():
			if inflight != nil {
				l.Log.Info("stopping: aborting the in-flight snapshot")
				cancelIn()
				<-inflight
			}
			if drilling != nil {
				l.Log.Info("stopping: aborting the restore drill")
				cancelDrill()
				<-drilling
			}
			return nil
		case <-tick.C:
			l.notify("WATCHDOG=1")
		case ev := <-leadership:
			leader, lost = true, ev.lost
			l.setLeader(true)
			becameLeader := l.now()
			if err := l.Cleanup(ctx, becameLeader); err != nil {
				l.Log.Warn("cleanup after interrupted snapshots failed; retrying on the next start", "err", err)
			}
			schedule(l.firstRun())
			if drillsEnabled {
				scheduleDrill(l.firstDrill(ctx))
			}
		case <-lost:
			leader, lost = false, nil
			l.setLeader(false)
			next, drillNext, drillDue = nil, nil, false
			l.Log.Warn("lost leadership; another agent uploads now")
			l.notify("STATUS=" + l.status("follower"))
		case <-next:
			next = nil
			if !leader || inflight != nil {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
			cancelIn = cancel
			inflight = make(chan snapResult, 1)
			go func(ch chan snapResult) {
				res, err := l.Once(sctx)
				ch <- snapResult{res, err}
			}(inflight)
			l.notify("STATUS=" + l.status("snapshot in progress"))
		case r := <-inflight:
			inflight = nil
			cancelIn()
			if r.err != nil {
				if leader {
					schedule(l.now().Add(l.retryDelay()))
				}
				startDrill() // the last good snapshot is still worth proving
				continue
			}
			l.last = r.res.Manifest
			if leader {
				schedule(l.nextRun(l.now()))
			}
			startDrill() // one that fell due during the snapshot
		case <-drillNext:
			drillNext, drillDue = nil, true
			startDrill()
		case r := <-drilling:
			drilling = nil
			cancelDrill()
			at := l.drillDone(r)
			if leader {
				scheduleDrill(at)
			}
			if inflight == nil && leader {
				verdict := "passed"
				if r.err != nil {
					verdict = "FAILED"
				}
				l.notify("STATUS=" + l.status(fmt.Sprintf("restore drill %s; next snapshot at %s", verdict, nextAt.UTC().Format(time.RFC3339))))
			}
		}
	}
}

type snapResult struct {
	res *snapshot.Result
	err error
}

type leaderEvent struct {
	leader bool
	lost   <-chan struct{}
}

// campaign wins the cluster's election, reports it, and campaigns again
// after a lost session, until ctx ends.
func (l *loop) campaign(ctx context.Context, out chan<- leaderEvent) {
	key := "/etcdguard/" + l.Config.ClusterName + "/leader"
	delay := time.Second
	for ctx.Err() == nil {
		err := func() error {
			cli, err := clientv3.New(l.Etcd)
			if err != nil {
				return err
			}
			defer cli.Close()
			sess, err := concurrency.NewSession(cli, concurrency.WithTTL(LeaseTTL), concurrency.WithContext(ctx))
			if err != nil {
				return fmt.Errorf("election session: %w", err)
			}
			defer sess.Close()
			el := concurrency.NewElection(sess, key)
			l.Log.Info("campaigning for leadership", "key", key)
			l.notify("STATUS=" + l.status("follower, campaigning"))
			if err := el.Campaign(ctx, l.Config.ClusterName); err != nil {
				return fmt.Errorf("campaign: %w", err)
			}
			l.Log.Info("elected leader: this agent uploads", "key", key)
			delay = time.Second
			select {
			case out <- leaderEvent{leader: true, lost: sess.Done()}:
			case <-ctx.Done():
				return nil
			}
			select {
			case <-sess.Done():
				return errors.New("election session expired")
			case <-ctx.Done():
				// Resign so that a follower takes over at once, not after the TTL.
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				el.Resign(rctx)
				return nil
			}
		}()
		if err != nil && ctx.Err() == nil {
			l.Log.Warn("leader election", "err", err)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
			}
			delay = min(delay*2, 15*time.Second)
		}
	}
}

func (l *loop) setLeader(v bool) {
	if l.Metrics == nil {
		return
	}
	if v {
		l.Metrics.Leader.Set(1)
	} else {
		l.Metrics.Leader.Set(0)
	}
}

// firstRun is when a new leader snapshots first: at once when the newest
// snapshot in the store is already due, otherwise on schedule.
func (l *loop) firstRun() time.Time {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := snapshot.List(ctx, l.Store, l.Config.ClusterName)
	if err != nil || len(list.Snapshots) == 0 {
		return l.now()
	}
	l.last = list.Snapshots[0]
	if l.Metrics != nil {
		l.Metrics.Found(l.last)
	}
	if due := l.sched.Next(l.last.CreatedAt); !due.After(l.now()) {
		return l.now()
	}
	return l.nextRun(l.now())
}

func (l *loop) nextRun(after time.Time) time.Time {
	at := l.sched.Next(after)
	if j := l.Config.Schedule.Jitter.Duration; j > 0 {
		at = at.Add(rand.N(j))
	}
	return at
}

// retryDelay after a failure: a quarter interval, between 1s and 5m.
func (l *loop) retryDelay() time.Duration {
	d := time.Minute
	if l.Config.Schedule.Cron == "" {
		d = l.Config.Schedule.Interval.Duration / 4
	}
	return min(max(d, time.Second), 5*time.Minute)
}

func (l *loop) status(state string) string {
	s := state
	if l.last != nil {
		s += fmt.Sprintf("; last snapshot %s (revision %d, %d keys, %d bytes)", l.last.Name(), l.last.Revision, l.last.Keys, l.last.StoredSize)
	}
	return s
}
