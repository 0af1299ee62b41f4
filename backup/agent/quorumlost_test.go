package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// unlistable is a real store that cannot list: S3 unreachable.
type unlistable struct{ store.Store }

func (unlistable) List(context.Context, string) ([]store.Object, error) {
	return nil, errors.New("dial tcp: connection refused")
}

// A surviving member is compared with the newest point the backups
// restore, a delta chain's end when there is one: behind it, it is
// refused with the restore to run instead; at it, accepted; and when the
// store cannot be read, refused, since nobody can tell.
func TestNotBehindBackupsComparesWithTheChainsEnd(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t)
	e.Put(t, map[string]string{"/registry/pods/default/a": "x"})
	full, stop := e.Follow(t, st, "c", 50*time.Millisecond)
	for i := range 5 {
		e.Put(t, map[string]string{fmt.Sprintf("/registry/configmaps/default/cm-%d", i): "v"})
	}
	last, _ := e.Client.Get(ctx, "x")
	var end int64
	deadline := time.Now().Add(20 * time.Second)
	for end < last.Header.Revision && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if c, err := delta.Load(ctx, st, full.Manifest, nil); err == nil && len(c.Segments) > 0 {
			end = c.LastRevision()
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if end < last.Header.Revision {
		t.Fatalf("the chain reached revision %d, the last write was %d", end, last.Header.Revision)
	}

	cfg := config.Default()
	cfg.ClusterName = "c"
	a := &Agent{Config: cfg, Store: st, Log: slog.New(slog.DiscardHandler)}
	err = a.notBehindBackups(ctx, "m2", full.Manifest.Revision)
	want := fmt.Sprintf("member m2 is at revision %d, behind the newest backup (revision %d, the delta chain of %s): restoring that loses less",
		full.Manifest.Revision, end, full.Manifest.Name())
	if !errors.Is(err, snapshot.ErrQuorumLostRefused) || !strings.Contains(err.Error(), want) ||
		!strings.Contains(err.Error(), fmt.Sprintf("etcdguard restore --snapshot %s --revision %d", full.Manifest.Name(), end)) {
		t.Fatalf("a member at the full snapshot's revision, behind its chain: %v\nwant %q and the restore command", err, want)
	}
	t.Logf("behind: %v", err)
	if err := a.notBehindBackups(ctx, "m2", end); err != nil {
		t.Fatalf("a member at the chain's end: %v", err)
	}

	a.Store = unlistable{st}
	err = a.notBehindBackups(ctx, "m2", end)
	if !errors.Is(err, snapshot.ErrQuorumLostRefused) || !strings.Contains(err.Error(), "cannot read the store's backups to tell whether member m2") {
		t.Fatalf("with the store unreachable: %v", err)
	}
	t.Logf("store unreachable: %v", err)
}
