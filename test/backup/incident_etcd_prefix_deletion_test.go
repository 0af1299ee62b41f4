package backup_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	clientv3 "go.etcd.io/etcd/client/v3"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/test/infra"
)

// The objects the incident test creates, by kind, with their content.
type clusterObjects struct {
	Namespaces []string
	ConfigMaps map[string]map[string]string // ns/name → data
	Secrets    map[string]map[string][]byte // ns/name → data
	CSRs       map[string][]byte            // name → spec.request
}

func (o clusterObjects) count() int {
	return len(o.Namespaces) + len(o.ConfigMaps) + len(o.Secrets) + len(o.CSRs)
}

// TestIncidentEtcdPrefixDeletion replays Zalando's incident 4 on a real
// control plane: "etcdctl del -r /registry-kube-1/certificatesigningrequest
// prefix" was meant to delete the CSRs, but etcdctl's del takes [key]
// [range_end], so it deleted every key from the CSRs up to "prefix": most of
// the registry. With etcdguard the deletion shows up as a CRITICAL shrink
// naming the prefixes, and the snapshot before it restores every object.
// The test counts etcd's keys per prefix at the exact revisions: what the
// delete removed (every prefix from the CSRs on, down to 0; those sorting
// before untouched), and that the restored etcd holds every key the
// snapshot's revision held, prefix by prefix.
func TestIncidentEtcdPrefixDeletion(t *testing.T) {
	ctx := context.Background()
	step := stepLogger(t)

	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	bucket := infra.StartS3(t)
	step("control plane (etcd %s, kube-apiserver %s) and S3 (versitygw, bucket %s) are up", cp.Etcd.Endpoints[0], cp.Host, bucket.Bucket)

	cfgPath := filepath.Join(t.TempDir(), "etcdguard.yaml")
	incidentConfig(t, cfgPath, cp.Etcd.Endpoints[0], bucket)
	env := bucket.Env()
	cfg := []string{"--config", cfgPath}

	want := createObjects(t, cp.Clientset)
	step("created through the API server: %d namespaces, %d ConfigMaps, %d Secrets, %d CertificateSigningRequests",
		len(want.Namespaces), len(want.ConfigMaps), len(want.Secrets), len(want.CSRs))

	out := mustRunEtcdguard(t, env, append([]string{"snapshot"}, cfg...)...)
	before, beforeRev := takenSnapshot(t, out)
	step("etcdguard snapshot (before the accident):\n%s", logBlock(lastLineOf(out)))
	live := etcdClient(t, cp.Etcd)
	snapshotted := keysAt(t, live, beforeRev)
	if !strings.Contains(out, fmt.Sprintf("revision %d, %d keys", beforeRev, len(snapshotted))) {
		t.Fatalf("etcd holds %d keys at revision %d; etcdguard reported otherwise", len(snapshotted), beforeRev)
	}

	// The accident, byte for byte: a range delete from the CSR prefix to
	// "prefix". A watch on that range gives the delete's own revision, so
	// the state just before and just after it is read exactly, whatever the
	// API server writes meanwhile.
	var delOut []byte
	delRev := watchRangeDelete(t, live, func() {
		del := exec.Command(infra.Tool(t, "etcdctl"), "--endpoints", cp.Etcd.Endpoints[0], "del", accidentStart, accidentEnd)
		var err error
		delOut, err = del.CombinedOutput()
		if err != nil {
			t.Fatalf("etcdctl del: %v\n%s", err, delOut)
		}
		step("etcdctl --endpoints %s del %s %s\n%s", cp.Etcd.Endpoints[0], accidentStart, accidentEnd, logBlock(string(delOut)))
	})
	preDelete, postDelete := keysAt(t, live, delRev-1), keysAt(t, live, delRev)
	step("what the delete (revision %d) removed, keys per prefix:\n%s", delRev, logBlock(prefixTable(preDelete, postDelete)))
	requireAccidentRemoved(t, preDelete, postDelete, len(want.CSRs))
	if said, removed := lastLineOf(string(delOut)), len(preDelete)-len(postDelete); said != strconv.Itoa(removed) {
		t.Fatalf("etcdctl says it deleted %s keys; the counts say %d", said, removed)
	}
	if _, err := cp.Clientset.CertificatesV1().CertificateSigningRequests().Get(ctx, "node-0", metav1.GetOptions{}); err == nil {
		t.Fatal("CSR node-0 still served by the API server after the range delete")
	}

	out = mustRunEtcdguard(t, env, append([]string{"snapshot"}, cfg...)...)
	after := takenSnapshotName(t, out)
	step("etcdguard snapshot (after the accident):\n%s", logBlock(lastLineOf(out)))

	chk := runEtcdguard(t, env, append([]string{"check"}, cfg...)...)
	step("etcdguard check → exit %d:\n%s", chk.Code, logBlock(chk.Output))
	if chk.Code != 2 || !strings.Contains(chk.Output, "CRITICAL") || !strings.Contains(chk.Output, "/registry/certificatesigningrequests") || !strings.Contains(chk.Output, after) {
		t.Fatalf("check did not go CRITICAL naming the shrunk snapshot and the CSR prefix (exit %d)", chk.Code)
	}

	list := mustRunEtcdguard(t, env, append([]string{"list"}, cfg...)...)
	step("etcdguard list:\n%s", logBlock(list))

	cp.Stop()
	step("control plane stopped (etcd's data dir %s is what the accident left)", cp.Etcd.DataDir)

	dataDir := filepath.Join(t.TempDir(), "etcd-restored")
	rst := runEtcdguard(t, env, append([]string{"restore", "--snapshot", before, "--data-dir", dataDir, "--name", "default"}, cfg...)...)
	step("etcdguard restore --snapshot %s --data-dir %s → exit %d in %s:\n%s", before, dataDir, rst.Code, rst.Took.Round(time.Millisecond), logBlock(rst.Output))
	if rst.Code != 0 {
		t.Fatal("restore failed")
	}

	etcd := infra.StartEtcdWith(t, infra.EtcdOptions{DataDir: dataDir})
	// Compared before an API server starts on it and writes its own keys.
	restored := keysAt(t, etcdClient(t, etcd), 0)
	if diff := keyDiff(snapshotted, restored); diff != "" {
		t.Fatalf("restored etcd differs from the snapshot's revision %d:\n%s", beforeRev, diff)
	}
	step("restored etcd, keys per prefix, snapshot revision %d → restored (every prefix back to its count):\n%s",
		beforeRev, logBlock(prefixTable(snapshotted, restored)))
	cp2 := infra.StartControlPlane(t, infra.ControlPlaneOptions{Etcd: etcd, WithoutControllerManager: true})
	step("etcd and kube-apiserver started on the restored data dir (%s)", cp2.Host)

	got := readObjects(t, cp2.Clientset, want)
	if got != want.count() {
		t.Fatalf("%d of %d objects back", got, want.count())
	}
	step("every object is back with its content: %d/%d (namespaces, ConfigMap data, Secret data, CSR requests compared byte for byte)", got, want.count())

	// A corrupt object is refused and the target left as it was.
	dataKey := "incident/" + before + ".db.zst"
	flipObjectByte(t, bucket, "etcd/"+dataKey)
	emptyDir := t.TempDir()
	ver := runEtcdguard(t, env, append([]string{"verify", "--snapshot", before}, cfg...)...)
	step("after flipping one byte of %s in S3, etcdguard verify → exit %d:\n%s", dataKey, ver.Code, logBlock(ver.Output))
	bad := runEtcdguard(t, env, append([]string{"restore", "--snapshot", before, "--data-dir", emptyDir}, cfg...)...)
	step("etcdguard restore of it into an empty dir → exit %d:\n%s", bad.Code, logBlock(bad.Output))
	corrupt := regexp.MustCompile(`refusing to restore ` + before + ` into ` + regexp.QuoteMeta(emptyDir) + ` \(left untouched\): snapshot ` + dataKey + ` is corrupt: sha256 of the stored object is [0-9a-f]{64}, expected [0-9a-f]{64} \(manifest\)`)
	if ver.Code != 2 || bad.Code != 2 || !corrupt.MatchString(bad.Output) {
		t.Fatalf("corrupt snapshot not refused with the expected message (verify exit %d, restore exit %d)", ver.Code, bad.Code)
	}
	if entries, err := os.ReadDir(emptyDir); err != nil || len(entries) != 0 {
		t.Fatalf("data dir %s touched by a refused restore: %v %v", emptyDir, entries, err)
	}
	step("the refused restore left %s empty", emptyDir)
}

