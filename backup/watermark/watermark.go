// Package watermark records the newest etcd revision etcdguard has seen
// for a cluster, and how fast revisions grew, in the store
// (_etcdguard/<cluster>/revision-watermark.json). A restore reads it to
// bump the restored revision past every revision clients may have seen
// (see restore.DeriveBump): the agent observes it every minute and at
// every snapshot, the delta writer after every segment.
package watermark

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/k8sguard/k8sguard/backup/record"
	"github.com/k8sguard/k8sguard/backup/store"
)

// recordName is the watermark's name among the cluster's records.
const recordName = "revision-watermark.json"

// RateHalfLife is how fast a recorded peak rate fades: a burst of writes
// is remembered for hours, so an estimate built on it errs high.
const RateHalfLife = 6 * time.Hour

// MaxPlausibleRate (revisions per second) is above anything one etcd
// cluster commits (etcd's own benchmarks peak at tens of thousands of
// writes a second). A faster jump between two observations is not
// writes but a discontinuity, such as a restore that bumped the
// revision; it moves the watermark without touching the rate.
const MaxPlausibleRate = 100_000

// Watermark is the newest revision seen and the growth rate.
type Watermark struct {
	Revision int64     `json:"revision"`
	At       time.Time `json:"at"`
	// PeakRate is in revisions per second: the fastest growth measured
	// between two observations, halving every RateHalfLife. 0 until two
	// observations exist.
	PeakRate float64 `json:"peak_rate_per_second"`
	// Source says who observed it: "agent", "snapshot" or "delta".
	Source string `json:"source"`
}

// Next is w after observing revision rev at time at. The revision never
// goes backwards (a lower one is a restore without a bump or a stale
// reader; the higher mark is the safe one to keep).
func (w *Watermark) Next(rev int64, at time.Time, source string) Watermark {
	at = at.UTC()
	if w == nil || w.Revision == 0 {
		return Watermark{Revision: rev, At: at, Source: source}
	}
	next := *w
	dt := at.Sub(w.At)
	if dt > 0 {
		next.PeakRate = w.PeakRate * math.Exp2(-dt.Hours()/RateHalfLife.Hours())
		if rate := float64(rev-w.Revision) / dt.Seconds(); rate > next.PeakRate && rate <= MaxPlausibleRate {
			next.PeakRate = rate
		}
		next.At = at
	}
	if rev >= w.Revision {
		next.Revision, next.Source = rev, source
	}
	return next
}

// Load returns the cluster's watermark, or nil when none was recorded.
func Load(ctx context.Context, st store.Store, cluster string) (*Watermark, error) {
	var w Watermark
	found, err := record.Get(ctx, st, cluster, recordName, &w)
	if err != nil || !found {
		return nil, err
	}
	return &w, nil
}

// Recorder keeps one cluster's watermark up to date in the store. It is
// safe for concurrent use (the agent's loop and the delta writer share
// one); each Observe is a read of memory and one small Put.
type Recorder struct {
	Store   store.Store
	Cluster string

	mu     sync.Mutex
	last   *Watermark
	loaded bool
}

// Observe records that etcd was at revision rev at time at, as seen by
// source, and returns the watermark written.
func (r *Recorder) Observe(ctx context.Context, rev int64, at time.Time, source string) (Watermark, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded {
		// Continue the stored history (its peak rate) across restarts.
		prev, err := Load(ctx, r.Store, r.Cluster)
		if err != nil {
			return Watermark{}, fmt.Errorf("revision watermark: %w", err)
		}
		r.last, r.loaded = prev, true
	}
	next := r.last.Next(rev, at, source)
	if err := record.Put(ctx, r.Store, r.Cluster, recordName, next); err != nil {
		return next, fmt.Errorf("revision watermark: %w", err)
	}
	r.last = &next
	return next, nil
}
