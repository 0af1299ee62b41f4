package check_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/check"
	"github.com/k8sguard/k8sguard/backup/drill"
	"github.com/k8sguard/k8sguard/backup/store"
)

// TestMaxDrillAge judges the drill record the drill package keeps in a
// real file store: none, too old, recent, and unchecked.
func TestMaxDrillAge(t *testing.T) {
	const cluster = "prod-eu1"
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	st, err := store.NewFile(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	drillFinding := func(o check.Options) *check.Finding {
		t.Helper()
		o.Cluster, o.MaxAge, o.ShrinkRatio, o.Now = cluster, time.Hour, 0.5, now
		r := check.Run(ctx, st, o)
		for i, f := range r.Findings {
			if f.Check == "drill" {
				return &r.Findings[i]
			}
		}
		return nil
	}

	if f := drillFinding(check.Options{}); f != nil {
		t.Fatalf("max_drill_age 0 must leave drills unchecked, got %+v", f)
	}
	f := drillFinding(check.Options{MaxDrillAge: 48 * time.Hour})
	want := `no restore drill of cluster "prod-eu1" has succeeded (max_drill_age 48h0m0s); run 'etcdguard drill' or set drill.interval for the agent`
	if f == nil || f.Status != check.Warning || f.Message != want {
		t.Fatalf("no drill: %+v, want WARNING %q", f, want)
	}

	record := func(at time.Time) {
		t.Helper()
		r := &drill.Report{Cluster: cluster, Snapshot: cluster + "/20261120T000000Z-r42.db.zst", StartedAt: at, Seconds: 3.5, OK: true}
		if err := drill.Record(ctx, st, r); err != nil {
			t.Fatal(err)
		}
	}
	record(now.Add(-72 * time.Hour))
	f = drillFinding(check.Options{MaxDrillAge: 48 * time.Hour})
	want = "the last successful restore drill (of prod-eu1/20261120T000000Z-r42.db.zst) was 72h0m0s ago (max_drill_age 48h0m0s)"
	if f == nil || f.Status != check.Warning || f.Message != want {
		t.Fatalf("old drill: %+v, want WARNING %q", f, want)
	}

	record(now.Add(-2 * time.Hour))
	r := check.Run(ctx, st, check.Options{Cluster: cluster, MaxAge: time.Hour, ShrinkRatio: 0.5, Now: now, MaxDrillAge: 48 * time.Hour})
	f = drillFinding(check.Options{MaxDrillAge: 48 * time.Hour})
	if f == nil || f.Status != check.OK || !strings.Contains(f.Message, "RTO 3.5s) was 2h0m0s ago") {
		t.Fatalf("recent drill: %+v, want OK with the RTO and age", f)
	}
	var prom strings.Builder
	if err := r.WritePrometheus(&prom); err != nil {
		t.Fatal(err)
	}
	wantSeries := `etcdguard_check_last_drill_success_timestamp_seconds{cluster="prod-eu1"} 1.7953416e+09`
	if !strings.Contains(prom.String(), wantSeries) {
		t.Fatalf("prometheus output lacks %s:\n%s", wantSeries, prom.String())
	}
}