func incidentConfig(t *testing.T, path, etcdEndpoint string, bucket *infra.S3) {
	t.Helper()
	cfg := fmt.Sprintf(`cluster_name: incident
etcd:
  endpoints: [%q]
store:
  url: s3://%s/etcd
  endpoint: %s
  region: %s
`, etcdEndpoint, bucket.Bucket, bucket.Endpoint, bucket.Region)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func createObjects(t *testing.T, cs kubernetes.Interface) clusterObjects {
	t.Helper()
	ctx := context.Background()
	o := createTeamObjects(t, cs, "payments", "search", "checkout")
	o.CSRs = map[string][]byte{}
	for i := range 5 {
		name := fmt.Sprintf("node-%d", i)
		req := csrPEM(t, fmt.Sprintf("system:node:node-%d", i))
		csr := &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request:    req,
				SignerName: "example.com/k8sguard-incident",
				Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			},
		}
		if _, err := cs.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		o.CSRs[name] = req
	}
	return o
}

// readObjects reads every object back and compares its content; it
// returns how many matched and reports each that did not.
func readObjects(t *testing.T, cs kubernetes.Interface, want clusterObjects) int {
	t.Helper()
	ctx := context.Background()
	ok := 0
	for _, ns := range want.Namespaces {
		got, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil || got.Labels["team"] != ns {
			t.Errorf("namespace %s: %v (labels %v)", ns, err, labelsOf(got))
			continue
		}
		ok++
	}
	for key, data := range want.ConfigMaps {
		ns, name, _ := strings.Cut(key, "/")
		got, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || fmt.Sprint(got.Data) != fmt.Sprint(data) {
			t.Errorf("configmap %s: %v", key, err)
			continue
		}
		ok++
	}
	for key, data := range want.Secrets {
		ns, name, _ := strings.Cut(key, "/")
		got, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || !bytes.Equal(got.Data["password"], data["password"]) {
			t.Errorf("secret %s: %v", key, err)
			continue
		}
		ok++
	}
	for name, req := range want.CSRs {
		got, err := cs.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
		if err != nil || !bytes.Equal(got.Spec.Request, req) {
			t.Errorf("csr %s: %v", name, err)
			continue
		}
		ok++
	}
	return ok
}

