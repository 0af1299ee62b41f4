package kubernetes_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/test/infra"
)

// The ConfigMap the new API server's post-start hook failed to update in
// the Jetstack outage; every kube-apiserver writes it at start.
const extAuthConfigMap = "extension-apiserver-authentication"

// touchExtAuthConfigMap updates kube-system/extension-apiserver-authentication
// as the API server's post-start hook does.
func touchExtAuthConfigMap(cs kubernetes.Interface) error {
	ctx := context.Background()
	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, extAuthConfigMap, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations["k8sguard.io/touched"] = time.Now().Format(time.RFC3339Nano)
	_, err = cs.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{})
	return err
}

// createLease writes a node heartbeat Lease, as every kubelet does every
// few seconds.
func createLease(cs kubernetes.Interface, name string) error {
	holder := name
	_, err := cs.CoordinationV1().Leases("kube-node-lease").Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-node-lease"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
	}, metav1.CreateOptions{})
	return err
}

func createConfigMap(cs kubernetes.Interface, ns, name string, labels map[string]string) error {
	_, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
	}, metav1.CreateOptions{})
	return err
}

// rejectedByDeadWebhook tells a write the webhook's dead backend failed
// from any other error.
func rejectedByDeadWebhook(err error) bool {
	return err != nil && strings.Contains(err.Error(), `failed calling webhook "validating-webhook.openpolicyagent.org"`)
}

func mustSucceed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("  ok      %s", what)
}

func mustBeRejectedByDeadWebhook(t *testing.T, what string, err error) {
	t.Helper()
	if !rejectedByDeadWebhook(err) {
		t.Fatalf("%s: got %v, want a rejection by the webhook whose backend is down", what, err)
	}
	t.Logf("  REFUSED %s: %v", what, err)
}

