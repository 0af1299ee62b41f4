package agent

import (
	"context"
	"errors"
	"fmt"

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