func labelsOf(ns *corev1.Namespace) map[string]string {
	if ns == nil {
		return nil
	}
	return ns.Labels
}

func csrPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: []string{"system:nodes"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// flipObjectByte flips one byte in the middle of an S3 object.
func flipObjectByte(t *testing.T, bucket *infra.S3, key string) {
	t.Helper()
	ctx := context.Background()
	obj, err := bucket.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket.Bucket, Key: &key})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	b, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if _, err := bucket.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket.Bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

var takenSnapshotLine = regexp.MustCompile(`(?m)^snapshot (\S+): revision (\d+)`)

// takenSnapshotName is the name `etcdguard snapshot` reports.
func takenSnapshotName(t *testing.T, out string) string {
	t.Helper()
	name, _ := takenSnapshot(t, out)
	return name
}

// takenSnapshot is the name and etcd revision `etcdguard snapshot` reports.
func takenSnapshot(t *testing.T, out string) (string, int64) {
	t.Helper()
	m := takenSnapshotLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no snapshot name and revision in:\n%s", out)
	}
	rev, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		t.Fatalf("snapshot revision %q: %v", m[2], err)
	}
	return m[1], rev
}

// The accident's range: etcdctl del [key] [range_end] deletes every key k
// with accidentStart <= k < accidentEnd.
const (
	accidentStart = "/registry/certificatesigningrequests"
	accidentEnd   = "prefix"
)

// keysAt lists every key in etcd at revision rev (0: the latest), sorted.
func keysAt(t *testing.T, cli *clientv3.Client, rev int64) []string {
	t.Helper()
	opts := []clientv3.OpOption{clientv3.WithFromKey(), clientv3.WithKeysOnly()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cli.Get(context.Background(), "\x00", opts...)
	if err != nil {
		t.Fatalf("list keys at revision %d: %v", rev, err)
	}
	keys := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		keys[i] = string(kv.Key)
	}
	return keys
}

