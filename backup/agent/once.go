// Package agent runs etcdguard's snapshot cycle: one snapshot with its
// bookkeeping (Once, shared by `etcdguard snapshot`), and the long-running
// loop with leader election, metrics and systemd notification (Run).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/metrics"
	"github.com/k8sguard/k8sguard/backup/retention"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/backup/watermark"
)

// Agent holds what a snapshot cycle needs.
type Agent struct {
	Config  *config.Config
	Store   store.Store
	Etcd    clientv3.Config
	Metrics *metrics.Metrics // nil: none
	Log     *slog.Logger
	Now     func() time.Time
	// Notify sends an sd_notify state ("READY=1", "STATUS=…"); nil: none.
	Notify func(state string)
	// Watermark records the newest etcd revision seen, from which a
	// restore derives its revision bump; nil: none. The delta writer
	// shares it.
	Watermark *watermark.Recorder
	// QuorumLost makes Once snapshot a member without a leader, the
	// cluster's quorum lost for good (snapshot.Options.QuorumLost), unless
	// it is behind the store's newest backup (notBehindBackups). Set by
	// `etcdguard snapshot --quorum-lost` only: never the agent's loop.
	QuorumLost bool
	// MaxSnapshotDuration bounds one snapshot; 0: snapshot.MaxDuration.
	// CleanupTimeout bounds retention and each cleanup; 0: defaultCleanupTimeout.
	// (Tests shorten both.)
	MaxSnapshotDuration, CleanupTimeout time.Duration
}

// New builds an agent from a configuration: the store is opened and the
// etcd TLS material loaded here, so that a bad setting fails at start.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Agent, error) {
	etcd, err := cfg.EtcdClientConfig()
	if err != nil {
		return nil, err
	}
	st, err := cfg.OpenStoreToWrite(ctx)
	if err != nil {
		return nil, err
	}
	return &Agent{Config: cfg, Store: st, Etcd: etcd, Log: log, Now: time.Now,
		Watermark: &watermark.Recorder{Store: st, Cluster: cfg.ClusterName}}, nil
}

func (a *Agent) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// defaultCleanupTimeout bounds retention and each cleanup: they run in a
// snapshot's job after the snapshot is safe, and a store that hangs
// listing must not hold back the snapshot's result (and the delta chain
// that starts from it). What they did not reach goes after the next
// snapshot.
const defaultCleanupTimeout = 2 * time.Minute

func (a *Agent) cleanupTimeout() time.Duration {
	if a.CleanupTimeout > 0 {
		return a.CleanupTimeout
	}
	return defaultCleanupTimeout
}

// CleanupChains removes what interrupted delta chains left before
// olderThan and CommitGrace ago (see delta.Cleanup): only the elected
// agent, the one writer of delta chains, calls it.
func (a *Agent) CleanupChains(ctx context.Context, olderThan time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, a.cleanupTimeout())
	defer cancel()
	l, err := snapshot.List(ctx, a.Store, a.Config.ClusterName)
	if err != nil {
		return err
	}
	n, err := delta.Cleanup(ctx, a.Store, a.Config.ClusterName, l.Snapshots, olderThan)
	if n > 0 {
		a.Log.Info("cleaned up after interrupted delta chains", "objects", n)
	}
	return err
}

// CleanupSnapshots removes what interrupted snapshots left before
// olderThan and CommitGrace ago (see snapshot.Cleanup), and leaves delta
// chains alone: what `etcdguard snapshot` cleans, which may run beside the
// agent while it uploads a snapshot or commits a segment.
func (a *Agent) CleanupSnapshots(ctx context.Context, olderThan time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, a.cleanupTimeout())
	defer cancel()
	r, err := snapshot.Cleanup(ctx, a.Store, a.Config.ClusterName, olderThan)
	if r.IncompleteUploads > 0 || r.Orphans > 0 {
		a.Log.Info("cleaned up after interrupted snapshots", "incomplete_uploads", r.IncompleteUploads, "orphaned_data_objects", r.Orphans)
	}
	return err
}

