package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/internal/etcdtest"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
)

// A snapshot taken by hand while the agent extends its own snapshot's
// delta chain applies retention; even at keep_last 1 it must not delete
// the agent's snapshot and the chain it is still writing.
func TestSnapshotByHandKeepsTheAgentsLiveChain(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	st, err := store.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t)
	e.Put(t, map[string]string{"/registry/namespaces/default": "ns"})
	agents, stop := e.Follow(t, st, "prod", 50*time.Millisecond)
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("Follow: %v", err)
		}
	}()
	for i := range 3 {
		e.Put(t, map[string]string{fmt.Sprintf("/registry/configmaps/default/cm-%d", i): "v"})
		time.Sleep(80 * time.Millisecond)
	}

	time.Sleep(1100 * time.Millisecond) // snapshot names have one-second resolution
	out, err := run(t, "snapshot", "--store-url", "file://"+dir, "--cluster-name", "prod", "--etcd-endpoints", strings.Join(e.Endpoints, ","),
		"--retention-keep-last", "1", "--retention-keep-daily", "0", "--retention-keep-weekly", "0")
	if err != nil {
		t.Fatalf("etcdguard snapshot: %v\n%s", err, out)
	}
	l, err := snapshot.List(ctx, st, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Snapshots) != 2 || l.Snapshots[1].Name() != agents.Manifest.Name() {
		t.Fatalf("after a snapshot by hand at keep_last 1: %d snapshots (newest %s), want the new one and the agent's %s\n%s",
			len(l.Snapshots), l.Snapshots[0].Name(), agents.Manifest.Name(), out)
	}
	c, err := delta.Load(ctx, st, agents.Manifest, nil)
	if err != nil || c.Broken != nil || len(c.Segments) == 0 {
		t.Fatalf("the agent's chain after the snapshot by hand: %v, broken %v, %d segments", err, c.Broken, len(c.Segments))
	}
	t.Logf("kept %s and its %d segments beside %s", agents.Manifest.Name(), len(c.Segments), l.Snapshots[0].Name())
}

// --quorum-lost is for a cluster whose quorum is gone: against a member
// that has a leader it refuses, says why, and stores nothing, not even a
// failure for check; an endpoint that does not answer is reported.
func TestSnapshotQuorumLostRefusesAMemberWithALeader(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	st, err := store.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t)
	e.Put(t, map[string]string{"/registry/namespaces/default": "ns"})
	out, err := run(t, "snapshot", "--quorum-lost", "--store-url", "file://"+dir, "--cluster-name", "prod",
		"--etcd-endpoints", "http://127.0.0.1:1,"+e.Endpoints[0], "--etcd-dial-timeout", "2s")
	t.Logf("etcdguard snapshot --quorum-lost against a member with a leader: %v\n%s", err, out)
	if err == nil || !strings.Contains(err.Error(), "has leader") || !strings.Contains(err.Error(), "the cluster has a quorum; run the snapshot without --quorum-lost") {
		t.Fatalf("want a refusal naming the leader, got %v", err)
	}
	if !strings.Contains(out, "etcd member did not answer") || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("the endpoint that did not answer is not reported:\n%s", out)
	}
	objs, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Fatalf("a refused snapshot stored %v", objs)
	}
}
