package restore

import (
	"fmt"
	"math"
	"time"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/watermark"
)

// Why a restore bumps the revision: kube-apiserver's watch cache and every
// informer remember the revision (resourceVersion) they last saw. A
// restored etcd starts at the snapshot's revision, behind that, so a
// watch resumed from the remembered revision silently skips the changes
// numbered in between and keeps objects the restore removed. Bumping the
// revision past every revision a client can have seen, and marking it
// compacted, makes every such watch fail with "compacted" (410 Gone
// through the API server) and every client relist. etcdutl's
// --bump-revision --mark-compacted; etcd#16028, kubernetes#118501.
const (
	// BumpFloor is the smallest default bump: the figure etcd's and
	// Kubernetes' restore documentation use. A bump costs nothing (one
	// key is rewritten, whatever its size) and revisions are int64, so a
	// billion per restore lasts nine billion restores, while a bump that
	// is too small fails silently. The floor covers a missing, stale or
	// wrong record.
	BumpFloor uint64 = 1_000_000_000
	// BumpMargin multiplies the estimate: the peak rate is a past
	// figure, and the burst before a disaster (a runaway controller) may
	// have been faster.
	BumpMargin = 2
	// UnrecordedRate (revisions per second) stands in for the peak rate
	// when the agent has recorded none: an etcd cluster busier than a
	// large Kubernetes cluster's.
	UnrecordedRate = 10_000
	// MaxBump keeps snapshot revision + bump far inside int64, however
	// old the snapshot or odd the record.
	MaxBump uint64 = 1 << 60
)

// Bump is a derived revision bump and how it was derived.
type Bump struct {
	Amount uint64
	// Estimate is the most revisions that can have been committed after
	// the snapshot; Amount is BumpMargin times that, at least BumpFloor.
	Estimate uint64
	Reason   string
}

// DeriveBump is the default bump for restoring m at time now, from the
// cluster's watermark w (nil: none recorded):
//
//	estimate = (watermark revision − snapshot revision)
//	         + peak rate × (now − watermark time)
//	amount   = max(BumpFloor, BumpMargin × estimate)
//
// A watermark older than the snapshot (or none) counts from the snapshot
// itself; a rate of 0 (none measured yet) counts as UnrecordedRate.
func DeriveBump(m *snapshot.Manifest, w *watermark.Watermark, now time.Time) Bump {
	fromRev, fromAt, rate := m.Revision, m.CreatedAt, float64(UnrecordedRate)
	source := "no revision watermark recorded"
	if w != nil {
		if w.PeakRate > 0 {
			rate = w.PeakRate
		}
		if w.Revision >= m.Revision {
			fromRev, fromAt = w.Revision, w.At
			source = fmt.Sprintf("watermark: revision %d at %s (%s)", w.Revision, w.At.UTC().Format(time.RFC3339), w.Source)
		} else {
			source = fmt.Sprintf("watermark revision %d is older than the snapshot", w.Revision)
		}
	}
	elapsed := max(now.Sub(fromAt), 0)
	unseen := math.Ceil(rate * elapsed.Seconds())
	estimate := float64(fromRev-m.Revision) + unseen
	amount := max(float64(BumpFloor), BumpMargin*estimate)
	b := Bump{Amount: MaxBump, Estimate: MaxBump}
	if estimate < float64(MaxBump) {
		b.Estimate = uint64(estimate)
	}
	if amount < float64(MaxBump) {
		b.Amount = uint64(amount)
	}
	how := fmt.Sprintf("%d×estimate", BumpMargin)
	if b.Amount == BumpFloor {
		how = "the floor"
	}
	b.Reason = fmt.Sprintf("at most %d revisions after the snapshot's %d (%s; %d recorded since the snapshot, plus %.1f/s for %s), bumped by %s",
		b.Estimate, m.Revision, source, fromRev-m.Revision, rate, elapsed.Round(time.Second), how)
	return b
}
