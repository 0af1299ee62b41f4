package backup_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/test/infra"
)

// A snapshot taken by hand while another writer (the agent, or another
// `etcdguard snapshot`) is between its data object and its manifest: the
// hand-taken one's cleanup at start must not take the other's data object
// for an interrupted upload's, or the other's manifest, written a moment
// later, names an object that is gone: a snapshot that list and check call
// complete and that cannot be restored.
func TestFaultSnapshotByHandWhileAnotherCommits(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 1)
	proxy := startS3Proxy(t, s.Endpoint)
	manifestPut := make(chan struct{}, 1)
	release := make(chan struct{})
	topManifest := regexp.MustCompile(`/` + snapPrefix + `/` + snapCluster + `/[^/]+\.json$`)
	proxy.SetFail(func(r *http.Request) int {
		if r.Method == http.MethodPut && topManifest.MatchString(r.URL.Path) {
			select {
			case manifestPut <- struct{}{}:
			default:
			}
			<-release // the first writer's manifest waits, its data object stored
		}
		return 0
	})

	first := snapStart(t, snapEnv(e, s, proxy.URL()), "snapshot")
	select {
	case <-manifestPut:
	case <-time.After(60 * time.Second):
		close(release)
		t.Fatalf("the first snapshot never got to its manifest; log:\n%s", first.log())
	}
	// A write in between, so the second snapshot has a name of its own.
	if _, err := etcdClient(t, e).Put(context.Background(), "/registry/configmaps/default/between", "x"); err != nil {
		t.Fatal(err)
	}
	// The second writer goes straight to the gateway.
	out, stderr, code := snapRun(t, snapEnv(e, s, ""), "snapshot")
	close(release)
	if code != 0 {
		t.Fatalf("snapshot by hand: exit %d\n%s%s", code, out, stderr)
	}
	if code := first.waitExit(t, 60*time.Second); code != 0 {
		t.Fatalf("first snapshot: exit %d\n%s", code, first.log())
	}

	l := snapList(t, s)
	if len(l.Snapshots) != 2 {
		t.Fatalf("%d snapshots, want both writers'; orphans %v\n%s", len(l.Snapshots), l.Orphans, stderr)
	}
	st := snapStore(s)
	for _, m := range l.Snapshots {
		if _, err := st.Stat(context.Background(), m.DataKey); err != nil {
			t.Errorf("listed as complete, but its data object is gone: %s (%v)\nsnapshot by hand logged:\n%s", snapshot.ManifestKey(m.DataKey), err, stderr)
		}
	}
	if out, _, code := snapRun(t, snapEnv(e, s, ""), "check", "--verify"); code != 0 {
		t.Errorf("check --verify: exit %d\n%s", code, out)
	}
	if t.Failed() {
		return
	}
	if !strings.Contains(first.log(), "snapshot complete") {
		t.Fatalf("first snapshot log:\n%s", first.log())
	}
}

// A snapshot taken by hand while the agent's multipart upload is in
// flight (one part stored, the next held by the proxy): the hand-taken
// one's cleanup at start, and its retention afterwards, must leave the
// agent's upload alone, as they leave a young data object alone. Aborting
// it made the agent's snapshot fail (NoSuchUpload on its next part) and
// wait a retry delay; on a database whose upload outlasts the gap between
// hand-taken snapshots it would never finish.
func TestFaultSnapshotByHandLeavesTheAgentsUploadAlone(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 20)
	proxy := startS3Proxy(t, s.Endpoint)
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	var parts atomic.Int64
	proxy.SetFail(func(r *http.Request) int {
		if isUploadPart(r) && parts.Add(1) == 2 {
			held <- struct{}{}
			<-release // the agent's second part waits, its first stored
		}
		return 0
	})
	agent := snapStart(t, append(snapEnv(e, s, proxy.URL()), "ETCDGUARD_SCHEDULE_INTERVAL=1h"), "agent")
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		close(release)
		t.Fatalf("the agent's upload never got to its second part; log:\n%s", agent.log())
	}
	if n := multipartUploads(t, s); n != 1 {
		close(release)
		t.Fatalf("%d multipart uploads open, want the agent's", n)
	}
	if _, err := etcdClient(t, e).Put(context.Background(), "/registry/configmaps/default/by-hand", "x"); err != nil {
		close(release)
		t.Fatal(err)
	}
	out, stderr, code := snapRun(t, snapEnv(e, s, ""), "snapshot")
	close(release)
	if code != 0 {
		t.Fatalf("snapshot by hand: exit %d\n%s%s", code, out, stderr)
	}
	if strings.Contains(stderr, "incomplete_uploads") {
		t.Errorf("the snapshot by hand cleaned up an upload in flight:\n%s", stderr)
	}
	waitFor(t, 60*time.Second, "the agent's snapshot to end", func() bool {
		return strings.Contains(agent.log(), "snapshot complete") || strings.Contains(agent.log(), "snapshot failed")
	})
	if strings.Contains(agent.log(), "snapshot failed") {
		t.Fatalf("the agent's upload was aborted under it; agent log:\n%s\nsnapshot by hand logged:\n%s", agent.log(), stderr)
	}
	assertNothingHalfVisible(t, s, 2)
	if n := multipartUploads(t, s); n != 0 {
		t.Fatalf("%d multipart uploads left open", n)
	}
}