// The Jetstack/GKE outage: an OPA validating webhook that matched
// everything, failurePolicy Fail, backend down. First reproduced with plain
// client-go (control-plane writes fail), then the same intent through
// k8sguard_validating_webhook: the wildcard shape is refused at plan, the
// scoped hook leaves the control plane writable with the backend down, and
// still enforces the policy in the opted-in namespace once the backend is up.
func TestWebhookOutageReproducedAndPrevented(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	ctx := context.Background()
	opa := newAdmissionBackend(t) // down until Start
	t.Logf("OPA backend %s is down (nothing listens on the port)", opa.URL)

	// The harness's API server has no client CA, so its post-start hook
	// does not write this ConfigMap: create it as that hook would.
	if err := createConfigMap(cs, "kube-system", extAuthConfigMap, nil); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create kube-system/%s: %v", extAuthConfigMap, err)
	}

	t.Log("== 1. Reproduced: the unscoped webhook, registered with plain client-go ==")
	fail, none, everything := admissionv1.Fail, admissionv1.SideEffectClassNone, admissionv1.AllScopes
	timeout := int32(3)
	unscoped := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "opa-unscoped"},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name:         "validating-webhook.openpolicyagent.org",
			ClientConfig: admissionv1.WebhookClientConfig{URL: &opa.URL, CABundle: []byte(opa.CAPEM)},
			Rules: []admissionv1.RuleWithOperations{{
				Operations: []admissionv1.OperationType{admissionv1.OperationAll},
				Rule:       admissionv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Scope: &everything},
			}},
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, unscoped, metav1.CreateOptions{}); err != nil {
		t.Fatalf("register the unscoped webhook: %v", err)
	}
	t.Log("registered opa-unscoped: rules */*/*/* scope *, failurePolicy Fail, no namespace selector")
	eventually(t, "the unscoped webhook takes effect", 20*time.Second, func() error {
		if err := touchExtAuthConfigMap(cs); !rejectedByDeadWebhook(err) {
			return fmt.Errorf("update of kube-system/%s returned %v", extAuthConfigMap, err)
		}
		return nil
	})
	mustBeRejectedByDeadWebhook(t, "update kube-system/"+extAuthConfigMap+" (the API server's post-start hook)", touchExtAuthConfigMap(cs))
	mustBeRejectedByDeadWebhook(t, "create Lease kube-node-lease/node-1 (a kubelet heartbeat)", createLease(cs, "node-1"))

	if err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "opa-unscoped", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the unscoped webhook (webhook configurations are never intercepted): %v", err)
	}
	eventually(t, "writes recover once the unscoped webhook is deleted", 20*time.Second, func() error { return touchExtAuthConfigMap(cs) })
	t.Log("deleted opa-unscoped (the incident's fix): kube-system is writable again")

	t.Log("== 2. Refused: the same wildcard shape through k8sguard_validating_webhook ==")
	wildcard := tf(t, cp, "test/kubernetes/testdata/outage", map[string]any{
		"url": opa.URL, "ca_bundle": opa.CAPEM, "api_groups": []string{"*"}, "resources": []string{"*"},
	})
	out, err := infra.InitAndPlanE(t, context.Background(), wildcard)
	if err == nil {
		t.Fatal("terraform plan accepted the wildcard webhook")
	}
	for _, want := range []string{
		`[WEBHOOK_WILDCARD_RULE] rule 0 matches every API group ("*")`,
		`[WEBHOOK_WILDCARD_RULE] rule 0 matches every resource ("*")`,
		`[WEBHOOK_CRITICAL_RESOURCE] rule 0 intercepts leases.coordination.k8s.io (CREATE, UPDATE), events (CREATE, UPDATE), events.events.k8s.io (CREATE, UPDATE)`,
	} {
		requireContains(t, out, want)
		t.Logf("  terraform plan: Error: %s ...", want)
	}

	t.Log("== 3. Prevented: the scoped hook through k8sguard_validating_webhook, backend still down ==")
	createNamespace(t, cs, "team-a", map[string]string{"opa-policy": "enabled"})
	createNamespace(t, cs, "team-b", nil)
	// Even a kube-system that carries the opt-in label stays out of reach.
	kubeSystem, err := cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubeSystem.Labels["opa-policy"] = "enabled"
	if _, err := cs.CoreV1().Namespaces().Update(ctx, kubeSystem, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Log("namespaces: team-a opa-policy=enabled, team-b unlabelled, kube-system also (mis)labelled opa-policy=enabled")

	scoped := tf(t, cp, "test/kubernetes/testdata/outage", map[string]any{"url": opa.URL, "ca_bundle": opa.CAPEM})
	defer terraform.DestroyContext(t, context.Background(), scoped)
	terraform.InitAndApplyContext(t, context.Background(), scoped)
	applied, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "opa-validating-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("terraform apply registered opa-validating-webhook: configmaps CREATE/UPDATE, Fail, namespaceSelector %q",
		metav1.FormatLabelSelector(applied.Webhooks[0].NamespaceSelector))
	// The hook is live once a write in the opted-in namespace fails closed.
	eventually(t, "the scoped webhook takes effect", 20*time.Second, func() error {
		if err := createConfigMap(cs, "team-a", "probe", nil); !rejectedByDeadWebhook(err) {
			return fmt.Errorf("create team-a/probe returned %v", err)
		}
		return nil
	})
	mustBeRejectedByDeadWebhook(t, "create ConfigMap team-a/settings (opted in: fails closed while OPA is down)", createConfigMap(cs, "team-a", "settings", nil))
	mustSucceed(t, "update kube-system/"+extAuthConfigMap+" (the API server's post-start hook)", touchExtAuthConfigMap(cs))
	mustSucceed(t, "create Lease kube-node-lease/node-2 (a kubelet heartbeat)", createLease(cs, "node-2"))
	mustSucceed(t, "create ConfigMap team-b/settings (not opted in)", createConfigMap(cs, "team-b", "settings", nil))

	t.Log("== 4. Still protected: OPA comes up ==")
	opa.Start(t)
	eventually(t, "team-a writes pass once OPA answers", 20*time.Second, func() error {
		return createConfigMap(cs, "team-a", "settings", nil)
	})
	t.Log("  ok      create ConfigMap team-a/settings (OPA allows it)")
	err = createConfigMap(cs, "team-a", "forbidden", map[string]string{denyLabel: "deny"})
	if err == nil || !strings.Contains(err.Error(), "test policy: team-a/forbidden carries opa-test=deny") {
		t.Fatalf("create team-a/forbidden: got %v, want OPA's denial", err)
	}
	t.Logf("  DENIED  create ConfigMap team-a/forbidden by OPA's policy: %v", err)
	mustSucceed(t, "update kube-system/"+extAuthConfigMap, touchExtAuthConfigMap(cs))
	reviewed := opa.Reviewed()
	for _, r := range reviewed {
		if !strings.HasPrefix(r, "team-a/") {
			t.Fatalf("OPA was asked about %s: only team-a is opted in (reviewed: %v)", r, reviewed)
		}
	}
	if len(reviewed) == 0 {
		t.Fatal("OPA reviewed nothing")
	}
	t.Logf("OPA reviewed only team-a objects: %v", reviewed)
}
