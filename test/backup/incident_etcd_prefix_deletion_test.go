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
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
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
func TestIncidentEtcdPrefixDeletion(t *testing.T) {
	ctx := context.Background()
	started := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%5.1fs] "+format, append([]any{time.Since(started).Seconds()}, args...)...)
	}

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
	before := takenSnapshotName(t, out)
	step("etcdguard snapshot (before the accident):\n%s", logBlock(lastLineOf(out)))

	// The accident, byte for byte: a range delete from the CSR prefix to "prefix".
	del := exec.Command(infra.Tool(t, "etcdctl"), "--endpoints", cp.Etcd.Endpoints[0], "del", "/registry/certificatesigningrequests", "prefix")
	delOut, err := del.CombinedOutput()
	if err != nil {
		t.Fatalf("etcdctl del: %v\n%s", err, delOut)
	}
	step("etcdctl --endpoints %s del /registry/certificatesigningrequests prefix\n%s", cp.Etcd.Endpoints[0], logBlock(string(delOut)))
	if _, err := cp.Clientset.CertificatesV1().CertificateSigningRequests().Get(ctx, "node-0", metav1.GetOptions{}); err == nil {
		t.Fatal("CSR node-0 survived the range delete: the accident was not reproduced")
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
	o := clusterObjects{ConfigMaps: map[string]map[string]string{}, Secrets: map[string]map[string][]byte{}, CSRs: map[string][]byte{}}
	for _, ns := range []string{"payments", "search", "checkout"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		o.Namespaces = append(o.Namespaces, ns)
		for i := range 4 {
			name := fmt.Sprintf("config-%d", i)
			data := map[string]string{"app.yaml": fmt.Sprintf("replicas: %d\nregion: eu-central-1\nowner: %s\n", i+2, ns)}
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

var takenSnapshotLine = regexp.MustCompile(`(?m)^snapshot (\S+): revision`)

// takenSnapshotName is the name `etcdguard snapshot` reports.
func takenSnapshotName(t *testing.T, out string) string {
	t.Helper()
	m := takenSnapshotLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no snapshot name in:\n%s", out)
	}
	return m[1]
}

func lastLineOf(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
