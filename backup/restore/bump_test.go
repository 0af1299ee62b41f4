package restore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/watermark"
)

func TestDeriveBump(t *testing.T) {
	snapAt := t0
	m := &snapshot.Manifest{Revision: 5_000, CreatedAt: snapAt}
	day := 24 * time.Hour
	cases := []struct {
		name         string
		w            *watermark.Watermark
		now          time.Time
		wantEstimate uint64
		wantAmount   uint64
		wantReason   string
	}{{
		name:         "quiet cluster, fresh record: the floor",
		w:            &watermark.Watermark{Revision: 5_600, At: snapAt.Add(10 * time.Minute), PeakRate: 2, Source: "agent"},
		now:          snapAt.Add(15 * time.Minute),
		wantEstimate: 600 + 2*300,
		wantAmount:   restore.BumpFloor,
		wantReason:   "bumped by the floor",
	}, {
		name: "busy cluster, weekly snapshot: the estimate exceeds the floor",
		// 500 revisions/s for 14 days recorded, and the agent died 1 hour ago.
		w:            &watermark.Watermark{Revision: 5_000 + 500*14*86_400, At: snapAt.Add(14 * day), PeakRate: 800, Source: "agent"},
		now:          snapAt.Add(14*day + time.Hour),
		wantEstimate: 500*14*86_400 + 800*3600,
		wantAmount:   2 * (500*14*86_400 + 800*3600),
		wantReason:   "bumped by 2×estimate",
	}, {
		name:         "no record: the snapshot's age at the unrecorded rate",
		w:            nil,
		now:          snapAt.Add(30 * day),
		wantEstimate: restore.UnrecordedRate * 30 * 86_400,
		wantAmount:   2 * restore.UnrecordedRate * 30 * 86_400,
		wantReason:   "no revision watermark recorded",
	}, {
		name:         "record older than the snapshot: counts from the snapshot, with the record's rate",
		w:            &watermark.Watermark{Revision: 4_000, At: snapAt.Add(-time.Hour), PeakRate: 50_000, Source: "agent"},
		now:          snapAt.Add(day),
		wantEstimate: 50_000 * 86_400,
		wantAmount:   2 * 50_000 * 86_400,
		wantReason:   "watermark revision 4000 is older than the snapshot",
	}, {
		name:         "record without a rate yet: the unrecorded rate",
		w:            &watermark.Watermark{Revision: 5_010, At: snapAt.Add(time.Minute), Source: "snapshot"},
		now:          snapAt.Add(2 * time.Minute),
		wantEstimate: 10 + restore.UnrecordedRate*60,
		wantAmount:   restore.BumpFloor,
	}, {
		name:         "clock behind the record: nothing extrapolated",
		w:            &watermark.Watermark{Revision: 9_000, At: snapAt.Add(time.Hour), PeakRate: 100, Source: "delta"},
		now:          snapAt,
		wantEstimate: 4_000,
		wantAmount:   restore.BumpFloor,
	}, {
		name:         "absurdly old snapshot: capped far inside int64",
		w:            &watermark.Watermark{Revision: 5_000, At: snapAt, PeakRate: 1e15},
		now:          snapAt.Add(1000 * day),
		wantEstimate: restore.MaxBump,
		wantAmount:   restore.MaxBump,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := restore.DeriveBump(m, c.w, c.now)
			if b.Estimate != c.wantEstimate || b.Amount != c.wantAmount {
				t.Errorf("estimate %d amount %d, want %d and %d (%s)", b.Estimate, b.Amount, c.wantEstimate, c.wantAmount, b.Reason)
			}
			if b.Amount < b.Estimate || b.Amount < restore.BumpFloor {
				t.Errorf("amount %d below the estimate %d or the floor", b.Amount, b.Estimate)
			}
			if !strings.Contains(b.Reason, c.wantReason) {
				t.Errorf("reason %q lacks %q", b.Reason, c.wantReason)
			}
		})
	}
}

// The default bump is never below the revisions really committed after
// the snapshot: a simulated agent records a bursty cluster every minute
// for three days, and at every minute the disaster may strike after one
// more minute of writes the agent never saw (the start of a burst
// included).
func TestDeriveBumpCoversEveryCommittedRevision(t *testing.T) {
	rateAt := func(minute int) int64 { // revisions per second
		if minute%600 < 30 {
			return 3_000 // a 30-minute burst every 10 hours
		}
		return 20
	}
	var w *watermark.Watermark
	rev, at := int64(1), t0
	var snap *snapshot.Manifest
	for minute := range 3 * 24 * 60 {
		rev += rateAt(minute) * 60
		at = at.Add(time.Minute)
		next := w.Next(rev, at, "agent")
		w = &next
		if minute == 12*60 {
			snap = &snapshot.Manifest{Revision: rev, CreatedAt: at}
		}
		if snap == nil {
			continue
		}
		committed := rev + rateAt(minute+1)*60 - snap.Revision
		if b := restore.DeriveBump(snap, w, at.Add(time.Minute)); int64(b.Amount) < committed {
			t.Fatalf("minute %d: bump %d < %d revisions committed after the snapshot (%s)", minute, b.Amount, committed, b.Reason)
		}
	}
}
