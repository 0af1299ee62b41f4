package drill_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/drill"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/restore"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

const cluster = "prod-eu1"

func seed(t *testing.T) (store.Store, *snapshot.Manifest) {
	t.Helper()
	s, err := store.NewFile(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.StartIn(t, "")
	kvs := map[string]string{"/registry/namespaces/kube-system": "ns", "/registry/namespaces/default": "ns"}
	for i := range 10 {
		kvs[fmt.Sprintf("/registry/secrets/default/s%d", i)] = "secret"
	}
	e.Put(t, kvs)
	// Overwrites and deletes: the restored revision must still match.
	e.Put(t, map[string]string{"/registry/secrets/default/s0": "rotated"})
	if _, err := e.Client.Delete(context.Background(), "/registry/secrets/default/s9"); err != nil {
		t.Fatal(err)
	}
	return s, e.Snapshot(t, s, cluster, time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), snapshot.CompressionZstd)
}

func TestDrillRestoresStartsAndChecksTheSnapshot(t *testing.T) {
	s, m := seed(t)
	work := t.TempDir()
	r, err := drill.Run(context.Background(), s, m, drill.Options{WorkDir: work, ExpectPrefixes: []string{"/registry/namespaces/kube-system"}})
	if err != nil {
		t.Fatalf("drill failed: %v\n%s", err, text(t, r))
	}
	out := text(t, r)
	t.Logf("\n%s", out)
	var phases []string
	for _, p := range r.Phases {
		phases = append(phases, p.Phase)
	}
	// A drill of a full snapshot has every phase but the point-in-time replay.
	var want []string
	for _, p := range drill.Phases {
		if p != drill.PhaseReplay {
			want = append(want, p)
		}
	}
	if strings.Join(phases, ",") != strings.Join(want, ",") {
		t.Errorf("phases %v, want %v", phases, want)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		fmt.Sprintf("drill of %s (revision %d, 11 keys, ", m.DataKey, m.Revision),
		"): PASSED in ",
		fmt.Sprintf("revision ok restored etcd at revision %d, snapshot file %d, manifest %d", m.Revision, m.Revision, m.Revision),
		"keys ok 11 keys, as in the manifest",
		"/registry/namespaces ok 2 keys, as in the manifest",
		"/registry/secrets ok 9 keys, as in the manifest",
		"expect /registry/namespaces/kube-system ok 1 key",
		"total (RTO)",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	assertEmpty(t, work)

	// The record `check` reads, and the textfile node_exporter reads.
	if err := drill.Record(context.Background(), s, r); err != nil {
		t.Fatal(err)
	}
	last, err := drill.LastSuccess(context.Background(), s, cluster)
	if err != nil || last == nil || !last.StartedAt.Equal(r.StartedAt) || !last.OK {
		t.Fatalf("LastSuccess = %+v, %v", last, err)
	}
	if none, err := drill.LastSuccess(context.Background(), s, "other"); none != nil || err != nil {
		t.Fatalf("LastSuccess(other) = %+v, %v; want nil, nil", none, err)
	}
	path := filepath.Join(t.TempDir(), "etcdguard_drill.prom")
	if err := r.WriteTextfile(path, r.StartedAt); err != nil {
		t.Fatal(err)
	}
	prom, _ := os.ReadFile(path)
	var ts float64
	if _, err := fmt.Sscanf(lineOf(string(prom), `etcdguard_drill_last_success_timestamp_seconds{cluster="prod-eu1"} `), "%g", &ts); err != nil || int64(ts) != r.StartedAt.Unix() {
		t.Errorf("last success = %v (%v), want %d:\n%s", ts, err, r.StartedAt.Unix(), prom)
	}
	for _, want := range []string{
		`etcdguard_drill_success{cluster="prod-eu1"} 1`,
		`etcdguard_drill_duration_seconds{cluster="prod-eu1",phase="download"} `,
		`etcdguard_drill_duration_seconds{cluster="prod-eu1",phase="total"} `,
	} {
		if !strings.Contains(string(prom), want) {
			t.Errorf("textfile lacks %q:\n%s", want, prom)
		}
	}
}

// A killed drill leaves its work dir (the downloaded snapshot and the
// restored data dir); the next drill removes it, and leaves alone the work
// dir of a drill still running (which holds its lock) and anything else.
func TestDrillRemovesWhatAKilledDrillLeft(t *testing.T) {
	s, m := seed(t)
	work := t.TempDir()
	killed := filepath.Join(work, "etcdguard-drill-1234")
	running := filepath.Join(work, "etcdguard-drill-5678")
	other := filepath.Join(work, "etcd-backup-by-hand")
	for _, d := range []string{killed, running, other} {
		if err := os.MkdirAll(filepath.Join(d, "data", "member"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	held, err := os.Open(running)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	r, err := drill.Run(context.Background(), s, m, drill.Options{WorkDir: work})
	if err != nil {
		t.Fatalf("drill failed: %v\n%s", err, text(t, r))
	}
	if len(r.Leftovers) != 1 || r.Leftovers[0] != killed {
		t.Fatalf("removed %v, want only %s", r.Leftovers, killed)
	}
	if want := "removed " + killed + ", left by a drill that was killed"; !strings.Contains(text(t, r), want) {
		t.Errorf("report does not say %q", want)
	}
	for _, d := range []string{running, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if _, err := os.Stat(killed); err == nil {
		t.Errorf("%s is still there", killed)
	}
}

// A drill restores as `etcdguard restore` does by default, with the
// revision bumped, and proves the bump: the revision moved and the one
// before it is compacted, with every key count still as in the manifest.
func TestDrillWithRevisionBumpProvesTheBumpAndTheKeys(t *testing.T) {
	s, m := seed(t)
	const bump = 1_000_000_000
	r, err := drill.Run(context.Background(), s, m, drill.Options{WorkDir: t.TempDir(), RevisionBump: bump})
	out := text(t, r)
	t.Logf("\n%s", out)
	if err != nil {
		t.Fatalf("drill failed: %v", err)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		fmt.Sprintf("drill of %s (revision %d bumped by %d, 11 keys, ", m.DataKey, m.Revision, bump),
		fmt.Sprintf("revision ok restored etcd at revision %d, snapshot file %d, manifest %d, bumped by %d", m.Revision+bump, m.Revision, m.Revision, bump),
		fmt.Sprintf("compacted ok revision %d and older are compacted: watches from before the restore relist", m.Revision+bump-1),
		"keys ok 11 keys, as in the manifest",
		"/registry/secrets ok 9 keys, as in the manifest",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestDrillFails(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, s store.Store, m *snapshot.Manifest) drill.Options
		err    string
		phases int
	}{
		{
			name: "when a prefix count differs from the manifest",
			change: func(t *testing.T, s store.Store, m *snapshot.Manifest) drill.Options {
				m.PrefixKeys["/registry/secrets"] = 90
				return drill.Options{}
			},
			err:    "check /registry/secrets failed: 9 keys, the manifest says 90",
			phases: 5,
		},
		{
			name: "when an expected prefix is empty",
			change: func(t *testing.T, s store.Store, m *snapshot.Manifest) drill.Options {
				return drill.Options{ExpectPrefixes: []string{"/registry/certificatesigningrequests/"}}
			},
			err:    "check expect /registry/certificatesigningrequests/ failed: 0 keys",
			phases: 5,
		},
		{
			name: "when the object is corrupt, in the download phase",
			change: func(t *testing.T, s store.Store, m *snapshot.Manifest) drill.Options {
				if _, err := s.Put(context.Background(), m.DataKey, strings.NewReader("not a snapshot")); err != nil {
					t.Fatal(err)
				}
				return drill.Options{}
			},
			err:    "download: snapshot " + "KEY" + " is corrupt: sha256 of the stored object is ",
			phases: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := seed(t)
			o := tt.change(t, s, m)
			o.WorkDir = t.TempDir()
			r, err := drill.Run(context.Background(), s, m, o)
			want := "drill of " + m.DataKey + ": " + strings.ReplaceAll(tt.err, "KEY", m.DataKey)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("err = %v\nwant prefix %s", err, want)
			}
			if r.OK || r.Error != err.Error() || len(r.Phases) != tt.phases {
				t.Errorf("report = %+v", r)
			}
			if !strings.Contains(text(t, r), "): FAILED in ") {
				t.Errorf("text report does not say FAILED:\n%s", text(t, r))
			}
			assertEmpty(t, o.WorkDir)
		})
	}
}

// lineOf returns what follows prefix on its line in s.
func lineOf(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return rest
		}
	}
	return ""
}

func text(t *testing.T, r *drill.Report) string {
	t.Helper()
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// assertEmpty fails when the drill left files behind.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		t.Errorf("drill left %s behind", filepath.Join(dir, de.Name()))
	}
}