// Once takes one snapshot, then applies retention. A failure is counted
// by stage and recorded in the store (best effort) for check to report;
// so is a snapshot still unfinished after MaxSnapshotDuration, which is
// then aborted. Only a stop (ctx ending) is neither.
func (a *Agent) Once(ctx context.Context) (*snapshot.Result, error) {
	limit := a.MaxSnapshotDuration
	if limit <= 0 {
		limit = snapshot.MaxDuration
	}
	tctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	opts := snapshot.Options{
		Cluster:     a.Config.ClusterName,
		Compression: a.Config.Compression,
		Now:         a.Now,
		Logger:      a.Log,
		QuorumLost:  a.QuorumLost,
	}
	if a.QuorumLost {
		opts.AcceptSurvivor = a.notBehindBackups
	}
	res, err := snapshot.Take(tctx, a.Etcd, a.Store, opts)
	if err != nil && ctx.Err() != nil {
		// A stop, not a failure: nothing to count or record.
		a.Log.Info("snapshot aborted", "err", err)
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if errors.Is(err, snapshot.ErrQuorumLostRefused) {
		// The operator's call, not a failed backup: a refusal stores
		// nothing, not even a failure for check to report.
		a.Log.Error("snapshot refused", "err", err)
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if err != nil && tctx.Err() != nil {
		err = fmt.Errorf("not finished after %s, the limit for one snapshot (etcd or the store stopped answering?): %w", limit, err)
	}
	if err != nil {
		stage := snapshot.StageOf(err)
		if a.Metrics != nil {
			a.Metrics.Failures.WithLabelValues(stage).Inc()
		}
		a.Log.Error("snapshot failed", "stage", stage, "err", err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if rerr := snapshot.RecordFailure(rctx, a.Store, a.Config.ClusterName, snapshot.Failure{At: a.now().UTC(), Stage: stage, Error: err.Error()}); rerr != nil {
			a.Log.Warn("could not record the failure in the store", "err", rerr)
		}
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if a.Metrics != nil {
		a.Metrics.Observe(res)
	}
	if err := a.observeRevision(ctx, res.Manifest.Revision, res.Manifest.CreatedAt, "snapshot"); err != nil {
		a.Log.Warn("could not record the revision watermark; restores derive their revision bump without it", "err", err)
	}
	if err := a.applyRetention(ctx); err != nil {
		// The snapshot is safe; retention retries next time.
		a.Log.Warn("retention skipped", "err", err)
	}
	// What an interrupted snapshot left goes once older than CommitGrace
	// (younger, its writer may still be at work): after every snapshot,
	// the agent runs for weeks between starts.
	if err := a.CleanupSnapshots(ctx, a.now()); err != nil {
		a.Log.Warn("cleanup after interrupted snapshots failed; retrying after the next snapshot", "err", err)
	}
	return res, nil
}

// observeRevision records etcd's revision in the cluster's watermark.
func (a *Agent) observeRevision(ctx context.Context, rev int64, at time.Time, source string) error {
	if a.Watermark == nil {
		return nil
	}
	_, err := a.Watermark.Observe(ctx, rev, at, source)
	return err
}

func (a *Agent) applyRetention(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cleanupTimeout())
	defer cancel()
	l, err := snapshot.List(ctx, a.Store, a.Config.ClusterName)
	if err != nil {
		return err
	}
	acks, err := snapshot.ShrinkAcks(ctx, a.Store, a.Config.ClusterName)
	if err != nil {
		return err
	}
	shrinks := retention.FindShrinks(l.Snapshots, a.Config.Check.ShrinkRatio, acks)
	for _, s := range shrinks {
		if s.Open() {
			a.Log.Warn("shrink detected: keeping the snapshot before it until a snapshot is as large again or the shrink is acknowledged",
				"shrink", s.String(), "protected", s.Before.Name(), "ack", "etcdguard check --ack-shrink "+s.After.Name())
		}
	}
	plan := retention.Decide(l.Snapshots, retention.Policy{
		KeepLast:   a.Config.Retention.KeepLast,
		KeepDaily:  a.Config.Retention.KeepDaily,
		KeepWeekly: a.Config.Retention.KeepWeekly,
	}, shrinks)
	if len(plan.Delete) > 0 && a.Config.Delta.Interval.Duration > 0 {
		// A snapshot by hand starts no chain: keep_last alone could delete
		// the one the agent is still extending.
		live, err := delta.NewestChain(ctx, a.Store, l.Snapshots, nil)
		if err != nil {
			return fmt.Errorf("find the newest delta chain: %w", err)
		}
		if live != nil {
			plan.Protect(live.Snapshot, "its delta chain is the newest (the agent may still be extending it)")
		}
	}
	r := retention.Apply(ctx, a.Store, plan, a.Log)
	if a.Metrics != nil {
		a.Metrics.RetentionDeleted.Add(float64(r.Deleted))
	}
	return nil
}
