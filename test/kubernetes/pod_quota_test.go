package kubernetes_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
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

	"github.com/k8sguard/k8sguard/provider/guard"
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
	defaultRequestAgreesWithTheAPIServer(t, cs)
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

	// Deleted outside Terraform, the quota leaves the state and apply
	// recreates it beside its LimitRange.
	if err := quotas.Delete(ctx, "k8sguard-pods", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	out = terraform.PlanContext(t, context.Background(), opts)
	requireContains(t, out, "k8sguard_pod_quota.this will be created")
	terraform.ApplyContext(t, context.Background(), opts)
	if recreated, err := quotas.Get(ctx, "k8sguard-pods", metav1.GetOptions{}); err != nil || recreated.Spec.Hard.Pods().Value() != 12 {
		t.Fatalf("quota deleted by hand, then apply: %v %v", err, recreated)
	}
	infra.ExpectNoChanges(t, opts, "after recreating the quota")
	t.Log("quota deleted by hand: plan showed it created, apply recreated it")

	terraform.RunTerraformCommandContext(t, context.Background(), opts, "state", "rm", "k8sguard_pod_quota.this")
	out, err = infra.ApplyE(t, context.Background(), opts)
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

// Pods come and go between a saved plan and its apply (a CronJob's
// namespace churns all day): the counts read at apply are the new state,
// not an inconsistent result.
func TestPodQuotaUsageChangesBetweenPlanAndApply(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	createNamespace(t, cs, "busy", nil)
	opts := tf(t, cp, "test/kubernetes/testdata/pod_quota", map[string]any{"namespace": "busy", "pods": 10})
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, ctx, opts)

	opts.Vars["pods"] = 12
	planFile := filepath.Join(opts.TerraformDir, "raise.tfplan")
	terraform.RunTerraformCommandContext(t, ctx, opts, terraform.FormatArgs(opts, "plan", "-input=false", "-out="+planFile)...)
	noToken := false
	eventually(t, "a pod created between plan and apply", 30*time.Second, func() error {
		_, err := cs.CoreV1().Pods("busy").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "between"}, Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &noToken, Containers: []corev1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10"}},
		}}, metav1.CreateOptions{})
		return err // the default service account appears shortly after the namespace
	})
	terraform.RunTerraformCommandContext(t, ctx, opts, "apply", "-input=false", "-no-color", planFile)
	if used := terraform.OutputContext(t, ctx, opts, "used_pods"); used != "1" {
		t.Fatalf("used_pods = %s after the apply, want the pod created since the plan", used)
	}
}

// A LimitRange of the quota's name that k8sguard did not create is
// refused at create, with or without container defaults configured:
// adopting it would replace its limits, or delete it.
func TestPodQuotaRefusesExistingLimitRange(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	ctx := context.Background()
	for _, defaults := range []string{"", "100m"} {
		ns := "team-b"
		if defaults != "" {
			ns = "team-c"
		}
		t.Run(ns, func(t *testing.T) {
			createNamespace(t, cs, ns, nil)
			theirs := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "k8sguard-pods"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
				Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
			}}}}
			theirs, err := cs.CoreV1().LimitRanges(ns).Create(ctx, theirs, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			vars := map[string]any{"namespace": ns, "pods": 10}
			if defaults != "" {
				vars["default_cpu_request"] = defaults
			}
			opts := tf(t, cp, "test/kubernetes/testdata/pod_quota", vars)
			defer terraform.DestroyContext(t, context.Background(), opts)
			out, err := infra.InitAndApplyE(t, ctx, opts)
			if err == nil {
				t.Fatal("apply over an existing LimitRange succeeded: k8sguard must not adopt it")
			}
			requireContains(t, out, "LimitRange "+ns+"/k8sguard-pods already exists")
			requireContains(t, out, "Give the quota another name, or remove the LimitRange first")
			lr, err := cs.CoreV1().LimitRanges(ns).Get(ctx, "k8sguard-pods", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("their LimitRange after the refused apply: %v", err)
			}
			if lr.ResourceVersion != theirs.ResourceVersion {
				t.Fatalf("their LimitRange was changed: %+v, was %+v", lr.Spec, theirs.Spec)
			}
			if err := noQuota(cs, ns); err != nil {
				t.Fatalf("after the refused apply: %v", err)
			}
		})
	}
}

