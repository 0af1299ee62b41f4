package infra_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/gruntwork-io/terratest/modules/terraform"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/test/infra"
)

func TestControlPlaneIsReady(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	body, err := cp.Clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
	if err != nil || string(body) != "ok" {
		t.Fatalf("/readyz = %q, %v", body, err)
	}
	v, err := cp.Clientset.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.36.3" {
		t.Fatalf("server version %q: the build did not stamp the version", v.GitVersion)
	}
}

// The quota is only enforced once the controller-manager has computed its
// status, so this proves the controller-manager runs; without it the same
// steps admit every pod (the second subtest), so the test can fail.
func TestResourceQuotaNeedsControllerManager(t *testing.T) {
	t.Run("with controller-manager the third pod is rejected", func(t *testing.T) {
		cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
		created, lastErr := createPodsUnderQuota(t, cp.Clientset, 3)
		if created != 2 {
			t.Fatalf("created %d pods under quota pods=2, want 2", created)
		}
		if !apierrors.IsForbidden(lastErr) || !strings.Contains(lastErr.Error(), "exceeded quota") {
			t.Fatalf("third pod error = %v, want forbidden: exceeded quota", lastErr)
		}
	})
	t.Run("without controller-manager nothing is enforced", func(t *testing.T) {
		cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
		created, lastErr := createPodsUnderQuota(t, cp.Clientset, 3)
		if created != 3 {
			t.Fatalf("created %d pods (last error %v): expected the unenforced quota to admit all 3", created, lastErr)
		}
	})
}

func createPodsUnderQuota(t *testing.T, cs kubernetes.Interface, n int) (int, error) {
	t.Helper()
	ctx := context.Background()
	ns := "quota-selftest"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: ns},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}},
	}
	if _, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Give the quota controller time to compute status (it does so within
	// seconds when it runs); without it status never appears.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "pods", metav1.GetOptions{})
		if err == nil && q.Status.Hard != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	created := 0
	var lastErr error
	for i := 0; i < n; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "p-", Namespace: ns},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
		}
		if _, lastErr = cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); lastErr == nil {
			created++
		}
	}
	return created, lastErr
}

func TestNodeGetsPodCIDRFromClusterCIDR(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{ClusterCIDR: "10.64.0.0/20", NodeCIDRMaskSize: 24})
	ctx := context.Background()
	if _, err := cp.Clientset.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-0"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var cidr string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && cidr == ""; time.Sleep(200 * time.Millisecond) {
		n, err := cp.Clientset.CoreV1().Nodes().Get(ctx, "node-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cidr = n.Spec.PodCIDR
	}
	if !strings.HasPrefix(cidr, "10.64.") || !strings.HasSuffix(cidr, "/24") {
		t.Fatalf("node podCIDR = %q, want a /24 from 10.64.0.0/20", cidr)
	}
}

func TestObjectRoundTripsThroughVersityGW(t *testing.T) {
	s := infra.StartS3(t)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("k8sguard-"), 100000)
	want := sha256.Sum256(payload)
	if _, err := s.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: aws.String("a/b.bin"), Body: bytes.NewReader(payload)}); err != nil {
		t.Fatal(err)
	}
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.Bucket, Key: aws.String("a/b.bin")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != want {
		t.Fatalf("object changed in transit: %d bytes back, %d sent", len(got), len(payload))
	}
	v, err := s.Client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &s.Bucket})
	if err != nil || v.Status != "Enabled" {
		t.Fatalf("bucket versioning = %v, %v", v.Status, err)
	}
}

func TestMotoAnswersSTS(t *testing.T) {
	m := infra.StartMoto(t)
	client := sts.New(sts.Options{
		Region:       m.Region,
		BaseEndpoint: aws.String(m.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) == "" || aws.ToString(out.Arn) == "" {
		t.Fatalf("GetCallerIdentity = %+v", out)
	}
}

// The whole path: terraform → provider from the mirror → real API server.
func TestTerraformReadsClusterVersion(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	opts := infra.Terraform(t, "examples/data-sources/k8sguard_kubernetes_cluster", nil)
	opts.EnvVars["KUBECONFIG"] = cp.Kubeconfig
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, context.Background(), opts)
	if got := terraform.OutputContext(t, context.Background(), opts, "server_version"); got != "v1.36.3" {
		t.Fatalf("server_version output = %q, want v1.36.3", got)
	}
	if got := terraform.OutputContext(t, context.Background(), opts, "minor"); got != "36" {
		t.Fatalf("minor output = %q, want 36", got)
	}
}
