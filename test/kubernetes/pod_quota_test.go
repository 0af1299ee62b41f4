package kubernetes_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/k8sguard/k8sguard/test/infra"
)

// Create, plan-is-empty, update in place, drift correction, refusal to
// adopt, import and destroy; then the documented example.
func TestPodQuotaLifecycle(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	createNamespace(t, cs, "team-a", nil)
	quotas := cs.CoreV1().ResourceQuotas("team-a")

	opts := tf(t, cp, "test/kubernetes/testdata/pod_quota", map[string]any{
		"namespace": "team-a", "pods": 10, "jobs": 5, "requests_cpu": "2", "default_cpu_request": "100m",
	})
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, context.Background(), opts)
	created, err := quotas.Get(ctx, "k8sguard-pods", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for res, want := range map[corev1.ResourceName]string{"pods": "10", "count/jobs.batch": "5", "requests.cpu": "2"} {
		if got := created.Spec.Hard[res]; got.Cmp(resource.MustParse(want)) != 0 {
			t.Fatalf("spec.hard[%s] = %s, want %s", res, got.String(), want)
		}
	}
	// Apply returns only once the quota is enforced.
	if got := created.Status.Hard[corev1.ResourcePods]; got.Value() != 10 {
		t.Fatalf("status.hard.pods = %s right after apply: the quota is not enforced yet", got.String())
	}
	lr, err := cs.CoreV1().LimitRanges("team-a").Get(ctx, "k8sguard-pods", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("LimitRange: %v", err)
	}
	if got := lr.Spec.Limits[0].DefaultRequest[corev1.ResourceCPU]; got.String() != "100m" {
		t.Fatalf("LimitRange default CPU request = %s", got.String())
	}
	t.Logf("created ResourceQuota team-a/k8sguard-pods %v (enforced) and its LimitRange", created.Spec.Hard)
	infra.ExpectNoChanges(t, opts, "after create")

	opts.Vars["pods"] = 12
	terraform.ApplyContext(t, context.Background(), opts)
	updated, _ := quotas.Get(ctx, "k8sguard-pods", metav1.GetOptions{})
	if updated.UID != created.UID || updated.Spec.Hard.Pods().Value() != 12 {
		t.Fatalf("update: uid %s→%s, pods %s: want the same quota with pods 12", created.UID, updated.UID, updated.Spec.Hard.Pods())
	}
	infra.ExpectNoChanges(t, opts, "after update")

	updated.Spec.Hard[corev1.ResourcePods] = resource.MustParse("1000")
	if _, err := quotas.Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	out := terraform.PlanContext(t, context.Background(), opts)
	requireContains(t, out, "~ pods")
	requireContains(t, out, "1000 -> 12")
	terraform.ApplyContext(t, context.Background(), opts)
	restored, _ := quotas.Get(ctx, "k8sguard-pods", metav1.GetOptions{})
	if restored.Spec.Hard.Pods().Value() != 12 {
		t.Fatalf("drift not corrected: pods = %s", restored.Spec.Hard.Pods())
	}
	t.Log("pods raised to 1000 by hand: plan showed 1000 -> 12, apply restored it")

	terraform.RunTerraformCommandContext(t, context.Background(), opts, "state", "rm", "k8sguard_pod_quota.this")
	out, err = terraform.ApplyContextE(t, context.Background(), opts)
	if err == nil {
		t.Fatal("apply over an existing quota succeeded: k8sguard must not adopt it")
	}
	requireContains(t, out, "ResourceQuota team-a/k8sguard-pods already exists")
	requireContains(t, out, "terraform import <resource address> team-a/k8sguard-pods")
	terraformImport(t, opts, "k8sguard_pod_quota.this", "team-a/k8sguard-pods")
	infra.ExpectNoChanges(t, opts, "after import")

	terraform.DestroyContext(t, context.Background(), opts)
	if _, err := quotas.Get(ctx, "k8sguard-pods", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("quota after destroy: %v", err)
	}
	if _, err := cs.CoreV1().LimitRanges("team-a").Get(ctx, "k8sguard-pods", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("LimitRange after destroy: %v", err)
	}

	example := tf(t, cp, "examples/resources/k8sguard_pod_quota", nil)
	defer terraform.DestroyContext(t, context.Background(), example)
	terraform.InitAndApplyContext(t, context.Background(), example)
	infra.ExpectNoChanges(t, example, "example after apply")
}

// innocentCronJob is Zalando incident 2's manifest (batch/v1 today): the
// concurrency policy and history limits sit in the pod template, where the
// API server drops them, and nothing bounds how long a job runs. The pause
// container never exits (and without a kubelet the pod stays Pending).
const innocentCronJob = `{
  "apiVersion": "batch/v1", "kind": "CronJob",
  "metadata": {"name": "foobar"},
  "spec": {
    "schedule": "* * * * *",
    "jobTemplate": {"spec": {"template": {"spec": {
      "restartPolicy": "Never",
      "concurrencyPolicy": "Forbid",
      "successfulJobsHistoryLimit": 1,
      "failedJobsHistoryLimit": 1,
      "containers": [{"name": "foobar", "image": "registry.k8s.io/pause:3.10"}]
    }}}}
  }
}`

// warningRecorder keeps the API server's warnings.
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