// innocentCronJob is Zalando incident 2's manifest (batch/v1 today): the
// concurrency policy and history limits sit in the pod template, where the
// API server drops them, and nothing bounds how long a job runs. Only the
// schedule differs: every minute ("*/1 * * * *") instead of the incident's
// "*/15 9-19 * * Mon-Fri", so the real CronJob controller starts a Job a
// minute. The pause container never exits (and without a kubelet the pod
// stays Pending), so no Job ever finishes: as in the incident, they overlap.
const innocentCronJob = `{
  "apiVersion": "batch/v1", "kind": "CronJob",
  "metadata": {"name": "foobar"},
  "spec": {
    "schedule": "*/1 * * * *",
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
// stored CronJob and the warnings the API server sent back.
func applyInnocentCronJob(t *testing.T, cp *infra.ControlPlane, ns string) (*batchv1.CronJob, []string) {
	t.Helper()
	rec := &warningRecorder{}
	cfg := rest.CopyConfig(cp.REST)
	cfg.WarningHandler = rec
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cj := &batchv1.CronJob{}
	err = cs.BatchV1().RESTClient().Post().Namespace(ns).Resource("cronjobs").
		SetHeader("Content-Type", "application/json").Body([]byte(innocentCronJob)).Do(context.Background()).Into(cj)
	if err != nil {
		t.Fatalf("create CronJob %s/foobar: %v", ns, err)
	}
	return cj, rec.warnings
}

// namespaceState is what the CronJob left in a namespace: its Jobs and
// pods, and the quota refusals the API server returned to the controllers
// (FailedCreate events with "exceeded quota").
type namespaceState struct {
	jobs, pods int
	// refusals by the kind of object the event is on: "Job" when the job
	// controller could not create a pod, "CronJob" when the CronJob
	// controller could not create a Job.
	refusals map[string][]string
}

func (s namespaceState) String() string {
	return fmt.Sprintf("%d Jobs, %d pods, %d pod refusals, %d Job refusals", s.jobs, s.pods, len(s.refusals["Job"]), len(s.refusals["CronJob"]))
}

func stateOf(t *testing.T, cs kubernetes.Interface, ns string) namespaceState {
	t.Helper()
	ctx := context.Background()
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := namespaceState{jobs: len(jobs.Items), pods: len(pods.Items), refusals: map[string][]string{}}
	for _, e := range events.Items {
		if e.Reason == "FailedCreate" && strings.Contains(e.Message, "exceeded quota") {
			kind := e.InvolvedObject.Kind
			st.refusals[kind] = append(st.refusals[kind], fmt.Sprintf("%s %s: %s", kind, e.InvolvedObject.Name, e.Message))
		}
	}
	return st
}

// Zalando incident 2: the CronJob whose concurrencyPolicy was silently
// ignored piled up pods until the API server fell over. The incident's
// CronJob runs on the harness's real kube-controller-manager, whose CronJob
// controller starts a Job every minute and whose Job controller creates the
// pods, for three schedules (at most three minutes), in three namespaces at
// once:
//   - zalando-unbounded, no quota: a Job and a pod more every minute;
//   - zalando-pods-capped, k8sguard_pod_quota { pods = 2 }: the third Job's
//     pod is refused by the API server (an event on the Job);
//   - zalando-jobs-capped, k8sguard_pod_quota { pods = 3, jobs = 2 }: the
//     third Job itself is refused (an event on the CronJob).
func TestCronJobPodExplosionReproducedAndCapped(t *testing.T) {
	const (
		schedules = 3
		unbounded = "zalando-unbounded"
		podsCap   = "zalando-pods-capped"
		jobsCap   = "zalando-jobs-capped"
	)
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	for _, ns := range []string{unbounded, podsCap, jobsCap} {
		createNamespace(t, cs, ns, nil)
	}

	opts := tf(t, cp, "test/kubernetes/testdata/pod_quotas", map[string]any{"quotas": map[string]any{
		podsCap: map[string]any{"pods": 2},
		jobsCap: map[string]any{"pods": 3, "jobs": 2},
	}})
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, context.Background(), opts)
	t.Logf("terraform apply: ResourceQuota %s/k8sguard-pods pods=2 and %s/k8sguard-pods pods=3 count/jobs.batch=2, both enforced", podsCap, jobsCap)

	var firstCreated time.Time
	for _, ns := range []string{unbounded, podsCap, jobsCap} {
		cj, warnings := applyInnocentCronJob(t, cp, ns)
		if firstCreated.IsZero() {
			firstCreated = cj.CreationTimestamp.Time
			for _, w := range warnings {
				t.Logf("API server warning on the incident's manifest: %s", w)
			}
		}
		if cj.Spec.ConcurrencyPolicy != batchv1.AllowConcurrent || cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds != nil {
			t.Fatalf("stored CronJob %s/foobar: concurrencyPolicy %q, activeDeadlineSeconds %v", ns, cj.Spec.ConcurrencyPolicy, cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds)
		}
	}
	t.Logf("stored CronJob foobar in %s, %s and %s: schedule %q, concurrencyPolicy %q (the misplaced Forbid was dropped), activeDeadlineSeconds unset",
		unbounded, podsCap, jobsCap, "*/1 * * * *", batchv1.AllowConcurrent)

	// The controller runs the CronJob at the minute boundaries after its
	// creation: three schedules take at most three minutes.
	firstTick := firstCreated.Truncate(time.Minute).Add(time.Minute)
	lastTick := firstTick.Add((schedules - 1) * time.Minute)
	t.Logf("waiting for the CronJob controller's schedules at %s, %s and %s",
		firstTick.Format("15:04:05"), firstTick.Add(time.Minute).Format("15:04:05"), lastTick.Format("15:04:05"))
	var st map[string]namespaceState
	eventually(t, "three schedules run by the CronJob controller, the caps holding", time.Until(lastTick)+45*time.Second, func() error {
		st = map[string]namespaceState{}
		for _, ns := range []string{unbounded, podsCap, jobsCap} {
			st[ns] = stateOf(t, cs, ns)
		}
		// The caps hold at every moment, not just at the end.
		if n := st[podsCap].pods; n > 2 {
			t.Fatalf("%s holds %d pods under a quota of pods=2", podsCap, n)
		}
		if n := st[jobsCap].jobs; n > 2 {
			t.Fatalf("%s holds %d Jobs under a quota of jobs=2", jobsCap, n)
		}
		switch {
		case time.Now().Before(lastTick):
			return fmt.Errorf("schedule %s not reached yet", lastTick.Format("15:04:05"))
		case st[unbounded].jobs < schedules || st[unbounded].pods < schedules:
			return fmt.Errorf("%s: %s", unbounded, st[unbounded])
		case st[podsCap].jobs < schedules || st[podsCap].pods < 2 || len(st[podsCap].refusals["Job"]) == 0:
			return fmt.Errorf("%s: %s", podsCap, st[podsCap])
		case st[jobsCap].jobs < 2 || st[jobsCap].pods < 2 || len(st[jobsCap].refusals["CronJob"]) == 0:
			return fmt.Errorf("%s: %s", jobsCap, st[jobsCap])
		}
		return nil
	})
	elapsed := time.Since(firstCreated).Round(time.Second)
	if elapsed > 3*time.Minute+45*time.Second {
		t.Fatalf("the three schedules took %s", elapsed)
	}
	t.Logf("after %d schedules (%s after the CronJobs were created):", schedules, elapsed)
	t.Logf("  %s (no quota): %s: nothing stops the pile-up but the API server's memory", unbounded, st[unbounded])
	t.Logf("  %s (pods=2): %s", podsCap, st[podsCap])
	t.Logf("    event FailedCreate on %s", st[podsCap].refusals["Job"][0])
	t.Logf("  %s (pods=3, jobs=2): %s", jobsCap, st[jobsCap])
	t.Logf("    event FailedCreate on %s", st[jobsCap].refusals["CronJob"][0])

	// The refusals are the API server's quota admission, naming the quota
	// and the resource that ran out.
	requireRefusal(t, st[podsCap].refusals["Job"], "exceeded quota: k8sguard-pods, requested: pods=1, used: pods=2, limited: pods=2")
	requireRefusal(t, st[jobsCap].refusals["CronJob"], "Error creating job: jobs.batch")
	requireRefusal(t, st[jobsCap].refusals["CronJob"], "exceeded quota: k8sguard-pods, requested: count/jobs.batch=1, used: count/jobs.batch=2, limited: count/jobs.batch=2")
	// Every Job the controller did create is the controller's own, one per schedule.
	jobs, err := cs.BatchV1().Jobs(podsCap).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Items {
		if owner := metav1.GetControllerOf(&j); owner == nil || owner.Kind != "CronJob" || owner.Name != "foobar" {
			t.Fatalf("Job %s/%s is not controlled by CronJob foobar: %v", podsCap, j.Name, owner)
		}
	}

	terraform.RunTerraformCommandContext(t, context.Background(), opts, append(terraform.FormatArgs(opts, "apply"), "-refresh-only", "-auto-approve")...)
	usedPods := terraform.OutputMapContext(t, context.Background(), opts, "used_pods")
	usedJobs := terraform.OutputMapContext(t, context.Background(), opts, "used_jobs")
	if usedPods[podsCap] != "2" || usedPods[jobsCap] != "2" || usedJobs[jobsCap] != "2" {
		t.Fatalf("after refresh used_pods = %v, used_jobs = %v; want pods 2 in both capped namespaces and jobs 2 in %s", usedPods, usedJobs, jobsCap)
	}
	t.Logf("terraform refresh: used_pods %v, used_jobs %v", usedPods, usedJobs)
}

// requireRefusal fails unless one of the events contains want.
func requireRefusal(t *testing.T, events []string, want string) {
	t.Helper()
	for _, e := range events {
		if strings.Contains(e, want) {
			return
		}
	}
	t.Fatalf("no refusal event contains %q; events:\n%s", want, strings.Join(events, "\n"))
}

// defaultRequestAgreesWithTheAPIServer: QUOTA_INVALID_QUANTITY's "default
// request above the default limit" is what the API server refuses in a
// LimitRange, judged on generated pairs of CPU and memory amounts in mixed
// units (a dry-run create of each; nothing is stored).
func defaultRequestAgreesWithTheAPIServer(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	amount := func(res string) string {
		if res == "cpu" {
			if rng.IntN(2) == 0 {
				return fmt.Sprintf("%dm", 50*(1+rng.IntN(8)))
			}
			return fmt.Sprintf("0.%d", 1+rng.IntN(4))
		}
		return []string{"64Mi", "128Mi", "134217728", "100M", "0.125Gi", "96Mi"}[rng.IntN(6)]
	}
	refused := 0
	for i := range 24 {
		res := []string{"cpu", "memory"}[i%2]
		req, lim := amount(res), amount(res)
		findings := guard.CheckPodQuota(guard.PodQuota{Namespace: "team-a", Pods: ptrTo[int64](10), Quantities: []guard.Quantity{
			{Path: guard.Path{"default_container_requests", 0, res}, Value: req},
			{Path: guard.Path{"default_container_limits", 0, res}, Value: lim},
		}}, guard.Settings{})
		lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", i)}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{corev1.ResourceName(res): resource.MustParse(req)},
			Default:        corev1.ResourceList{corev1.ResourceName(res): resource.MustParse(lim)},
		}}}}
		_, err := cs.CoreV1().LimitRanges("team-a").Create(context.Background(), lr, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		apiRefuses := apierrors.IsInvalid(err)
		if err != nil && !apiRefuses {
			t.Fatalf("dry-run LimitRange %s request %s limit %s: %v", res, req, lim, err)
		}
		if guardRefuses := len(findings) > 0; guardRefuses != apiRefuses {
			t.Errorf("%s request %s, limit %s: guard refuses %v (%v), the API server refuses %v (%v)", res, req, lim, guardRefuses, findings, apiRefuses, err)
		}
		if apiRefuses {
			refused++
		}
	}
	if refused == 0 || refused == 24 {
		t.Fatalf("%d of 24 generated pairs refused: the inputs do not exercise both sides", refused)
	}
	t.Logf("default request vs limit: guard and the API server agree on 24 generated pairs (%d refused)", refused)
}

func ptrTo[T any](v T) *T { return &v }

// A quota imported under a configuration that spells a quantity otherwise
// than the API server ("1000m" for its "1") plans one in-place update:
// the import has no prior spelling to keep (Read sees neither state nor
// configuration), and Terraform requires the planned value of a configured
// attribute to be the configuration's, so no provider code can keep "1"
// in the plan; the framework runs semantic equality only in Read, Create
// and Update, not in plan. The update changes no amount, and after it the
// spelling is kept (keepSpelling) and the plan is clean.
func TestPodQuotaImportWithOtherSpelling(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	createNamespace(t, cs, "team-spelling", nil)
	opts := tf(t, cp, "test/kubernetes/testdata/pod_quota", map[string]any{
		"namespace": "team-spelling", "pods": 10, "requests_cpu": "1000m", "default_cpu_request": "0.1",
	})
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, context.Background(), opts)
	infra.ExpectNoChanges(t, opts, "after create")
	before, err := cs.CoreV1().ResourceQuotas("team-spelling").Get(ctx, "k8sguard-pods", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	terraform.RunTerraformCommandContext(t, context.Background(), opts, "state", "rm", "k8sguard_pod_quota.this")
	terraformImport(t, opts, "k8sguard_pod_quota.this", "team-spelling/k8sguard-pods")
	out := terraform.PlanContext(t, context.Background(), opts)
	requireContains(t, out, `~ requests_cpu = "1" -> "1000m"`)
	requireContains(t, out, `~ cpu = "100m" -> "0.1"`)
	requireContains(t, out, "Plan: 0 to add, 1 to change, 0 to destroy.")
	terraform.ApplyContext(t, context.Background(), opts)
	infra.ExpectNoChanges(t, opts, "after the update that follows the import")
	after, err := cs.CoreV1().ResourceQuotas("team-spelling").Get(ctx, "k8sguard-pods", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !after.Spec.Hard.Name(corev1.ResourceRequestsCPU, resource.DecimalSI).Equal(before.Spec.Hard[corev1.ResourceRequestsCPU]) {
		t.Fatalf("requests.cpu changed: %v -> %v", before.Spec.Hard, after.Spec.Hard)
	}
}
