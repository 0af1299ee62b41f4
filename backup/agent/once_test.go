package agent_test

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/k8sguard/k8sguard/backup/agent"
	"github.com/k8sguard/k8sguard/backup/config"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/metrics"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// hungStore is a real file store whose snapshot uploads stop answering
// (no error, no progress) until their context ends; the small records
// (the failure) still go through.
type hungStore struct{ store.Store }

func (s hungStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if !strings.Contains(key, ".db") {
		return s.Store.Put(ctx, key, r)
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

// failures sums etcdguard_snapshot_failures_total over its stages.
func failures(m *metrics.Metrics) float64 {
	n := 0.0
	for _, stage := range snapshot.Stages {
		n += testutil.ToFloat64(m.Failures.WithLabelValues(stage))
	}
	return n
}

// listHangsAfterUpload is a real file store whose listings stop answering
// once a snapshot's data is uploaded: a store that hangs after the
// snapshot is safe, while retention and the cleanups list it.
type listHangsAfterUpload struct {
	store.Store
	uploaded atomic.Bool
}

// manifestKey matches a snapshot's manifest, written last (snapshot.ManifestKey).
var manifestKey = regexp.MustCompile(`-r\d+(-\d+)?\.json$`)

func (s *listHangsAfterUpload) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	n, err := s.Store.Put(ctx, key, r)
	if manifestKey.MatchString(key) && err == nil {
		s.uploaded.Store(true)
	}
	return n, err
}

func (s *listHangsAfterUpload) List(ctx context.Context, prefix string) ([]store.Object, error) {
	if s.uploaded.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Store.List(ctx, prefix)
}

func etcdWithAPodAndAFileStore(t *testing.T) (*etcdtest.Etcd, store.Store) {
	t.Helper()
	e := etcdtest.Start(t)
	e.Put(t, map[string]string{"/registry/pods/default/a": "x"})
	files, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return e, files
}

func newAgent(t *testing.T, e *etcdtest.Etcd, st store.Store, limit time.Duration) *agent.Agent {
	t.Helper()
	cfg := config.Default()
	cfg.ClusterName = "c"
	return &agent.Agent{Config: cfg, Store: st, Etcd: e.Config(), Log: slog.New(slog.DiscardHandler),
		Metrics: metrics.New("c"), MaxSnapshotDuration: limit}
}

// A snapshot whose store hangs ends at the limit as a failure, counted and
// recorded for check, whoever took it: before, a hand-run `etcdguard
// snapshot` waited forever, and the agent's bounded one was logged as
// "aborted", neither counted nor recorded.
func TestOnceFakeHungStoreFailsAtTheLimitCountedAndRecorded(t *testing.T) {
	e, files := etcdWithAPodAndAFileStore(t)
	a := newAgent(t, e, hungStore{files}, 2*time.Second)
	start := time.Now()
	_, onceErr := a.Once(context.Background())
	took := time.Since(start)
	if onceErr == nil || !strings.Contains(onceErr.Error(), "not finished after 2s, the limit for one snapshot") {
		t.Fatalf("after %s: err = %v", took, onceErr)
	}
	if took > 20*time.Second {
		t.Fatalf("the limit was 2s, the snapshot took %s", took)
	}
	if got := failures(a.Metrics); got != 1 {
		t.Fatalf("failures = %v, want 1", got)
	}
	f, err := snapshot.LastFailure(context.Background(), files, "c")
	if err != nil || f == nil || !strings.Contains(f.Error, "the limit for one snapshot") {
		t.Fatalf("recorded failure %+v, %v", f, err)
	}
	t.Logf("after %s: %v (stage %s)", took.Round(time.Millisecond), onceErr, f.Stage)
}

// A stop is not a failure: nothing counted or recorded.
func TestOnceFakeHungStoreStoppedIsNotAFailure(t *testing.T) {
	e, files := etcdWithAPodAndAFileStore(t)
	a := newAgent(t, e, hungStore{files}, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := a.Once(ctx); err == nil || strings.Contains(err.Error(), "the limit") {
		t.Fatalf("err = %v", err)
	}
	if got := failures(a.Metrics); got != 0 {
		t.Fatalf("failures = %v after a stop, want 0", got)
	}
	if f, err := snapshot.LastFailure(context.Background(), files, "c"); err != nil || f != nil {
		t.Fatalf("recorded failure %+v, %v after a stop", f, err)
	}
}

// A store that hangs listing after the snapshot is safe holds back the
// snapshot's result by retention's and the cleanup's bounds at most: the
// agent's next snapshot and its delta chain wait on that result. Before,
// retention had no bound: only the job's backstop, over an hour later.
func TestOnceFakeStoreHangingAfterTheUploadReturnsAtTheCleanupBound(t *testing.T) {
	e, files := etcdWithAPodAndAFileStore(t)
	st := &listHangsAfterUpload{Store: files}
	a := newAgent(t, e, st, time.Minute)
	a.CleanupTimeout = time.Second
	start := time.Now()
	type result struct {
		res *snapshot.Result
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { res, err := a.Once(ctx); done <- result{res, err} }()
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("no result 15s after the snapshot started (uploaded %v), with retention and the cleanup bounded by 1s each", st.uploaded.Load())
	}
	took := time.Since(start)
	res, err := r.res, r.err
	if err != nil || res == nil || !st.uploaded.Load() {
		t.Fatalf("after %s: %v (uploaded %v)", took, err, st.uploaded.Load())
	}
	t.Logf("snapshot %s safe; result after %s", res.Manifest.Name(), took.Round(time.Millisecond))
}
