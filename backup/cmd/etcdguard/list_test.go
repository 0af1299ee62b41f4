package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// The restorable window reaches as far as any chain goes: the agent's
// chain goes on past a snapshot taken by hand (which starts none), and a
// hole is only where no older chain reaches the next snapshot.
func TestPrintWindowCountsChainsThatGoOnPastNewerSnapshots(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	entry := func(rev int64, at time.Duration, chain *chainMark) listEntry {
		m := &snapshot.Manifest{Revision: rev, CreatedAt: t0.Add(at)}
		return listEntry{Manifest: m, Name: m.Name(), Chain: chain}
	}
	entries := []listEntry{ // newest first, as list shows them
		entry(900, 50*time.Minute, &chainMark{Segments: 2, LastRevision: 950, CoveredAt: t0.Add(51 * time.Minute)}),
		entry(700, 40*time.Minute, nil), // by hand, while the chain below went on
		entry(500, 30*time.Minute, &chainMark{Segments: 9, LastRevision: 800, CoveredAt: t0.Add(45 * time.Minute)}),
		entry(100, 0, &chainMark{Segments: 5, LastRevision: 300, CoveredAt: t0.Add(10 * time.Minute)}),
	}
	var b strings.Builder
	printWindow(&b, entries)
	want := "restorable (--at, --revision): from revision 100 (2026-12-06T10:00:00Z) to revision 950 (2026-12-06T10:51:00Z)\n" +
		"  not restorable: revisions 301-499 (after 2026-12-06T10:10:00Z, before 2026-12-06T10:30:00Z): the chain of " + entries[3].Name + " ends there\n" +
		"  not restorable: revisions 801-899 (after 2026-12-06T10:45:00Z, before 2026-12-06T10:50:00Z): the chain of " + entries[2].Name + " ends there\n\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}

	// The hand-taken snapshot is the newest: the window still ends where
	// the agent's chain does.
	b.Reset()
	printWindow(&b, entries[1:])
	if want := "to revision 800 (2026-12-06T10:45:00Z)\n"; !strings.Contains(b.String(), want) || strings.Contains(b.String(), "501-699") {
		t.Fatalf("got\n%s\nwant the window to end at %q and no hole before the snapshot by hand", b.String(), want)
	}
}

// A mistyped file store is an error for the commands that read, not an
// empty store, and they create nothing; the first snapshot creates it.
func TestReadCommandsRefuseAMissingFileStore(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	dir := filepath.Join(t.TempDir(), "typo", "snapshots")
	for _, args := range [][]string{{"list"}, {"check"}, {"verify"}, {"restore", "--data-dir", filepath.Join(t.TempDir(), "data")}} {
		out, err := run(t, append(args, "--store-url", "file://"+dir, "--cluster-name", "prod")...)
		want := "file store file://" + dir + ": the directory does not exist (a typo in store.url?"
		if err == nil || !strings.Contains(err.Error()+out, want) {
			t.Errorf("%v on a missing file store: %v\n%s\nwant %q", args, err, out, want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v created the store directory: %v", args, err)
		}
	}
}

// A snapshot taken with --quorum-lost is marked in the table and in --json;
// the others are not.
func TestListMarksQuorumLostSnapshots(t *testing.T) {
	t.Setenv("ETCDGUARD_CONFIG", "")
	dir := t.TempDir()
	st, err := store.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t)
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	normal := e.Snapshot(t, st, "prod", t0, snapshot.CompressionZstd)
	lost := e.Snapshot(t, st, "prod", t0.Add(time.Hour), snapshot.CompressionZstd)
	lost.QuorumLost = true // as Take with Options.QuorumLost writes it
	if err := snapshot.Write(context.Background(), st, lost); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "list", "--store-url", "file://"+dir, "--cluster-name", "prod")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcdguard list:\n%s", out)
	for _, line := range strings.Split(out, "\n") {
		marked := strings.Contains(line, "QUORUM LOST (member "+lost.MemberID+", no leader)")
		if strings.HasPrefix(line, lost.Name()) && !marked || strings.HasPrefix(line, normal.Name()) && marked {
			t.Fatalf("wrong mark in %q", line)
		}
	}
	out, err = run(t, "list", "--store-url", "file://"+dir, "--cluster-name", "prod", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []map[string]any
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(entries) != 2 || entries[0]["quorum_lost"] != true || entries[1]["quorum_lost"] != nil {
		t.Fatalf("list --json: want quorum_lost true on the newest only, absent on the other\n%s", out)
	}
}
