package backup_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/test/infra"
)

// Leader election with delta chains: `systemctl stop` on the leader resigns
// at once, so the other agent is elected and cleans up while the stopping
// leader still commits its chain's last segment (its data object stored,
// its manifest on the way). The new leader must not take that data object
// for an interrupted commit's: deleted, the manifest written a moment
// later names nothing, and the chain is broken at the segment holding the
// last writes before the stop.
func TestAgentHandoverLeavesTheStoppingLeadersLastSegment(t *testing.T) {
	e := infra.StartEtcd(t)
	s := infra.StartS3(t)
	fillEtcd(t, e, 1)
	segmentData := regexp.MustCompile(`\.deltas/.*\.events\.zst$`)
	segmentManifest := regexp.MustCompile(`\.deltas/.*\.json$`)
	var armed atomic.Bool
	dataStored := make(chan struct{})
	var dataOnce atomic.Bool
	release := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	// The first agent's store: once armed, its next segment's data goes
	// through and its manifest waits.
	proxyA := startS3Proxy(t, s.Endpoint)
	proxyA.SetFail(func(r *http.Request) int {
		if !armed.Load() || r.Method != http.MethodPut {
			return 0
		}
		if segmentData.MatchString(r.URL.Path) && dataOnce.CompareAndSwap(false, true) {
			go func() { time.Sleep(200 * time.Millisecond); close(dataStored) }()
		}
		if segmentManifest.MatchString(r.URL.Path) && dataOnce.Load() {
			<-release
		}
		return 0
	})
	// The second agent's store: once armed, its listings wait until the
	// first agent's segment data is stored (so its cleanup sees it).
	proxyB := startS3Proxy(t, s.Endpoint)
	proxyB.SetFail(func(r *http.Request) int {
		if armed.Load() && isListObjects(r) {
			select {
			case <-dataStored:
			case <-time.After(20 * time.Second):
			}
		}
		return 0
	})
	agentEnv := func(endpoint string) []string {
		return append(deltaAgentEnv(e, s, endpoint), "ETCDGUARD_LEADER_ELECTION=true",
			"ETCDGUARD_METRICS_LISTEN="+fmt.Sprintf("127.0.0.1:%d", infra.FreePort(t)))
	}
	a := snapStart(t, agentEnv(proxyA.URL()), "agent")
	waitFor(t, 60*time.Second, "the first agent's chain", func() bool { return strings.Contains(a.log(), "delta chain started") })
	b := snapStart(t, agentEnv(proxyB.URL()), "agent")
	waitFor(t, 30*time.Second, "the second agent to campaign", func() bool { return strings.Contains(b.log(), "campaigning for leadership") })

	cli := etcdClient(t, e)
	time.Sleep(1500 * time.Millisecond) // a segment boundary behind us
	armed.Store(true)
	last := putN(t, cli, "configmaps/before-stop", 10)
	a.signal(syscall.SIGTERM)
	waitFor(t, 30*time.Second, "the second agent's election", func() bool { return strings.Contains(b.log(), "elected leader") })
	select {
	case <-dataStored:
	case <-time.After(20 * time.Second):
		t.Fatalf("the stopping leader never stored its last segment's data; log:\n%s", a.log())
	}
	time.Sleep(3 * time.Second) // the new leader's cleanup
	close(release)
	if code := a.waitExit(t, 30*time.Second); code != 0 {
		t.Fatalf("first agent: exit %d\n%s", code, a.log())
	}

	st := snapStore(s)
	for _, c := range chainsOf(t, st) {
		if c.Broken != nil {
			t.Errorf("chain of %s broken: %v", c.Snapshot.Name(), c.Broken)
		}
		for _, m := range c.Segments {
			if _, err := st.Stat(context.Background(), m.DataKey); err != nil {
				t.Errorf("segment %s of %s is committed but its data object is gone: %v", m.Name(), c.Snapshot.Name(), err)
			}
		}
		t.Logf("chain of %s: %d segments up to revision %d", c.Snapshot.Name(), len(c.Segments), c.LastRevision())
	}
	if t.Failed() {
		t.Fatalf("new leader's log:\n%s", b.log())
	}
	cs := chainsOf(t, st)
	old := cs[len(cs)-1]
	if old.LastRevision() < last {
		t.Fatalf("the stopping leader's chain ends at %d, before its last write %d", old.LastRevision(), last)
	}
	b.signal(syscall.SIGTERM)
	b.waitExit(t, 30*time.Second)
	restoredMatches(t, snapEnv(e, s, ""), cli, last)
}
