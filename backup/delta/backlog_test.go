package delta_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
)

// lockedBuffer is a bytes.Buffer safe for the writer's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// putConcurrently makes n revisions, one put each, from 16 clients' worth
// of goroutines, and returns the last revision.
func putConcurrently(t *testing.T, e *etcdtest.Etcd, n int) int64 {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if _, err := e.Client.Put(context.Background(), fmt.Sprintf("/registry/backlog/%d", i%1000), strings.Repeat("v", 100)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	r, err := e.Client.Get(context.Background(), "backlog-end")
	if err != nil {
		t.Fatal(err)
	}
	return r.Header.Revision
}

// TestBacklogLongerThanOneDrainIsReadOnAtOnce: etcd answers a watch from
// a past revision with at most 1,000 revisions every 100 ms, so a backlog
// (after an outage, a restart, a stalled agent) can outlast a drain's time
// bound. Each drain that ran out of time having read something goes on at
// the next tick; counted as a failure it made the writer wait 1, 2, 4… s
// between reads (20,000 revisions in 1 s drains: a minute, not seconds).
func TestBacklogLongerThanOneDrainIsReadOnAtOnce(t *testing.T) {
	defer delta.SetDrainFloor(time.Second)() // ten of etcd's 100 ms syncs of a watch from the past: about 10,000 revisions
	e := etcdtest.Start(t)
	st := fileStore(t)
	res := takeSnapshot(t, e, st)
	last := putConcurrently(t, e, 20000)

	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- delta.Follow(ctx, e.Client, st, res.Manifest, res.StatusRevision, delta.Options{Cluster: cluster, Interval: 100 * time.Millisecond, Logger: log})
	}()
	c := waitChain(t, st, res.Manifest, last)
	took := time.Since(start)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "reading a backlog") {
		t.Fatalf("every drain read its whole target: the backlog was not longer than a drain, so this tests nothing; logs:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "reading etcd's changes failed") {
		t.Fatalf("a drain that read part of the backlog counted as a failure; logs:\n%s", logs.String())
	}
	events := 0
	for _, m := range c.Segments {
		events += m.Events
	}
	if want := int(last - res.StatusRevision); c.Broken != nil || events != want {
		t.Fatalf("chain: %d events, broken %v; etcd made %d", events, c.Broken, want)
	}
	t.Logf("%d revisions of backlog read and committed in %s, in %d segments", last-res.StatusRevision, took.Round(time.Millisecond), len(c.Segments))
}
