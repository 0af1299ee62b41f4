package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
	admv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/k8sguard/k8sguard/provider/guard"
	"github.com/k8sguard/k8sguard/provider/guard/guardtest"
	"github.com/k8sguard/k8sguard/provider/guard/live"
	"github.com/k8sguard/k8sguard/test/infra"
)

// zalandoManifest is the Zalando incident 2 CronJob exactly as published
// (incidents.md), at today's batch/v1: concurrencyPolicy and the history
// limits sit in the pod template, where the API server drops them.
const zalandoManifest = `
apiVersion: batch/v1
kind: CronJob
metadata: { name: "foobar" }
spec:
  schedule: "*/15 9-19 * * Mon-Fri"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          concurrencyPolicy: Forbid
          successfulJobsHistoryLimit: 1
          failedJobsHistoryLimit: 1
          containers: [{ name: foobar, image: busybox, command: ["sleep", "3600"] }]
`

// zalandoFixed is the fixed manifest: policy and limits moved up, a
// deadline on each run.
const zalandoFixed = `
apiVersion: batch/v1
kind: CronJob
metadata: { name: "foobar-fixed" }
spec:
  schedule: "7 8-18 * * Mon-Fri"
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 1
  failedJobsHistoryLimit: 1
  jobTemplate:
    spec:
      activeDeadlineSeconds: 120
      template:
        spec:
          restartPolicy: Never
          containers: [{ name: foobar, image: busybox, command: ["sleep", "3600"] }]
`

func applyManifest(t *testing.T, cp *infra.ControlPlane, ns, manifest string) error {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(manifest), &obj); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	dc, err := dynamic.NewForConfig(cp.REST)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	gvr := schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}
	_, err = dc.Resource(gvr).Namespace(ns).Create(context.Background(), &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	return err
}

