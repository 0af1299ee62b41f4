package watermark_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/backup/watermark"
)

var t0 = time.Date(2026, 11, 22, 3, 15, 0, 0, time.UTC)

func TestNext(t *testing.T) {
	var w *watermark.Watermark
	first := w.Next(1_000, t0, "agent")
	if first != (watermark.Watermark{Revision: 1_000, At: t0, Source: "agent"}) {
		t.Fatalf("first observation = %+v", first)
	}
	// 6,000 revisions in a minute: 100/s.
	second := first.Next(7_000, t0.Add(time.Minute), "snapshot")
	if second.Revision != 7_000 || second.PeakRate != 100 || second.Source != "snapshot" {
		t.Fatalf("second = %+v, want revision 7000 at 100/s", second)
	}
	// Slower growth keeps the peak, decayed by the elapsed half-lives.
	third := second.Next(7_060, t0.Add(time.Minute+watermark.RateHalfLife), "agent")
	if math.Abs(third.PeakRate-50) > 1e-9 || third.Revision != 7_060 {
		t.Fatalf("after one half-life at a low rate = %+v, want peak 50/s", third)
	}
	// A jump faster than any etcd commits (a restore that bumped the
	// revision) moves the mark but not the rate.
	jumped := third.Next(1_000_007_060, third.At.Add(time.Minute), "agent")
	if jumped.Revision != 1_000_007_060 || jumped.PeakRate > 50 {
		t.Fatalf("after a bump-sized jump = %+v, want the rate unchanged", jumped)
	}
	// Going backwards (a restore without a bump, a stale reader) keeps
	// the higher mark.
	back := jumped.Next(10, jumped.At.Add(time.Minute), "delta")
	if back.Revision != jumped.Revision || back.Source != "agent" || back.PeakRate < 0 {
		t.Fatalf("after a lower revision = %+v, want the mark kept", back)
	}
	// A clock that went backwards measures no rate.
	skew := second.Next(8_000, t0, "agent")
	if skew.PeakRate != second.PeakRate || skew.At != second.At || skew.Revision != 8_000 {
		t.Fatalf("with the clock behind = %+v", skew)
	}
}

func TestRecorderContinuesTheStoredHistory(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if w, err := watermark.Load(ctx, st, "c1"); w != nil || err != nil {
		t.Fatalf("empty store: %+v, %v", w, err)
	}
	r := &watermark.Recorder{Store: st, Cluster: "c1"}
	if _, err := r.Observe(ctx, 100, t0, "agent"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Observe(ctx, 1_300, t0.Add(time.Minute), "agent"); err != nil {
		t.Fatal(err)
	}
	// A new recorder (an agent restart) picks up the stored peak rate.
	r2 := &watermark.Recorder{Store: st, Cluster: "c1"}
	got, err := r2.Observe(ctx, 1_310, t0.Add(2*time.Minute), "delta")
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 1_310 || got.PeakRate < 19.9 || got.Source != "delta" {
		t.Fatalf("after a restart = %+v, want the 20/s peak kept (decayed by one minute)", got)
	}
	loaded, err := watermark.Load(ctx, st, "c1")
	if err != nil || loaded == nil || *loaded != got {
		t.Fatalf("Load = %+v, %v; want %+v", loaded, err, got)
	}
}
