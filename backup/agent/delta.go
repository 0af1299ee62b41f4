package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/snapshot"
)

// chain is the delta chain the elected agent writes after its newest full
// snapshot (delta.interval > 0): a goroutine running delta.Follow.
type chain struct {
	snap   *snapshot.Manifest
	cancel context.CancelCauseFunc
	done   chan error // Follow's result: nil after a stop, a *delta.ChainBreak
}

// errStopped is the cancel cause of a chain the agent stops on purpose.
var errStopped = errors.New("stopped by the agent")

func (a *Agent) deltasOn() bool { return a.Config.Delta.Interval.Duration > 0 }

// startChain follows the full snapshot res with a delta chain until it is
// stopped or breaks; its result arrives on the returned chain's done.
func (a *Agent) startChain(ctx context.Context, res *snapshot.Result) (*chain, error) {
	cli, err := clientv3.New(a.Etcd)
	if err != nil {
		return nil, fmt.Errorf("delta chain: etcd client: %w", err)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	c := &chain{snap: res.Manifest, cancel: cancel, done: make(chan error, 1)}
	from := res.StatusRevision
	if from <= 0 || from > res.Manifest.Revision {
		from = res.Manifest.Revision
	}
	a.Log.Info("delta chain started", "snapshot", res.Manifest.Name(), "from_revision", from+1,
		"interval", a.Config.Delta.Interval.String(), "max_bytes", a.Config.Delta.MaxBytes.String())
	go func() {
		defer cli.Close()
		c.done <- delta.Follow(cctx, cli, a.Store, res.Manifest, from, delta.Options{
			Cluster:  a.Config.ClusterName,
			Interval: a.Config.Delta.Interval.Duration,
			MaxBytes: int64(a.Config.Delta.MaxBytes),
			OnCommit: func(m *delta.Manifest) {
				if a.Metrics != nil {
					a.Metrics.Segment(m)
				}
			},
			Logger: a.Log,
			Now:    a.Now,
		})
	}()
	return c, nil
}

// ended is the channel a running chain's result arrives on; nil (blocks
// in a select) without a chain.
func (c *chain) ended() <-chan error {
	if c == nil {
		return nil
	}
	return c.done
}

// stop ends the chain (it commits what it holds) and waits for it. A
// stop because leadership was lost counts as a break: the chain ends
// where it is, and the next leader starts its own.
func (c *chain) stop(a *Agent, reason string) {
	if c == nil {
		return
	}
	c.cancel(errStopped)
	err := <-c.done
	if reason != "" {
		a.chainBroke(c, &delta.ChainBreak{Reason: reason, Err: errors.New("this agent is no longer the elected uploader")})
	}
	if err != nil {
		a.Log.Warn("delta chain ended with an error", "snapshot", c.snap.Name(), "err", err)
	}
}

// chainBroke logs and counts a break; the caller forces a full snapshot.
func (a *Agent) chainBroke(c *chain, brk *delta.ChainBreak) {
	if a.Metrics != nil {
		a.Metrics.ChainBreaks.WithLabelValues(brk.Reason).Inc()
	}
	a.Log.Warn("delta chain broken: a new full snapshot starts a new chain", "snapshot", c.snap.Name(), "reason", brk.Reason, "err", brk.Err)
}

// bridgeWait is how long after its election an agent waits before it
// reads its predecessor's chain to bridge it (Bridge): the predecessor may
// still be committing. It notices that it lost leadership when its lease
// expires (a partitioned or cut-off agent: by its own clock, about when
// etcd expires the lease and this agent is elected) or at once when it
// stops; its writer then reads for up to 2 s more and commits for up to
// 5 s (delta writer.stop). 15 s leaves that window and as much again for
// a predecessor whose event loop was busy or whose clock runs behind.
// What it commits later still is caught by the listing after the bridge.
const bridgeWait = 15 * time.Second

// bridgeTimeout bounds a bridge's reading and commits: seconds of
// history, read at up to 1,000 revisions a message.
const bridgeTimeout = time.Minute

type bridgeResult struct {
	b     *delta.Bridged
	err   error
	start time.Time // when the bridge began reading the old chain
}

// Bridge extends the newest chain older than snap, the one this agent's
// predecessor wrote, from its last committed revision up to snap's
// revision, reading etcd's history (delta.Extend): so that the revisions
// between the predecessor's last segment and this agent's first snapshot
// restore through the old chain. It first waits until wait has passed.
// A nil Bridged without error: nothing to bridge.
func (a *Agent) Bridge(ctx context.Context, snap *snapshot.Manifest, wait time.Duration) bridgeResult {
	select {
	case <-ctx.Done():
		return bridgeResult{err: context.Cause(ctx)}
	case <-time.After(wait):
	}
	r := bridgeResult{start: a.now()}
	l, err := snapshot.List(ctx, a.Store, a.Config.ClusterName)
	if err != nil {
		r.err = &delta.BridgeError{Result: delta.BridgeFailed, Err: err}
		return r
	}
	var older []*snapshot.Manifest
	for _, m := range l.Snapshots { // newest first
		if m.Name() != snap.Name() && m.Revision < snap.Revision && !m.CreatedAt.After(snap.CreatedAt) && len(older) < delta.LookBack {
			older = append(older, m)
		}
	}
	prev, err := delta.NewestChain(ctx, a.Store, older, nil)
	if err != nil {
		r.err = &delta.BridgeError{Result: delta.BridgeFailed, Err: err}
		return r
	}
	if prev == nil || prev.LastRevision >= snap.Revision {
		return r // no chain before, or it reaches this snapshot already
	}
	cli, err := clientv3.New(a.Etcd)
	if err != nil {
		r.err = &delta.BridgeError{Result: delta.BridgeFailed, Err: fmt.Errorf("etcd client: %w", err)}
		return r
	}
	defer cli.Close()
	bctx, cancel := context.WithTimeout(ctx, bridgeTimeout)
	defer cancel()
	a.Log.Info("bridging the previous delta chain up to this agent's first snapshot", "chain", prev.Snapshot.Name(),
		"from_revision", prev.LastRevision+1, "until_revision", snap.Revision, "snapshot", snap.Name())
	r.b, r.err = delta.Extend(bctx, cli, a.Store, prev.Snapshot, snap.Revision, delta.Options{
		Cluster:  a.Config.ClusterName,
		MaxBytes: int64(a.Config.Delta.MaxBytes),
		Logger:   a.Log,
		Now:      a.Now,
	})
	return r
}

// bridged logs and counts a bridge's result.
func (a *Agent) bridged(r bridgeResult) {
	result := delta.BridgeCommitted
	var be *delta.BridgeError
	switch {
	case r.err == nil && (r.b == nil || len(r.b.Segments) == 0):
		if r.b != nil {
			a.Log.Info("no delta bridge needed: the previous chain reaches this agent's first snapshot", "chain", r.b.Snapshot.Name(), "last_revision", r.b.From)
		} else {
			a.Log.Debug("no delta bridge: no previous chain, or it reaches this agent's first snapshot")
		}
		return
	case r.err == nil:
		a.Log.Info("delta bridge committed: the previous chain reaches this agent's first snapshot", "chain", r.b.Snapshot.Name(),
			"from_revision", r.b.From+1, "last_revision", r.b.LastRevision(), "segments", len(r.b.Segments), "took", a.now().Sub(r.start).Round(time.Millisecond))
	case errors.As(r.err, &be):
		result = be.Result
		args := []any{"result", be.Result, "err", be.Err}
		if r.b != nil {
			args = append(args, "chain", r.b.Snapshot.Name(), "from_revision", r.b.From+1, "until_revision", r.b.Until,
				"segments_committed", len(r.b.Segments), "last_revision", r.b.LastRevision())
		}
		a.Log.Warn("delta bridge not written (or not whole): the revisions after its last_revision up to this agent's first snapshot stay in no chain", args...)
	default:
		a.Log.Debug("delta bridge not started", "err", r.err) // stopped before it began
		return
	}
	if a.Metrics != nil {
		a.Metrics.DeltaBridges.WithLabelValues(result).Inc()
	}
}