// applyInnocentCronJob posts the manifest as written and returns the
// warnings the API server sent back.
func applyInnocentCronJob(t *testing.T, cp *infra.ControlPlane, ns string) []string {
	t.Helper()
	rec := &warningRecorder{}
	cfg := rest.CopyConfig(cp.REST)
	cfg.WarningHandler = rec
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = cs.BatchV1().RESTClient().Post().Namespace(ns).Resource("cronjobs").
		SetHeader("Content-Type", "application/json").Body([]byte(innocentCronJob)).Do(context.Background()).Error()
	if err != nil {
		t.Fatalf("create CronJob %s/foobar: %v", ns, err)
	}
	return rec.warnings
}

// startJobsFromCronJob creates n Jobs from the CronJob's template, as
// `kubectl create job --from=cronjob/foobar` does: n schedules' worth of
// jobs without waiting n minutes.
func startJobsFromCronJob(t *testing.T, cs kubernetes.Interface, ns string, n int) {
	t.Helper()
	ctx := context.Background()
	cj, err := cs.BatchV1().CronJobs(ns).Get(ctx, "foobar", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("foobar-run-%d", i), Namespace: ns,
				Annotations:     map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))},
			},
			Spec: cj.Spec.JobTemplate.Spec,
		}
		if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create job %d from the CronJob: %v", i, err)
		}
	}
}

func countPods(t *testing.T, cs kubernetes.Interface, ns string) int {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(pods.Items)
}

func quotaRejections(t *testing.T, cs kubernetes.Interface, ns string) []string {
	t.Helper()
	events, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events.Items {
		if e.Reason == "FailedCreate" && strings.Contains(e.Message, "exceeded quota") {
			out = append(out, fmt.Sprintf("%s %s: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message))
		}
	}
	return out
}

// Zalando incident 2: the CronJob whose concurrencyPolicy was silently
// ignored piled up pods until the API server fell over. Reproduced in a
// namespace without quota (pods accumulate, one per schedule), then capped
// by k8sguard_pod_quota { pods = 3 }: the namespace never holds more than 3
// pods and the rejections are visible as events.
func TestCronJobPodExplosionReproducedAndCapped(t *testing.T) {
	const schedules = 6
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset

	t.Log("== 1. Reproduced: namespace zalando-unbounded, no quota ==")
	createNamespace(t, cs, "zalando-unbounded", nil)
	for _, w := range applyInnocentCronJob(t, cp, "zalando-unbounded") {
		t.Logf("  API server warning: %s", w)
	}
	cj, err := cs.BatchV1().CronJobs("zalando-unbounded").Get(context.Background(), "foobar", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.AllowConcurrent || cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds != nil {
		t.Fatalf("stored CronJob: concurrencyPolicy %q, activeDeadlineSeconds %v", cj.Spec.ConcurrencyPolicy, cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds)
	}
	t.Logf("  stored CronJob foobar: schedule %q, concurrencyPolicy %q (the misplaced Forbid was dropped), activeDeadlineSeconds unset",
		cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
	startJobsFromCronJob(t, cs, "zalando-unbounded", schedules)
	eventually(t, "every job gets its never-ending pod", 60*time.Second, func() error {
		if n := countPods(t, cs, "zalando-unbounded"); n < schedules {
			return fmt.Errorf("%d pods", n)
		}
		return nil
	})
	t.Logf("  after %d schedules: %d pods, none finishing: nothing stops the pile-up but the API server's memory", schedules, countPods(t, cs, "zalando-unbounded"))

	t.Log("== 2. Capped: namespace zalando-capped with k8sguard_pod_quota { pods = 3 } ==")
	createNamespace(t, cs, "zalando-capped", nil)
	opts := tf(t, cp, "test/kubernetes/testdata/pod_quota", map[string]any{"namespace": "zalando-capped", "pods": 3})
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, context.Background(), opts)
	t.Log("  terraform apply: ResourceQuota zalando-capped/k8sguard-pods pods=3, enforced")
	applyInnocentCronJob(t, cp, "zalando-capped")
	startJobsFromCronJob(t, cs, "zalando-capped", schedules)
	maxSeen := 0
	eventually(t, "the quota holds and rejects the surplus pods", 90*time.Second, func() error {
		n := countPods(t, cs, "zalando-capped")
		if n > maxSeen {
			maxSeen = n
		}
		if n > 3 {
			t.Fatalf("zalando-capped holds %d pods under a quota of 3", n)
		}
		if rejected := quotaRejections(t, cs, "zalando-capped"); n < 3 || len(rejected) < schedules-3 {
			return fmt.Errorf("%d pods, %d quota rejections", n, len(rejected))
		}
		return nil
	})
	// Keep watching through a few more job-controller retries.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if n := countPods(t, cs, "zalando-capped"); n > 3 {
			t.Fatalf("zalando-capped holds %d pods under a quota of 3", n)
		}
	}
	t.Logf("  after %d schedules: %d pods at most, ever (quota pods=3)", schedules, maxSeen)
	rejected := quotaRejections(t, cs, "zalando-capped")
	for i, r := range rejected {
		if i == 3 {
			t.Logf("  ... %d rejection events in all", len(rejected))
			break
		}
		t.Logf("  event FailedCreate on %s", r)
	}
	terraform.RunTerraformCommandContext(t, context.Background(), opts, append(terraform.FormatArgs(opts, "apply"), "-refresh-only", "-auto-approve")...)
	if used := terraform.OutputContext(t, context.Background(), opts, "used_pods"); used != "3" {
		t.Fatalf("used_pods = %s after refresh, want 3", used)
	}
	t.Log("  terraform refresh: k8sguard_pod_quota used_pods = 3")
}
