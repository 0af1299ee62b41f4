package backup_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/k8sguard/k8sguard/test/infra"
)

// The namespace the informer watches, and how many times the test updates
// one ConfigMap after the snapshot: enough revisions that the restarted
// API server's own start-up writes (3 measured here) cannot carry etcd
// past what the informer saw, which would make it relist by luck, not by
// design.
const (
	bumpNamespace    = "shop"
	updatesAfterSnap = 100
)

// TestRestoreRevisionBumpInformers shows, on a real etcd and kube-apiserver
// with a client-go informer that keeps running across the disaster, why
// `etcdguard restore` bumps the revision by default (etcd#16028,
// kubernetes#118501). ConfigMaps change after the snapshot; the control
// plane is stopped, restored from the snapshot and started again at the
// same address.
//
//   - With --no-bump-revision etcd numbers new writes from the snapshot's
//     revision again. The informer resumes its watch from the revision it
//     saw last, the API server accepts it, and the informer keeps objects
//     the restore removed, misses a change made after the restore, and
//     still gets later events, so nothing looks wrong.
//   - With the default bump that watch is refused as compacted (410
//     Gone), the informer relists, and converges on the restored state.
func TestRestoreRevisionBumpInformers(t *testing.T) {
	t.Run("no-bump-revision leaves the informer stale", func(t *testing.T) {
		d := disasterAndRestore(t, "--no-bump-revision")
		d.waitForRewatch(t)
		t.Logf("the informer resumed its watch from resourceVersion %d; etcd is at revision %d", d.informerRV, d.revision(t))

		// The first write after the restore reuses a revision the informer
		// has already seen: the informer never hears of it.
		d.setCounter(t, "keep", 7)
		// Writes elsewhere carry etcd past the informer's revision, then a
		// new object in the namespace: the watch is live and delivers it.
		d.writeElsewhereUntilPast(t, d.informerRV)
		d.create(t, "created-after-restore")
		waitFor(t, 30*time.Second, "the informer to see created-after-restore", func() bool {
			_, ok := d.inf.view()["created-after-restore"]
			return ok
		})

		api, held := d.api(t), d.inf.view()
		t.Logf("after the restore WITHOUT a revision bump, with the informer's watch live again:\n    the API server lists:   %s\n    the informer still holds: %s\n    its requests since the restart:\n%s",
			describe(api), describe(held), logBlock(strings.Join(d.inf.requestsSince(d.restartedAt), "\n")))
		for name, want := range map[string]string{"created-after": "0", "modify-later": strconv.Itoa(updatesAfterSnap), "keep": "0"} {
			if held[name] != want {
				t.Errorf("informer holds %s=%q, want the stale %q", name, held[name], want)
			}
		}
		if _, ok := held["delete-later"]; ok {
			t.Errorf("informer got delete-later back: the stale cache was not reproduced")
		}
		if _, ok := api["created-after"]; ok || api["keep"] != "7" || api["modify-later"] != "0" || api["delete-later"] != "0" {
			t.Errorf("the API server does not list the restored state: %s", describe(api))
		}
		if d.inf.relistedSince(d.restartedAt) {
			t.Errorf("the informer relisted; the stale cache needs a resumed watch")
		}
	})

	t.Run("default bump makes the informer relist", func(t *testing.T) {
		d := disasterAndRestore(t)
		if !strings.Contains(d.restoreOutput, "revision bump: 1000000000 (") || !strings.Contains(d.restoreOutput, "marked compacted") {
			t.Fatalf("restore did not bump by the derived default:\n%s", d.restoreOutput)
		}
		waitFor(t, 90*time.Second, "the informer to converge on the restored state", func() bool {
			return maps.Equal(d.inf.view(), d.api(t))
		})
		t.Logf("after the restore WITH the default revision bump:\n    the API server lists: %s\n    the informer holds:   %s\n    its requests since the restart:\n%s",
			describe(d.api(t)), describe(d.inf.view()), logBlock(strings.Join(d.inf.requestsSince(d.restartedAt), "\n")))
		if !d.inf.goneSince(d.restartedAt) || !d.inf.relistedSince(d.restartedAt) {
			t.Errorf("the informer converged without a 410 and a relist: the bump was not what made it")
		}
		// And it keeps up with changes after the restore.
		d.setCounter(t, "keep", 7)
		waitFor(t, 30*time.Second, "the informer to see keep=7", func() bool { return d.inf.view()["keep"] == "7" })
	})
}

// restoredCluster is a control plane after the disaster and the restore,
// with the informer that ran through both.
type restoredCluster struct {
	cp            *infra.ControlPlane
	inf           *recordingInformer
	informerRV    int64 // the revision the informer had seen before the disaster
	restoreOutput string
	restartedAt   time.Time
}

