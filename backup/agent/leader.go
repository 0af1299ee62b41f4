package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// LeaseTTL is the leader lease: when the leader dies, another agent takes
// over within this many seconds, plus an etcd leader election when the
// leader's member also led etcd (a new etcd leader renews every lease).
const LeaseTTL = 10

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
			if err := confirmLeader(ctx, sess, el); err != nil {
				return fmt.Errorf("campaign won, but %w", err)
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

// confirmLeader checks, after Campaign returned, that this agent's
// session is alive and its key is the oldest under the election prefix.
// etcd's Campaign returns once every older key is gone without checking
// that its own is still there: when a hung etcd leader stalls every lease
// renewal, the agents' leases expire together and each campaigner "won"
// at once (seen on a 3-member etcd with its leader stopped: two agents
// elected in the same millisecond, both starting a snapshot).
func confirmLeader(ctx context.Context, sess *concurrency.Session, el *concurrency.Election) error {
	select {
	case <-sess.Done():
		return errors.New("the election session expired meanwhile")
	default:
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := el.Leader(cctx)
	if err != nil {
		return fmt.Errorf("the leader could not be confirmed: %w", err)
	}
	if kv := resp.Kvs[0]; string(kv.Key) != el.Key() || kv.Lease != int64(sess.Lease()) {
		return fmt.Errorf("the election key %s is not the leader's (%s): its lease expired meanwhile", el.Key(), kv.Key)
	}
	return nil
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
