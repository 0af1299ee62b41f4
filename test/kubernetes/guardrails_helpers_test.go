package kubernetes_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/k8sguard/k8sguard/provider/guard/guardtest"
	"github.com/k8sguard/k8sguard/test/infra"
)

const guardrailsFixture = "test/kubernetes/testdata/guardrails"

// warnings collects the Warning headers the API server sends, as kubectl
// prints them: a client-go WarningHandler.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeader(code int, _ string, text string) {
	if code != 299 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

// take returns the warnings since the last take.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}

// clientWithWarnings is a clientset like kubectl's, whose warnings the
// test reads.
func clientWithWarnings(t *testing.T, cp *infra.ControlPlane) (kubernetes.Interface, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(cp.REST)
	cfg.WarningHandler = w
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs, w
}

// create sends one typed object, as kubectl create or Helm would.
func create(ctx context.Context, cs kubernetes.Interface, obj any) error {
	var err error
	opts := metav1.CreateOptions{}
	switch o := obj.(type) {
	case *admv1.ValidatingWebhookConfiguration:
		_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, o.DeepCopy(), opts)
	case *admv1.MutatingWebhookConfiguration:
		_, err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, o.DeepCopy(), opts)
	case *batchv1.CronJob:
		_, err = cs.BatchV1().CronJobs(o.Namespace).Create(ctx, o.DeepCopy(), opts)
	case *corev1.Service:
		_, err = cs.CoreV1().Services(o.Namespace).Create(ctx, o.DeepCopy(), opts)
	case *appsv1.Deployment:
		_, err = cs.AppsV1().Deployments(o.Namespace).Create(ctx, o.DeepCopy(), opts)
	case *appsv1.StatefulSet:
		_, err = cs.AppsV1().StatefulSets(o.Namespace).Create(ctx, o.DeepCopy(), opts)
	default:
		return fmt.Errorf("create: unexpected %T", obj)
	}
	return err
}

// removeWebhookConfiguration deletes an admitted webhook configuration at
// once: its backend does not exist, and it must not judge later requests.
func removeWebhookConfiguration(ctx context.Context, cs kubernetes.Interface, obj any) error {
	switch o := obj.(type) {
	case *admv1.ValidatingWebhookConfiguration:
		return cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, o.Name, metav1.DeleteOptions{})
	case *admv1.MutatingWebhookConfiguration:
		return cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, o.Name, metav1.DeleteOptions{})
	}
	return nil
}

// ruleIDsIn lists the "[RULE_ID]" markers of a message, in order.
func ruleIDsIn(msg string) []string {
	var out []string
	for _, part := range strings.Split(msg, "[")[1:] {
		id, _, ok := strings.Cut(part, "]")
		if ok && id != "" && strings.ToUpper(id) == id && !strings.ContainsAny(id, " ,") {
			out = append(out, id)
		}
	}
	return out
}

// waitGuardrailsEnforced polls, with dry runs in the default namespace,
// until every policy denies or warns as it should: the API server loads
// policies and bindings asynchronously, each on its own.
func waitGuardrailsEnforced(t *testing.T, cp *infra.ControlPlane) {
	t.Helper()
	cs, warned := clientWithWarnings(t, cp)
	ctx := context.Background()
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	hook := guardtest.JetstackWebhook()
	hook.Name = "guardrails-probe"
	denies := map[string]func() error{
		"[WEBHOOK_WILDCARD_RULE]": func() error {
			_, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, hook, dry)
			return err
		},
		"[CRONJOB_UNBOUNDED_CONCURRENCY]": func() error {
			_, err := cs.BatchV1().CronJobs("default").Create(ctx, guardtest.ZalandoCronJob("default"), dry)
			return err
		},
		"[SERVICE_DASHBOARD_EXPOSED]": func() error {
			_, err := cs.CoreV1().Services("default").Create(ctx, guardtest.WeaveScopeService("default"), dry)
			return err
		},
	}
	for want, probe := range denies {
		eventually(t, "the guardrails deny with "+want, 30*time.Second, func() error {
			if err := probe(); err == nil || !strings.Contains(err.Error(), want) {
				return fmt.Errorf("dry run answered %v", err)
			}
			return nil
		})
	}
	eventually(t, "the guardrails warn with [WORKLOAD_NO_SPREAD]", 30*time.Second, func() error {
		warned.take()
		_, err := cs.AppsV1().Deployments("default").Create(ctx, guardtest.SpreadlessDeployment("default"), dry)
		w := warned.take()
		if err == nil && len(w) > 0 && strings.Contains(strings.Join(w, " "), "[WORKLOAD_NO_SPREAD]") {
			return nil
		}
		if err != nil && strings.Contains(err.Error(), "[WORKLOAD_NO_SPREAD]") {
			return nil // a configuration that denies it
		}
		return fmt.Errorf("dry run answered %v with warnings %q", err, w)
	})
}

// podQuota caps a namespace's pods, as k8sguard_pod_quota does.
func podQuota(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	_, err := cs.CoreV1().ResourceQuotas(ns).Create(context.Background(), &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: ns},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("quota in %s: %v", ns, err)
	}
}

// guardrailObjects counts the set's policies and bindings.
func guardrailObjects(t *testing.T, cs kubernetes.Interface) (policies, bindings int) {
	t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=k8sguard,k8sguard.io/guardrails"}
	p, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().List(ctx, sel)
	if err != nil {
		t.Fatalf("list policies: %v", err)
	}
	b, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().List(ctx, sel)
	if err != nil {
		t.Fatalf("list bindings: %v", err)
	}
	return len(p.Items), len(b.Items)
}