// disasterAndRestore runs everything up to the restarted API server:
// objects, informer, snapshot, changes after it, stop, restore with
// restoreArgs, start etcd and kube-apiserver again at the same address.
func disasterAndRestore(t *testing.T, restoreArgs ...string) *restoredCluster {
	step := stepLogger(t)
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	d := &restoredCluster{cp: cp}
	cfgPath := filepath.Join(t.TempDir(), "etcdguard.yaml")
	cfg := fmt.Sprintf("cluster_name: bump\netcd:\n  endpoints: [%q]\nstore:\n  url: file://%s\n", cp.Etcd.Endpoints[0], t.TempDir())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := cp.Clientset.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bumpNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keep", "modify-later", "delete-later"} {
		d.create(t, name)
	}
	d.inf = startRecordingInformer(t, cp.REST, bumpNamespace)
	waitFor(t, 30*time.Second, "the informer to sync", func() bool { return len(d.inf.view()) == 3 })
	step("control plane up; informer on ConfigMaps in %s synced: %s", bumpNamespace, describe(d.inf.view()))

	snap := mustRunEtcdguard(t, nil, "snapshot", "--config", cfgPath)
	name := takenSnapshotName(t, snap)
	step("etcdguard snapshot: %s", lastLineOf(snap))

	// Eight writers at once (fsync latency, not etcd, bounds one); the
	// last update is alone, so the counter ends at updatesAfterSnap.
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				d.setCounter(t, "modify-later", i)
			}
		})
	}
	for i := 1; i < updatesAfterSnap; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	d.setCounter(t, "modify-later", updatesAfterSnap)
	d.create(t, "created-after")
	if err := cp.Clientset.CoreV1().ConfigMaps(bumpNamespace).Delete(t.Context(), "delete-later", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"keep": "0", "modify-later": strconv.Itoa(updatesAfterSnap), "created-after": "0"}
	waitFor(t, 30*time.Second, "the informer to see the changes after the snapshot", func() bool { return maps.Equal(d.inf.view(), want) })
	d.informerRV = d.inf.lastRV()
	step("after the snapshot: %d updates of modify-later, created-after created, delete-later deleted; the informer holds %s at resourceVersion %d",
		updatesAfterSnap, describe(d.inf.view()), d.informerRV)

	cp.APIServer.Stop()
	cp.Etcd.Stop()
	dataDir := filepath.Join(t.TempDir(), "etcd-restored")
	rst := runEtcdguard(t, nil, append([]string{"restore", "--config", cfgPath, "--snapshot", name, "--data-dir", dataDir}, restoreArgs...)...)
	d.restoreOutput = rst.Output
	step("kube-apiserver and etcd stopped (the informer keeps running); etcdguard restore %s → exit %d:\n%s", strings.Join(restoreArgs, " "), rst.Code, logBlock(rst.Output))
	if rst.Code != 0 {
		t.Fatal("restore failed")
	}
	etcd := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: dataDir})
	d.restartedAt = time.Now()
	cp.RestartAPIServer(t, etcd)
	step("etcd and kube-apiserver started on the restored data dir, kube-apiserver at the same address %s", cp.Host)
	return d
}

func (d *restoredCluster) create(t *testing.T, name string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"counter": "0"}}
	if _, err := d.cp.Clientset.CoreV1().ConfigMaps(bumpNamespace).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

func (d *restoredCluster) setCounter(t *testing.T, name string, n int) {
	t.Helper()
	patch := fmt.Sprintf(`{"data":{"counter":"%d"}}`, n)
	if _, err := d.cp.Clientset.CoreV1().ConfigMaps(bumpNamespace).Patch(t.Context(), name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("update %s: %v", name, err)
	}
}

// revision is etcd's current revision, as a consistent list reports it.
func (d *restoredCluster) revision(t *testing.T) int64 {
	t.Helper()
	list, err := d.cp.Clientset.CoreV1().ConfigMaps(bumpNamespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv, _ := strconv.ParseInt(list.ResourceVersion, 10, 64)
	return rv
}

// api is what the API server lists now (a consistent read).
func (d *restoredCluster) api(t *testing.T) map[string]string {
	t.Helper()
	list, err := d.cp.Clientset.CoreV1().ConfigMaps(bumpNamespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return counters(list.Items)
}

// waitForRewatch waits until the informer has resumed its watch on the
// restarted API server.
func (d *restoredCluster) waitForRewatch(t *testing.T) {
	t.Helper()
	waitFor(t, 90*time.Second, "the informer to watch the restarted API server", func() bool {
		return d.inf.watchingSince(d.restartedAt)
	})
}

// writeElsewhereUntilPast writes ConfigMaps in another namespace until
// etcd's revision is beyond rev.
func (d *restoredCluster) writeElsewhereUntilPast(t *testing.T, rev int64) {
	t.Helper()
	cs := d.cp.Clientset
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		cm, err := cs.CoreV1().ConfigMaps("elsewhere").Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("filler-%d", i)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rv, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64); rv > rev {
			return
		}
	}
}

