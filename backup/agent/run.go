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

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// snapshotJobTimeout bounds a scheduled snapshot's job, so that nothing in
// it can stall the schedule forever: the snapshot itself is bounded by
// snapshot.MaxDuration (Once, which then counts and records the failure),
// retention and the two cleanups by defaultCleanupTimeout each; this is the
// backstop.
const snapshotJobTimeout = snapshot.MaxDuration + 3*defaultCleanupTimeout + time.Minute

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
		if what := store.Misconfigured(err); what != "" {
			// Waiting would only hide it: fail the start, visibly.
			return fmt.Errorf("%s, so no snapshot can be stored: fix the configuration and start again: %w", what, err)
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
	if _, err := l.etcdStatus(ctx); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	if _, err := l.Store.ListDir(ctx, l.Config.ClusterName+"/"); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// etcdStatus asks the endpoints in turn for their status (revision
// included) and returns the first answer.
func (a *Agent) etcdStatus(ctx context.Context) (*clientv3.StatusResponse, error) {
	cli, err := clientv3.New(a.Etcd)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	var errs []error
	for _, ep := range a.Etcd.Endpoints {
		st, err := cli.Status(ctx, ep)
		if err == nil {
			return st, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
	}
	return nil, errors.Join(errs...)
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
