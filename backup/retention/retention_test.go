package retention

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) // a Sunday

// series makes one snapshot every step back from t0, newest first, with
// the given key counts (newest first too).
func series(step time.Duration, keys ...int64) []*snapshot.Manifest {
	var out []*snapshot.Manifest
	for i, k := range keys {
		at := t0.Add(-time.Duration(i) * step)
		out = append(out, &snapshot.Manifest{
			FormatVersion: snapshot.FormatVersion,
			Cluster:       "c",
			DataKey:       snapshot.DataKey("c", at, int64(1000-i), snapshot.CompressionZstd),
			CreatedAt:     at,
			Keys:          k,
			PrefixKeys:    map[string]int64{"/registry/pods": k / 2, "/registry/configmaps": k - k/2},
		})
	}
	return out
}

func names(ms []*snapshot.Manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name())
	}
	sort.Strings(out)
	return out
}

func kept(plan Plan) []string {
	var out []string
	for n := range plan.Keep {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestDecideGFS(t *testing.T) {
	// 30 days of 6-hourly snapshots, all the same size.
	keys := make([]int64, 120)
	for i := range keys {
		keys[i] = 100
	}
	snaps := series(6*time.Hour, keys...)
	plan := Decide(snaps, Policy{KeepLast: 3, KeepDaily: 5, KeepWeekly: 3}, nil)
	want := []string{
		// keep_last 3
		"20261122T120000Z-r1000", "20261122T060000Z-r999", "20261122T000000Z-r998",
		// keep_daily 5: the newest of Nov 22 (above), 21, 20, 19, 18
		"20261121T180000Z-r997", "20261120T180000Z-r993", "20261119T180000Z-r989", "20261118T180000Z-r985",
		// keep_weekly 3: week 47 (Nov 16-22, above), weeks 46 and 45 end on Sundays Nov 15 and Nov 8
		"20261115T180000Z-r973", "20261108T180000Z-r945",
	}
	sort.Strings(want)
	if got := kept(plan); !reflect.DeepEqual(got, want) {
		t.Fatalf("kept\n  %v\nwant\n  %v", got, want)
	}
	if len(plan.Delete) != 120-len(want) {
		t.Fatalf("deletes %d", len(plan.Delete))
	}
}

func TestShrinkProtectsTheLastGoodSnapshot(t *testing.T) {
	// newest first: after the accident at index 3 every snapshot is small.
	snaps := series(time.Hour, 10, 10, 10, 10, 1000, 1000)
	shrinks := FindShrinks(snaps, 0.5, nil)
	if len(shrinks) != 1 || shrinks[0].Before != snaps[4] || shrinks[0].After != snaps[3] || !shrinks[0].Open() {
		t.Fatalf("shrinks %+v", shrinks)
	}
	if want := "snapshot 20261122T090000Z-r997 has 10 keys, 1% of the 1000 in 20261122T080000Z-r996"; shrinks[0].String() != want {
		t.Fatalf("String() = %q", shrinks[0].String())
	}
	plan := Decide(snaps, Policy{KeepLast: 2}, shrinks)
	if why := plan.Keep[snaps[4].Name()]; !strings.HasPrefix(why, "last snapshot before a shrink") {
		t.Fatalf("pre-shrink snapshot not protected: %v", plan.Keep)
	}
	if got, want := names(plan.Delete), names([]*snapshot.Manifest{snaps[2], snaps[3], snaps[5]}); !reflect.DeepEqual(got, want) {
		t.Fatalf("delete %v want %v", got, want)
	}

	t.Run("acknowledged", func(t *testing.T) {
		s := FindShrinks(snaps, 0.5, map[string]bool{snaps[3].Name(): true})
		if len(s) != 1 || s[0].Open() {
			t.Fatalf("%+v", s)
		}
		if _, ok := Decide(snaps, Policy{KeepLast: 2}, s).Keep[snaps[4].Name()]; ok {
			t.Fatal("acknowledged shrink still protects")
		}
	})
	t.Run("resolved by a large snapshot", func(t *testing.T) {
		grown := series(time.Hour, 1000, 10, 10, 1000)
		s := FindShrinks(grown, 0.5, nil)
		if len(s) != 1 || !s[0].Resolved || s[0].Open() {
			t.Fatalf("%+v", s)
		}
	})
}

func TestShrinkByVanishedPrefix(t *testing.T) {
	snaps := series(time.Hour, 100, 100)
	snaps[0].PrefixKeys = map[string]int64{"/registry/pods": 100, "/registry/events": 0}
	snaps[1].PrefixKeys = map[string]int64{"/registry/pods": 60, "/registry/configmaps": 30, "/registry/events": 10}
	s := FindShrinks(snaps, 0.5, nil)
	if len(s) != 1 || !reflect.DeepEqual(s[0].Vanished, []string{"/registry/configmaps"}) {
		t.Fatalf("%+v", s)
	}
}

func TestApplyDeletesManifestFirstAndSurvivesRefusals(t *testing.T) {
	dir := t.TempDir()
	fs, err := store.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	snaps := series(time.Hour, 5, 5, 5)
	for _, m := range snaps {
		if _, err := fs.Put(ctx, m.DataKey, strings.NewReader("data")); err != nil {
			t.Fatal(err)
		}
		if err := snapshot.Write(ctx, fs, m); err != nil {
			t.Fatal(err)
		}
	}
	locked := &refusingStore{Store: fs, refuse: snapshot.ManifestKey(snaps[2].DataKey)}
	r := Apply(ctx, locked, Plan{Delete: snaps[1:]}, slog.New(slog.DiscardHandler))
	if r.Deleted != 1 || r.Failed != 1 {
		t.Fatalf("result %+v", r)
	}
	if locked.order[0] != snapshot.ManifestKey(snaps[2].DataKey) || locked.order[1] != snapshot.ManifestKey(snaps[1].DataKey) || locked.order[2] != snaps[1].DataKey {
		t.Fatalf("delete order %v: oldest first, manifest before data", locked.order)
	}
	l, err := snapshot.List(ctx, fs, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(l.Snapshots); !reflect.DeepEqual(got, names([]*snapshot.Manifest{snaps[0], snaps[2]})) || len(l.Orphans) != 0 {
		t.Fatalf("left %v orphans %v", got, l.Orphans)
	}
}

// refusingStore is an in-memory stand-in for Object Lock refusing one
// deletion (the real Object Lock bucket is exercised in test/backup).
type refusingStore struct {
	store.Store
	refuse string
	order  []string
}

func (r *refusingStore) Delete(ctx context.Context, key string) error {
	r.order = append(r.order, key)
	if key == r.refuse {
		return fmt.Errorf("delete %s: AccessDenied: object is WORM protected", key)
	}
	return r.Store.Delete(ctx, key)
}