type auditFinding struct {
	RuleID    string `json:"rule_id"`
	Severity  string `json:"severity"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Message   string `json:"message"`
	Story     string `json:"story"`
}

func auditFindings(t *testing.T, opts *terraform.Options) []auditFinding {
	t.Helper()
	var out []auditFinding
	if err := json.Unmarshal([]byte(terraform.OutputJSONContext(t, t.Context(), opts, "findings")), &out); err != nil {
		t.Fatalf("findings output: %v", err)
	}
	return out
}

func requireFinding(t *testing.T, fs []auditFinding, id, kind, ns, name string) auditFinding {
	t.Helper()
	for _, f := range fs {
		if f.RuleID == id && f.Kind == kind && f.Namespace == ns && f.Name == name {
			return f
		}
	}
	t.Fatalf("the audit has no %s finding for %s %s/%s; it has:\n%+v", id, kind, ns, name, fs)
	return auditFinding{}
}

// The legacy objects predate the guardrails; the webhook is the Jetstack
// one, kept harmless (Ignore, and an object selector nothing carries) so
// the cluster keeps working while it exists.
func createLegacyObjects(t *testing.T, cs *infra.ControlPlane) {
	t.Helper()
	ctx := context.Background()
	hook := guardtest.JetstackWebhook()
	hook.Name = "legacy-opa"
	hook.Webhooks[0].FailurePolicy = ptr(admv1.Ignore)
	hook.Webhooks[0].ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"k8sguard-test": "never"}}
	cron := guardtest.ZalandoCronJob("legacy")
	cron.Finalizers = []string{legacyFinalizer} // the guardrails must never keep it from going
	for _, obj := range []any{hook, cron, guardtest.WeaveScopeService("legacy"), guardtest.SpreadlessDeployment("legacy")} {
		if err := create(ctx, cs.Clientset, obj); err != nil {
			t.Fatalf("create legacy %T: %v", obj, err)
		}
	}
}

// legacyFinalizer holds the legacy CronJob until the test removes it, as
// an operator's finalizer would.
const legacyFinalizer = "k8sguard.io/test-finalizer"

func ptr[T any](v T) *T { return &v }

// TestAdmissionGuardrailsIncidentsAndAudit installs the guardrails with
// terraform on a real control plane, then replays the stories with
// client-go, as kubectl or Helm would: the API server itself denies the
// Jetstack webhook, the Zalando CronJob and the Weave Scope load balancer,
// and admits Moonlight's spreadless Deployment with a Warning. Objects
// created before the guardrails show in the audit. Drift, import and
// destroy close the lifecycle.
func TestAdmissionGuardrailsIncidentsAndAudit(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	for _, ns := range []string{"team-a", "legacy"} {
		createNamespace(t, cs, ns, nil)
	}
	podQuota(t, cs, "team-a")
	createLegacyObjects(t, cp)

	opts := tf(t, cp, guardrailsFixture, nil)
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			terraform.DestroyContext(t, context.Background(), opts)
		}
	})
	out := terraform.InitAndApplyContext(t, t.Context(), opts)
	requireContains(t, out, "Check block assertion failed")
	requireContains(t, out, "[CRONJOB_UNBOUNDED_CONCURRENCY] CronJob legacy/foobar")

	t.Run("Audit finds what existed before the guardrails", func(t *testing.T) {
		fs := auditFindings(t, opts)
		requireFinding(t, fs, guard.RuleWebhookWildcard, "ValidatingWebhookConfiguration", "", "legacy-opa")
		requireFinding(t, fs, guard.RuleWebhookCriticalResource, "ValidatingWebhookConfiguration", "", "legacy-opa")
		requireFinding(t, fs, guard.RuleWebhookTimeout, "ValidatingWebhookConfiguration", "", "legacy-opa")
		cron := requireFinding(t, fs, guard.RuleCronJobUnbounded, "CronJob", "legacy", "foobar")
		if cron.Message != guard.MsgCronJobUnbounded || cron.Severity != "error" || cron.Story != "CronJob pod explosion (Zalando incident 2)" {
			t.Fatalf("CronJob finding = %+v", cron)
		}
		requireFinding(t, fs, guard.RuleServiceDashboardPublic, "Service", "legacy", "weave-scope-app")
		requireFinding(t, fs, guard.RuleWorkloadNoSpread, "Deployment", "legacy", "site")
		requireFinding(t, fs, guard.RuleQuotaMissingPods, "Namespace", "", "legacy")
		for _, f := range fs {
			if f.Namespace == "kube-system" || (f.Kind == "Namespace" && (f.Name == "team-a" || f.Name == "kube-system")) {
				t.Errorf("the audit judged a protected or quota'd namespace: %+v", f)
			}
		}
	})

	waitGuardrailsEnforced(t, cp)
	kubectl, warned := clientWithWarnings(t, cp)

	t.Run("Admission denies the Jetstack webhook", func(t *testing.T) {
		err := create(ctx, kubectl, guardtest.JetstackWebhook())
		if err == nil {
			t.Fatal("the API server admitted the Jetstack webhook")
		}
		t.Logf("API server: %v", err)
		for _, want := range []string{
			"ValidatingAdmissionPolicy 'k8sguard-webhooks-deny' with binding 'k8sguard-webhooks-deny' denied request:",
			`[WEBHOOK_WILDCARD_RULE] rule 0 matches every API group ("*")`,
			`[WEBHOOK_CRITICAL_RESOURCE] rule 0 intercepts leases.coordination.k8s.io (CREATE, UPDATE), events (CREATE, UPDATE), events.events.k8s.io (CREATE, UPDATE), tokenreviews.authentication.k8s.io (CREATE),`,
			`[WEBHOOK_FAIL_UNSCOPED] webhook "validating-webhook.openpolicyagent.org" has failure_policy "Fail" but no opt-in scope`,
			"Prevents: OPA webhook outage (Jetstack, GKE upgrade).",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("denial lacks %q", want)
			}
		}
	})

	t.Run("Admission denies the Zalando CronJob", func(t *testing.T) {
		err := applyManifest(t, cp, "team-a", zalandoManifest)
		if err == nil {
			t.Fatal("the API server admitted the Zalando CronJob")
		}
		t.Logf("API server: %v", err)
		want := guard.Diagnostic(guard.RuleCronJobUnbounded, guard.MsgCronJobUnbounded, "CronJob pod explosion (Zalando incident 2)")
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("denial lacks the plan's diagnostic %q", want)
		}
		if err := applyManifest(t, cp, "team-a", zalandoFixed); err != nil {
			t.Fatalf("the fixed CronJob was refused: %v", err)
		}
	})

	t.Run("Admission denies Weave Scope on a public load balancer", func(t *testing.T) {
		err := create(ctx, kubectl, guardtest.WeaveScopeService("team-a"))
		if err == nil {
			t.Fatal("the API server admitted the Weave Scope load balancer")
		}
		t.Logf("API server: %v", err)
		if !strings.Contains(err.Error(), "[SERVICE_DASHBOARD_EXPOSED] LoadBalancer Service exposes a dashboard (selector app=weave-scope) to anyone who can reach the load balancer") {
			t.Fatalf("unexpected denial: %v", err)
		}
		// Source ranges restrict only the load balancer: the fix closes
		// the node ports a LoadBalancer otherwise opens as well.
		restricted := guardtest.WeaveScopeService("team-a")
		restricted.Spec.LoadBalancerSourceRanges = []string{"10.20.0.0/16"}
		restricted.Spec.AllocateLoadBalancerNodePorts = ptr(false)
		if err := create(ctx, kubectl, restricted); err != nil {
			t.Fatalf("Weave Scope behind source ranges, without node ports, was refused: %v", err)
		}
	})

	t.Run("Admission warns about Moonlight's spreadless Deployment", func(t *testing.T) {
		warned.take()
		if err := create(ctx, kubectl, guardtest.SpreadlessDeployment("team-a")); err != nil {
			t.Fatalf("the spreadless Deployment was refused: %v", err)
		}
		got := warned.take()
		t.Logf("Warning headers: %q", got)
		want := "[WORKLOAD_NO_SPREAD] Deployment with 3 replicas has neither pod anti-affinity nor topologySpreadConstraints"
		if !slices.ContainsFunc(got, func(w string) bool { return strings.Contains(w, want) }) {
			t.Fatalf("no Warning header with %q in %q", want, got)
		}
	})

	t.Run("Admission refuses only the updates that break a rule, and never a finalizer's removal", func(t *testing.T) {
		// The legacy CronJob broke its rule before the guardrails: it can
		// still be changed (suspended, in the incident), as the API server
		// ratchets its own validation...
		cron, err := cs.BatchV1().CronJobs("legacy").Get(ctx, "foobar", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cron.Labels, cron.Spec.Suspend = map[string]string{"touched": "yes"}, ptr(true)
		if _, err := cs.BatchV1().CronJobs("legacy").Update(ctx, cron, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("suspending the unbounded CronJob made before the guardrails was refused: %v", err)
		}
		// ...while an update that breaks a rule the object kept is refused.
		bounded := guardtest.ZalandoCronJob("legacy")
		bounded.Name, bounded.Spec.ConcurrencyPolicy = "bounded", batchv1.ForbidConcurrent
		if err := create(ctx, cs, bounded); err != nil {
			t.Fatalf("create a bounded CronJob: %v", err)
		}
		unbound, err := cs.BatchV1().CronJobs("legacy").Get(ctx, "bounded", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		unbound.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
		if _, err := cs.BatchV1().CronJobs("legacy").Update(ctx, unbound, metav1.UpdateOptions{}); err == nil ||
			!strings.Contains(err.Error(), "[CRONJOB_UNBOUNDED_CONCURRENCY]") {
			t.Fatalf("an update that made a bounded CronJob unbounded was not denied: %v", err)
		}
		// Once the legacy CronJob is being deleted, its operator can always let it go.
		if err := cs.BatchV1().CronJobs("legacy").Delete(ctx, "foobar", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if cron, err = cs.BatchV1().CronJobs("legacy").Get(ctx, "foobar", metav1.GetOptions{}); err != nil || cron.DeletionTimestamp == nil {
			t.Fatalf("the CronJob is not held by its finalizer: %v %+v", err, cron)
		}
		cron.Finalizers = nil
		if _, err := cs.BatchV1().CronJobs("legacy").Update(ctx, cron, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("removing the finalizer of a CronJob being deleted was refused: %v", err)
		}
		eventually(t, "the CronJob is gone", 10*time.Second, func() error {
			_, err := cs.BatchV1().CronJobs("legacy").Get(ctx, "foobar", metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("get answered %v", err)
			}
			return nil
		})
	})

	t.Run("Guardrails drift is shown and repaired", func(t *testing.T) {
		if err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, "k8sguard-cronjobs-deny", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		plan := terraform.PlanContext(t, t.Context(), opts)
		requireContains(t, plan, "ValidatingAdmissionPolicyBinding k8sguard-cronjobs-deny (CRONJOB_UNBOUNDED_CONCURRENCY) is missing")
		terraform.ApplyContext(t, t.Context(), opts)
		if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, "k8sguard-cronjobs-deny", metav1.GetOptions{}); err != nil {
			t.Fatalf("apply did not restore the binding: %v", err)
		}
		// A rule moved to another action leaves its old policy: the rules
		// annotation (what import reads back) follows it.
		opts.Vars = map[string]any{"actions": map[string]string{guard.RuleWorkloadNoSpread: "deny"}}
		terraform.ApplyContext(t, t.Context(), opts)
		warn, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, "k8sguard-workloads-warn", metav1.GetOptions{})
		if err != nil || strings.Contains(warn.Annotations["k8sguard.io/rules"], guard.RuleWorkloadNoSpread) {
			t.Fatalf("after moving %s to deny, k8sguard-workloads-warn still lists it: %v %v", guard.RuleWorkloadNoSpread, err, warn.Annotations)
		}
		opts.Vars = nil // back to the defaults for the subtests below
		terraform.ApplyContext(t, t.Context(), opts)
	})

	t.Run("Guardrails import plans no changes", func(t *testing.T) {
		terraform.RunTerraformCommandContext(t, t.Context(), opts, terraform.FormatArgs(opts, "state", "rm", "k8sguard_admission_guardrails.this")...)
		terraformImport(t, opts, "k8sguard_admission_guardrails.this", "k8sguard")
		infra.ExpectNoChanges(t, opts, "after import")
	})

	t.Run("Guardrails destroy removes every policy and binding", func(t *testing.T) {
		if p, b := guardrailObjects(t, cs); p == 0 || p != b {
			t.Fatalf("before destroy: %d policies, %d bindings", p, b)
		}
		terraform.DestroyContext(t, t.Context(), opts)
		destroyed = true
		if p, b := guardrailObjects(t, cs); p != 0 || b != 0 {
			t.Fatalf("after destroy: %d policies, %d bindings left", p, b)
		}
		// And the API server admits again what the guardrails denied.
		eventually(t, "the Jetstack webhook is admitted without the guardrails", 30*time.Second, func() error {
			_, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, guardtest.JetstackWebhook(),
				metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		})
	})
}

// A policy of the set's name that k8sguard did not create is refused at
// create before anything is written: no guardrail of the set is left
// enforced outside the state, and once the conflict is gone the next apply
// creates the set.
func TestAdmissionGuardrailsCreateRefusesExistingObjectFirst(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	theirs := &admv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "k8sguard-services-deny"}, Spec: admv1.ValidatingAdmissionPolicySpec{
		Validations: []admv1.Validation{{Expression: "true"}},
		MatchConstraints: &admv1.MatchResources{ResourceRules: []admv1.NamedRuleWithOperations{{RuleWithOperations: admv1.RuleWithOperations{
			Operations: []admv1.OperationType{admv1.Create}, Rule: admv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"services"}},
		}}}},
	}}
	if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	opts := tf(t, cp, guardrailsFixture, nil)
	defer terraform.DestroyContext(t, context.Background(), opts)
	out, err := infra.InitAndApplyE(t, ctx, opts)
	if err == nil {
		t.Fatal("apply over an existing policy succeeded: k8sguard must not adopt it")
	}
	requireContains(t, out, "ValidatingAdmissionPolicy k8sguard-services-deny already exists: k8sguard does not adopt existing objects")
	if p, b := guardrailObjects(t, cs); p != 0 || b != 0 {
		t.Fatalf("after the refused create: %d policies and %d bindings of the set in the cluster, none in the state", p, b)
	}
	if err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, "k8sguard-services-deny", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	terraform.ApplyContext(t, ctx, opts)
	if p, b := guardrailObjects(t, cs); p == 0 || p != b {
		t.Fatalf("after the conflict was removed: %d policies, %d bindings", p, b)
	}
	infra.ExpectNoChanges(t, opts, "after create")
}

// TestAdmissionGuardrailsNeverBecomeTheOutage denies every rule, then
// plays kube-system's own traffic: node and leader-election lease
// renewals, events, the extension-apiserver-authentication ConfigMap
// update of the Jetstack story, and a second kube-apiserver starting on
// the same etcd (an upgrade's new instance, running its post-start
// hooks). None of it may be refused (latency: make bench).
func TestAdmissionGuardrailsNeverBecomeTheOutage(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	all := map[string]string{}
	for _, id := range guard.APIServerRules() {
		all[id] = "deny"
	}
	opts := tf(t, cp, guardrailsFixture, map[string]any{"actions": all})
	t.Cleanup(func() { terraform.DestroyContext(t, context.Background(), opts) })
	terraform.InitAndApplyContext(t, t.Context(), opts)
	waitGuardrailsEnforced(t, cp)

	t.Run("lease renewals", func(t *testing.T) {
		for _, ns := range []string{"kube-node-lease", "kube-system"} {
			holder := "node-1"
			lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "guardrails-" + ns, Namespace: ns}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}
			got, err := cs.CoordinationV1().Leases(ns).Create(ctx, lease, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create lease in %s: %v", ns, err)
			}
			for i := range 5 {
				now := metav1.NewMicroTime(time.Now())
				got.Spec.RenewTime = &now
				if got, err = cs.CoordinationV1().Leases(ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
					t.Fatalf("renewal %d in %s: %v", i, ns, err)
				}
			}
		}
	})
	t.Run("events", func(t *testing.T) {
		_, err := cs.CoreV1().Events("kube-system").Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: "guardrails-", Namespace: "kube-system"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "kube-system", Name: "kube-dns"}, Reason: "Test", Message: "kube-system traffic", Type: corev1.EventTypeNormal,
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("event in kube-system: %v", err)
		}
	})
	t.Run("the extension-apiserver-authentication update", func(t *testing.T) {
		// The harness's API server has no client CA, so its post-start hook
		// does not write this ConfigMap: create it as that hook would.
		if err := createConfigMap(cs, "kube-system", extAuthConfigMap, nil); err != nil {
			t.Fatalf("create kube-system/%s: %v", extAuthConfigMap, err)
		}
		if err := touchExtAuthConfigMap(cs); err != nil {
			t.Fatalf("update kube-system/%s: %v", extAuthConfigMap, err)
		}
	})
	t.Run("kube-system workloads are never judged", func(t *testing.T) {
		for _, obj := range []any{guardtest.ZalandoCronJob("kube-system"), guardtest.SpreadlessDeployment("kube-system"), guardtest.WeaveScopeService("kube-system")} {
			if err := create(ctx, cs, obj); err != nil {
				t.Fatalf("%T in kube-system: %v", obj, err)
			}
		}
	})
	t.Run("a new kube-apiserver starts on the same etcd", func(t *testing.T) {
		// StartControlPlane waits for /readyz, which fails while any
		// post-start hook has not finished (RBAC bootstrap, priority
		// classes, the API server's identity lease in kube-system).
		second := infra.StartControlPlane(t, infra.ControlPlaneOptions{Etcd: cp.Etcd, WithoutControllerManager: true})
		if err := touchExtAuthConfigMap(second.Clientset); err != nil {
			t.Fatalf("the new instance cannot update kube-system/%s: %v", extAuthConfigMap, err)
		}
	})
	t.Run("the API server's CEL checks accepted every expression", func(t *testing.T) {
		policies, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().List(ctx, metav1.ListOptions{LabelSelector: "k8sguard.io/guardrails=k8sguard"})
		if err != nil {
			t.Fatal(err)
		}
		if len(policies.Items) == 0 {
			t.Fatal("no policies")
		}
		for _, p := range policies.Items {
			if p.Status.ObservedGeneration != p.Generation {
				t.Errorf("policy %s: type checker saw generation %d of %d", p.Name, p.Status.ObservedGeneration, p.Generation)
			}
			if tc := p.Status.TypeChecking; tc != nil && len(tc.ExpressionWarnings) > 0 {
				t.Errorf("policy %s: type-checking warnings %+v", p.Name, tc.ExpressionWarnings)
			}
			for _, c := range p.Status.Conditions {
				t.Logf("policy %s condition %s=%s %s", p.Name, c.Type, c.Status, c.Message)
			}
		}
	})
}

// TestAdmissionGuardrailsDifferential sends every shape of the shared
// table to the API server with the guardrails installed, with client-go,
// and compares with guard: each shape guard refuses is denied with every
// rule ID guard names, each shape guard warns about is admitted with a
// Warning per rule, each shape guard accepts is admitted without one; and
// the API server's words are guard's diagnostic (the first finding of each
// rule, as the plan lists them), word for word.
func TestAdmissionGuardrailsDifferential(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	createNamespace(t, cs, guardtest.Namespace, nil)
	createNamespace(t, cs, guardtest.QuotaNamespace, nil)
	podQuota(t, cs, guardtest.QuotaNamespace)
	opts := tf(t, cp, guardrailsFixture, nil)
	t.Cleanup(func() { terraform.DestroyContext(t, context.Background(), opts) })
	terraform.InitAndApplyContext(t, t.Context(), opts)
	waitGuardrailsEnforced(t, cp)
	kubectl, warned := clientWithWarnings(t, cp)

	settings := guard.Settings{ProtectedNamespaces: []string{"kube-system", "kube-public", "kube-node-lease"}, MaxWebhookTimeoutSeconds: 5}
	disagreements, compared := 0, 0
	for _, s := range guardtest.Shapes() {
		findings, diags, err := liveCheck(s.Object, settings)
		if err != nil {
			t.Fatal(err)
		}
		var denies, warns []string
		for _, id := range findings {
			if r, _ := guard.Lookup(id); r.Severity == guard.Error {
				denies = append(denies, id)
			} else {
				warns = append(warns, id)
			}
		}
		warned.take()
		err = create(ctx, kubectl, s.Object)
		if err == nil {
			if rerr := removeWebhookConfiguration(ctx, cs, s.Object); rerr != nil {
				t.Fatalf("%s: remove: %v", s.Name, rerr)
			}
		}
		var deniedIDs, warnedIDs []string
		var denial string
		if err != nil {
			denial = err.Error()
			deniedIDs = ruleIDsIn(denial)
		}
		warnings := warned.take()
		for _, w := range warnings {
			warnedIDs = append(warnedIDs, ruleIDsIn(w)...)
		}
		// Every rule the API server names must say what the plan says.
		var reworded []string
		for _, id := range deniedIDs {
			if d, ok := diags[id]; ok && !strings.Contains(denial, d) {
				reworded = append(reworded, id)
			}
		}
		for _, id := range warnedIDs {
			if d, ok := diags[id]; ok && !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, d) }) {
				reworded = append(reworded, id)
			}
		}
		verdict := fmt.Sprintf("guard denies %v warns %v; API server denies %v warns %v", denies, warns, deniedIDs, warnedIDs)
		switch {
		case len(denies) > 0 && err == nil,
			len(denies) == 0 && err != nil,
			!slices.Equal(sorted(deniedIDs), sorted(denies)),
			err == nil && !slices.Equal(sorted(warnedIDs), sorted(warns)):
			disagreements++
			t.Errorf("%s: %s (error: %v)", s.Name, verdict, err)
		case len(reworded) > 0:
			disagreements++
			t.Errorf("%s: the API server's message for %v is not guard's diagnostic; guard says %q; API server: %v, warnings %q",
				s.Name, reworded, diags, err, warnings)
		default:
			t.Logf("%s: %s", s.Name, verdict)
		}
		compared += len(deniedIDs) + len(warnedIDs)
	}
	t.Logf("%d shapes, %d disagreements; %d rule messages compared word for word", len(guardtest.Shapes()), disagreements, compared)
}

// liveCheck is guard's verdict on a shape: the distinct rule IDs, in the
// order guard reports them, and each rule's diagnostic as the plan shows
// it (its first finding).
func liveCheck(obj any, s guard.Settings) ([]string, map[string]string, error) {
	fs, err := live.Check(obj, s)
	var ids []string
	diags := map[string]string{}
	for _, f := range fs {
		if !slices.Contains(ids, f.RuleID) {
			ids = append(ids, f.RuleID)
			diags[f.RuleID] = f.String()
		}
	}
	return ids, diags, err
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
