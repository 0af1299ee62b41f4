package backup_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/backup/delta"
	"github.com/k8sguard/k8sguard/backup/snapshot"
	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/test/infra"
)

// TestIncidentPrefixDeletionPointInTime is Zalando's incident 4 with an
// RPO of seconds: a real control plane (etcd, kube-apiserver), versitygw,
// and the etcdguard agent as a process with 1s delta segments. Objects are
// created through the API server before the agent's full snapshot and
// after it; at T an "etcdctl del --prefix /registry/" wipes the registry;
// "etcdguard restore --at T-1s" and a control plane restarted on it bring
// every object back, including those written after the full snapshot,
// which a restore of the full snapshot alone loses (shown too).
func TestIncidentPrefixDeletionPointInTime(t *testing.T) {
	ctx := context.Background()
	step := stepLogger(t)
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	bucket := infra.StartS3(t)
	cfgPath := filepath.Join(t.TempDir(), "etcdguard.yaml")
	incidentConfig(t, cfgPath, cp.Etcd.Endpoints[0], bucket)
	env := bucket.Env()
	cfg := []string{"--config", cfgPath}
	st := store.NewS3(bucket.Client, bucket.Bucket, "etcd", store.Options{})
	step("control plane (etcd %s, kube-apiserver %s) and S3 (versitygw) are up", cp.Etcd.Endpoints[0], cp.Host)

	early := createTeamObjects(t, cp.Clientset, "payments", "search")
	step("before the agent's full snapshot: %d objects created through the API server", early.count())

	agentEnv := append(append([]string{}, env...), "ETCDGUARD_CONFIG="+cfgPath,
		"ETCDGUARD_SCHEDULE_INTERVAL=1h", "ETCDGUARD_SCHEDULE_JITTER=0s",
		"ETCDGUARD_DELTA_INTERVAL=1s", "ETCDGUARD_METRICS_LISTEN=")
	agent := snapStart(t, agentEnv, "agent")
	waitFor(t, 60*time.Second, "the agent's full snapshot and its delta chain", func() bool {
		return strings.Contains(agent.log(), "delta chain started")
	})
	full := newestSnapshot(t, st, "incident")
	step("agent: full snapshot %s at revision %d; delta chain started (delta.interval 1s)", full.Name(), full.Revision)

	late := createTeamObjects(t, cp.Clientset, "checkout", "ledger")
	lateRev := highestResourceVersion(t, cp.Clientset, late)
	step("after the full snapshot: %d more objects (resourceVersion up to %d > snapshot revision %d)", late.count(), lateRev, full.Revision)
	if lateRev <= full.Revision {
		t.Fatalf("the late objects (rv %d) are not newer than the full snapshot (revision %d)", lateRev, full.Revision)
	}

	time.Sleep(1500 * time.Millisecond)
	accident := time.Now()
	del := exec.Command(infra.Tool(t, "etcdctl"), "--endpoints", cp.Etcd.Endpoints[0], "del", "--prefix", "/registry/")
	delOut, err := del.CombinedOutput()
	if err != nil {
		t.Fatalf("etcdctl del: %v\n%s", err, delOut)
	}
	step("T = %s: etcdctl del --prefix /registry/ → %s keys deleted", accident.UTC().Format(time.RFC3339Nano), strings.TrimSpace(string(delOut)))
	if _, err := cp.Clientset.CoreV1().Namespaces().Get(ctx, "checkout", metav1.GetOptions{}); err == nil {
		t.Fatal("namespace checkout survived the deletion: the accident was not reproduced")
	}

	waitFor(t, 30*time.Second, "a delta segment covering the accident", func() bool {
		o, err := delta.OutlineOf(ctx, st, full)
		return err == nil && o.CoveredAt.After(accident)
	})
	o, _ := delta.OutlineOf(ctx, st, full)
	step("the store holds the chain up to revision %d, covered at %s (%d segments)", o.LastRevision, o.CoveredAt.Format(time.RFC3339Nano), o.Segments)
	agent.signal(syscall.SIGTERM)
	agent.waitExit(t, 30*time.Second)
	list := mustRunEtcdguard(t, env, append([]string{"list"}, cfg...)...)
	step("etcdguard list:\n%s", logBlock(list))
	if !strings.Contains(list, "restorable (--at, --revision)") || !strings.Contains(list, "segments → r") {
		t.Fatal("list shows no delta chain or restorable window")
	}
	cp.Stop()

	// What a full-snapshot-only tool restores: the late objects are lost.
	plainDir := filepath.Join(t.TempDir(), "etcd-plain")
	mustRunEtcdguard(t, env, append([]string{"restore", "--snapshot", full.Name(), "--data-dir", plainDir}, cfg...)...)
	plain := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: plainDir})
	plainCli := etcdClient(t, plain)
	if r, err := plainCli.Get(ctx, "/registry/namespaces/checkout"); err != nil || len(r.Kvs) != 0 {
		t.Fatalf("the full snapshot alone holds namespace checkout (%v): the test does not show what deltas add", err)
	}
	step("restore of the full snapshot alone: namespace checkout (created after it) is missing, as with full snapshots only")
	plain.Stop()

	at := accident.Add(-time.Second)
	dataDir := filepath.Join(t.TempDir(), "etcd-restored")
	rst := runEtcdguard(t, env, append([]string{"restore", "--at", at.UTC().Format(time.RFC3339Nano), "--data-dir", dataDir, "--name", "default"}, cfg...)...)
	step("etcdguard restore --at %s (T-1s) → exit %d in %s:\n%s", at.UTC().Format(time.RFC3339Nano), rst.Code, rst.Took.Round(time.Millisecond), logBlock(rst.Output))
	if rst.Code != 0 {
		t.Fatal("restore --at failed")
	}
	etcd := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: dataDir})
	cp2 := infra.StartControlPlane(t, infra.ControlPlaneOptions{Etcd: etcd, WithoutControllerManager: true})
	step("etcd and kube-apiserver restarted on the restored data dir")
	for _, want := range []clusterObjects{early, late} {
		if got := readObjects(t, cp2.Clientset, want); got != want.count() {
			t.Fatalf("%d of %d objects back", got, want.count())
		}
	}
	step("every object is back with its content: %d before the full snapshot, %d after it", early.count(), late.count())
}