// TestDrillAtAPointInTime drills `drill --revision N`: the full snapshot
// followed by a delta chain (the agent's own delta.Follow), replayed to a
// revision in the middle of later creates, overwrites and deletes, then
// restored with the bump. The key counts it checks come from the replay,
// and must equal what the live etcd counts at that revision.
func TestDrillAtAPointInTime(t *testing.T) {
	ctx := context.Background()
	s, err := store.NewFile(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t)
	for i := range 20 {
		e.Put(t, map[string]string{fmt.Sprintf("/registry/configmaps/default/cm-%d", i): "before"})
	}
	res, err := snapshot.Take(ctx, e.Config(), s, snapshot.Options{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	followed := make(chan error, 1)
	go func() {
		followed <- delta.Follow(fctx, e.Client, s, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: 100 * time.Millisecond})
	}()
	var mid, last int64
	for i := range 40 {
		var rev int64
		switch i % 4 {
		case 0, 1:
			r, err := e.Client.Put(ctx, fmt.Sprintf("/registry/secrets/default/s-%d", i), "after")
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		case 2:
			r, err := e.Client.Put(ctx, fmt.Sprintf("/registry/configmaps/default/cm-%d", i/4), "overwritten")
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		case 3:
			r, err := e.Client.Delete(ctx, fmt.Sprintf("/registry/configmaps/default/cm-%d", i/2))
			if err != nil {
				t.Fatal(err)
			}
			rev = r.Header.Revision
		}
		if i == 25 {
			mid = rev
		}
		last = rev
		time.Sleep(10 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		o, err := delta.OutlineOf(ctx, s, res.Manifest)
		if err == nil && o.LastRevision >= last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chain did not reach revision %d: %+v, %v", last, o, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-followed; err != nil {
		t.Fatalf("Follow: %v", err)
	}

	wantKeys, wantPrefixes, err := snapshot.CountKeys(ctx, e.Client, mid)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := restore.PlanPoint(ctx, s, cluster, restore.Point{Revision: mid})
	if err != nil {
		t.Fatal(err)
	}
	const bump = 1_000_000_000
	r, err := drill.Run(ctx, s, plan.Snapshot, drill.Options{WorkDir: t.TempDir(), RevisionBump: bump, Replay: plan})
	out := text(t, r)
	t.Logf("\n%s", out)
	if err != nil {
		t.Fatalf("drill --revision %d failed: %v", mid, err)
	}
	var phases []string
	for _, p := range r.Phases {
		phases = append(phases, p.Phase)
	}
	if strings.Join(phases, ",") != strings.Join(drill.Phases, ",") {
		t.Errorf("phases %v, want %v", phases, drill.Phases)
	}
	if r.ReplayedTo != mid || r.ReplayedEvents == 0 {
		t.Errorf("replayed %d events up to revision %d, want some, up to %d", r.ReplayedEvents, r.ReplayedTo, mid)
	}
	if wantKeys == res.Manifest.Keys && wantPrefixes["/registry/secrets"] == res.Manifest.PrefixKeys["/registry/secrets"] {
		t.Fatalf("the history did not change the counts: the test cannot tell the replay's from the manifest's")
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		fmt.Sprintf("point in time revision %d: %d delta events replayed, up to revision %d", mid, r.ReplayedEvents, mid),
		fmt.Sprintf("revision ok restored etcd at revision %d, snapshot file %d, replayed to %d, bumped by %d", mid+bump, mid, mid, bump),
		fmt.Sprintf("keys ok %d keys, as in the replay", wantKeys),
		fmt.Sprintf("/registry/secrets ok %d keys, as in the replay", wantPrefixes["/registry/secrets"]),
		fmt.Sprintf("/registry/configmaps ok %d keys, as in the replay", wantPrefixes["/registry/configmaps"]),
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