// recordingInformer is a client-go shared informer on ConfigMaps whose
// list and watch requests (and the errors inside watch streams) are
// recorded, so the test can quote what the informer did.
type recordingInformer struct {
	informer cache.SharedIndexInformer
	mu       sync.Mutex
	requests []request
}

type request struct {
	at     time.Time
	kind   string // "LIST", "WATCH", "GONE" (a 410 inside a watch)
	detail string
}

func startRecordingInformer(t *testing.T, cfg *rest.Config, namespace string) *recordingInformer {
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingInformer{}
	lw := &recordingListWatch{cms: cs.CoreV1().ConfigMaps(namespace), note: r.note}
	r.informer = cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.informer.RunWithContext(ctx)
	return r
}

func (r *recordingInformer) note(kind, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, request{at: time.Now(), kind: kind, detail: fmt.Sprintf(format, args...)})
}

func (r *recordingInformer) view() map[string]string {
	var cms []corev1.ConfigMap
	for _, o := range r.informer.GetStore().List() {
		cms = append(cms, *o.(*corev1.ConfigMap))
	}
	return counters(cms)
}

func (r *recordingInformer) lastRV() int64 {
	rv, _ := strconv.ParseInt(r.informer.LastSyncResourceVersion(), 10, 64)
	return rv
}

func (r *recordingInformer) since(at time.Time, kind string, detail string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.requests {
		if q.at.After(at) && q.kind == kind && strings.Contains(q.detail, detail) {
			return true
		}
	}
	return false
}

func (r *recordingInformer) watchingSince(at time.Time) bool {
	return r.since(at, "WATCH", "established")
}

// relistedSince: a LIST, or a watch that streams the current state first.
func (r *recordingInformer) relistedSince(at time.Time) bool {
	return r.since(at, "LIST", "items") || r.since(at, "WATCH", "sendInitialEvents")
}
func (r *recordingInformer) goneSince(at time.Time) bool { return r.since(at, "GONE", "") }

func (r *recordingInformer) requestsSince(at time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.requests {
		if q.at.After(at) {
			out = append(out, fmt.Sprintf("+%4.1fs %-5s %s", q.at.Sub(at).Seconds(), q.kind, q.detail))
		}
	}
	return out
}

// recordingListWatch lists and watches ConfigMaps as client-go's own
// ListWatch does, noting every request and 410 for the test log.
type recordingListWatch struct {
	cms interface {
		List(context.Context, metav1.ListOptions) (*corev1.ConfigMapList, error)
		Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
	}
	note func(kind, format string, args ...any)
}

func (l *recordingListWatch) List(o metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), o)
}

func (l *recordingListWatch) Watch(o metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), o)
}

func (l *recordingListWatch) ListWithContext(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
	list, err := l.cms.List(ctx, o)
	if err != nil {
		l.note("LIST", "resourceVersion=%q → %v", o.ResourceVersion, err)
		return nil, err
	}
	l.note("LIST", "resourceVersion=%q → %d items at resourceVersion %s", o.ResourceVersion, len(list.Items), list.ResourceVersion)
	return list, nil
}

func (l *recordingListWatch) WatchWithContext(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	w, err := l.cms.Watch(ctx, o)
	if err != nil {
		l.note("WATCH", "from resourceVersion %s → %v", o.ResourceVersion, err)
		return nil, err
	}
	relist := ""
	if o.SendInitialEvents != nil && *o.SendInitialEvents {
		relist = " (sendInitialEvents: a streaming relist)"
	}
	l.note("WATCH", "from resourceVersion %s%s → established", o.ResourceVersion, relist)
	rv := o.ResourceVersion
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		if e.Type == watch.Error {
			err := apierrors.FromObject(e.Object)
			kind := "ERROR"
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				kind = "GONE"
			}
			l.note(kind, "watch from resourceVersion %s → ERROR event: %v", rv, err)
		}
		return e, true
	}), nil
}

// counters maps ConfigMap names to their counter.
func counters(cms []corev1.ConfigMap) map[string]string {
	out := map[string]string{}
	for _, cm := range cms {
		out[cm.Name] = cm.Data["counter"]
	}
	return out
}

func describe(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}