// watchRangeDelete runs accident while watching the accident's range and
// returns the revision of the delete it made.
func watchRangeDelete(t *testing.T, cli *clientv3.Client, accident func()) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wch := cli.Watch(ctx, accidentStart, clientv3.WithRange(accidentEnd), clientv3.WithCreatedNotify())
	if created := <-wch; !created.Created {
		t.Fatalf("watch on [%s, %s) not created: %v", accidentStart, accidentEnd, created.Err())
	}
	accident()
	for resp := range wch {
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return ev.Kv.ModRevision
			}
		}
	}
	t.Fatalf("no delete seen on [%s, %s): %v", accidentStart, accidentEnd, ctx.Err())
	return 0
}

// keyPrefix groups a key for the counts: /registry/<resource>, or the key
// itself outside /registry (etcd's own, such as compact_rev_key).
func keyPrefix(key string) string {
	rest, ok := strings.CutPrefix(key, "/registry/")
	if !ok {
		return key
	}
	resource, _, _ := strings.Cut(rest, "/")
	return "/registry/" + resource
}

func countByPrefix(keys []string) map[string]int {
	out := map[string]int{}
	for _, k := range keys {
		out[keyPrefix(k)]++
	}
	return out
}

// prefixTable renders the key counts per prefix, before → after.
func prefixTable(before, after []string) string {
	b, a := countByPrefix(before), countByPrefix(after)
	var prefixes []string
	for p := range b {
		prefixes = append(prefixes, p)
	}
	for p := range a {
		if _, ok := b[p]; !ok {
			prefixes = append(prefixes, p)
		}
	}
	sort.Strings(prefixes)
	var out strings.Builder
	for _, p := range prefixes {
		mark := ""
		if b[p] != a[p] {
			mark = "  (changed)"
		}
		fmt.Fprintf(&out, "%-52s %4d → %4d%s\n", p, b[p], a[p], mark)
	}
	fmt.Fprintf(&out, "%-52s %4d → %4d", "all keys", len(before), len(after))
	return out.String()
}

// requireAccidentRemoved checks what the range delete did: the keys after
// are exactly the keys before outside [accidentStart, accidentEnd), so each
// prefix sorting before the CSRs keeps all its keys and each /registry prefix
// from the CSRs on drops to 0 — most of the registry, as in the incident.
func requireAccidentRemoved(t *testing.T, before, after []string, csrs int) {
	t.Helper()
	var outside []string
	for _, k := range before {
		if k < accidentStart || k >= accidentEnd {
			outside = append(outside, k)
		}
	}
	if diff := keyDiff(outside, after); diff != "" {
		t.Fatalf("after the delete etcd does not hold exactly the keys outside [%s, %s):\n%s", accidentStart, accidentEnd, diff)
	}
	b, a := countByPrefix(before), countByPrefix(after)
	if b[accidentStart] != csrs || a[accidentStart] != 0 {
		t.Fatalf("%s: %d → %d keys, want %d → 0", accidentStart, b[accidentStart], a[accidentStart], csrs)
	}
	kept, emptied := 0, 0
	for p, n := range b {
		switch {
		case p < accidentStart:
			if a[p] != n {
				t.Fatalf("%s sorts before the range but went %d → %d keys", p, n, a[p])
			}
			kept++
		case strings.HasPrefix(p, "/registry/"):
			if a[p] != 0 {
				t.Fatalf("%s sorts inside the range but went %d → %d keys", p, n, a[p])
			}
			emptied++
		}
	}
	// The objects the test created, and the cluster's own RBAC, went too.
	for _, p := range []string{"/registry/configmaps", "/registry/namespaces", "/registry/secrets", "/registry/clusterroles"} {
		if b[p] == 0 || a[p] != 0 {
			t.Fatalf("%s: %d → %d keys, want some → 0", p, b[p], a[p])
		}
	}
	if kept == 0 || emptied < 10 {
		t.Fatalf("%d prefixes kept and %d emptied: not the incident's shape", kept, emptied)
	}
}

// keyDiff lists the keys only in want and only in got; empty when equal.
func keyDiff(want, got []string) string {
	set := func(keys []string) map[string]bool {
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	w, g := set(want), set(got)
	var out strings.Builder
	for _, k := range want {
		if !g[k] {
			fmt.Fprintf(&out, "missing %s\n", k)
		}
	}
	for _, k := range got {
		if !w[k] {
			fmt.Fprintf(&out, "extra   %s\n", k)
		}
	}
	return out.String()
}

func lastLineOf(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