// createTeamObjects creates, for each team, a namespace with four
// ConfigMaps and two Secrets.
func createTeamObjects(t *testing.T, cs kubernetes.Interface, teams ...string) clusterObjects {
	t.Helper()
	ctx := context.Background()
	o := clusterObjects{ConfigMaps: map[string]map[string]string{}, Secrets: map[string]map[string][]byte{}}
	for _, ns := range teams {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		o.Namespaces = append(o.Namespaces, ns)
		for i := range 4 {
			name := fmt.Sprintf("config-%d", i)
			data := map[string]string{"app.yaml": fmt.Sprintf("replicas: %d\nowner: %s\n", i+2, ns)}
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			o.ConfigMaps[ns+"/"+name] = data
		}
		for i := range 2 {
			name := fmt.Sprintf("db-credentials-%d", i)
			secret := make([]byte, 24)
			rand.Read(secret)
			data := map[string][]byte{"password": secret}
			if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			o.Secrets[ns+"/"+name] = data
		}
	}
	return o
}

// highestResourceVersion is the newest etcd revision among o's ConfigMaps.
func highestResourceVersion(t *testing.T, cs kubernetes.Interface, o clusterObjects) int64 {
	t.Helper()
	var top int64
	for key := range o.ConfigMaps {
		ns, name, _ := strings.Cut(key, "/")
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rv, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64)
		top = max(top, rv)
	}
	return top
}

func newestSnapshot(t *testing.T, st store.Store, cluster string) *snapshot.Manifest {
	t.Helper()
	l, err := snapshot.List(context.Background(), st, cluster)
	if err != nil || len(l.Snapshots) == 0 {
		t.Fatalf("no snapshot of %s: %v", cluster, err)
	}
	return l.Snapshots[0]
}
