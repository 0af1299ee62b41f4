package kubernetes_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/test/infra"
)

// webhookObject reads either kind of configuration as kind-neutral parts.
type webhookObject struct {
	uid                 string
	labels, annotations map[string]string
	namespaceSelector   *metav1.LabelSelector
	timeoutSeconds      int32
	caBundle            string
}

func getWebhook(t *testing.T, cs kubernetes.Interface, kind, name string) (*webhookObject, error) {
	t.Helper()
	ctx := context.Background()
	if kind == "mutating" {
		o, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return &webhookObject{string(o.UID), o.Labels, o.Annotations, o.Webhooks[0].NamespaceSelector, *o.Webhooks[0].TimeoutSeconds, string(o.Webhooks[0].ClientConfig.CABundle)}, nil
	}
	o, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return &webhookObject{string(o.UID), o.Labels, o.Annotations, o.Webhooks[0].NamespaceSelector, *o.Webhooks[0].TimeoutSeconds, string(o.Webhooks[0].ClientConfig.CABundle)}, nil
}

// patchWebhook patches the kind ("mutating" or "validating") webhook
// configuration name as another actor would; what names the edit for the
// failure message. Both kinds share the JSON paths the tests patch.
func patchWebhook(t *testing.T, cs kubernetes.Interface, kind, name, what string, pt types.PatchType, patch string) {
	t.Helper()
	ctx := context.Background()
	var err error
	if kind == "mutating" {
		_, err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Patch(ctx, name, pt, []byte(patch), metav1.PatchOptions{})
	} else {
		_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Patch(ctx, name, pt, []byte(patch), metav1.PatchOptions{})
	}
	if err != nil {
		t.Fatalf("%s (%s webhook %s): %v", what, kind, name, err)
	}
}

// widenSelector is what `kubectl edit` to "make the hook apply everywhere"
// does: it drops the namespace selector.
func widenSelector(t *testing.T, cs kubernetes.Interface, kind, name string) {
	t.Helper()
	patchWebhook(t, cs, kind, name, "widen the selector by hand", types.JSONPatchType, `[{"op":"add","path":"/webhooks/0/namespaceSelector","value":{}}]`)
}

// markByOthers is what other actors do to a webhook configuration: cert-manager's
// annotation asks its cainjector to fill in the CA, a GitOps tool labels what
// it tracks.
func markByOthers(t *testing.T, cs kubernetes.Interface, kind, name string) {
	t.Helper()
	patchWebhook(t, cs, kind, name, "annotate and label by hand", types.MergePatchType,
		`{"metadata":{"annotations":{"cert-manager.io/inject-ca-from":"opa/opa-serving-cert"},"labels":{"argocd.argoproj.io/instance":"platform"}}}`)
}

// injectCA is what cert-manager's cainjector does: it writes the CA into
// every webhook's clientConfig.caBundle.
func injectCA(t *testing.T, cs kubernetes.Interface, kind, name, pem string) {
	t.Helper()
	patchWebhook(t, cs, kind, name, "inject a CA", types.JSONPatchType,
		fmt.Sprintf(`[{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":%q}]`, base64.StdEncoding.EncodeToString([]byte(pem))))
}

const excludedByDefault = "kube-system"

func requireScoped(t *testing.T, o *webhookObject, optIn string) {
	t.Helper()
	sel := o.namespaceSelector
	if sel == nil || sel.MatchLabels["k8sguard-test"] != optIn {
		t.Fatalf("namespace selector %v lacks the opt-in k8sguard-test=%s", sel, optIn)
	}
	last := sel.MatchExpressions[len(sel.MatchExpressions)-1]
	if last.Key != "kubernetes.io/metadata.name" || last.Operator != metav1.LabelSelectorOpNotIn || !slices.Contains(last.Values, excludedByDefault) {
		t.Fatalf("namespace selector %v does not exclude the protected namespaces", sel)
	}
}

// Create, plan-is-empty, update in place, drift correction, refusal to
// adopt, import and destroy, for both webhook kinds.
func TestWebhookLifecycle(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	backend := newAdmissionBackend(t) // never started: failure_policy is Ignore
	for _, kind := range []string{"validating", "mutating"} {
		t.Run(kind, func(t *testing.T) {
			cs := cp.Clientset
			name := "k8sguard-lifecycle-" + kind
			addr := fmt.Sprintf("k8sguard_%s_webhook.this[0]", kind)
			opts := tf(t, cp, "test/kubernetes/testdata/webhook", map[string]any{
				"kind": kind, "name": name, "url": backend.URL, "ca_bundle": backend.CAPEM,
			})
			defer terraform.DestroyContext(t, context.Background(), opts)

			terraform.InitAndApplyContext(t, context.Background(), opts)
			created, err := getWebhook(t, cs, kind, name)
			if err != nil {
				t.Fatalf("after apply: %v", err)
			}
			requireScoped(t, created, "enabled")
			if created.labels["app.kubernetes.io/managed-by"] != "k8sguard" {
				t.Fatalf("labels %v: not marked as managed by k8sguard", created.labels)
			}
			eff := terraform.OutputContext(t, context.Background(), opts, "effective_namespace_selector")
			if eff != "k8sguard-test=enabled,kubernetes.io/metadata.name notin (kube-node-lease,kube-public,kube-system)" {
				t.Fatalf("effective_namespace_selector = %q", eff)
			}
			t.Logf("created %s, effective namespace selector %q", name, eff)
			infra.ExpectNoChanges(t, opts, "after create")

			// Metadata other actors set is not k8sguard's: no diff, and an
			// update keeps it.
			markByOthers(t, cs, kind, name)
			infra.ExpectNoChanges(t, opts, "after another actor's annotation and label")
			opts.Vars["timeout_seconds"] = 2
			opts.Vars["opt_in_value"] = "yes"
			terraform.ApplyContext(t, context.Background(), opts)
			updated, _ := getWebhook(t, cs, kind, name)
			if updated.uid != created.uid || updated.timeoutSeconds != 2 {
				t.Fatalf("update: uid %s→%s, timeout %d: want the same object with timeout 2", created.uid, updated.uid, updated.timeoutSeconds)
			}
			if updated.annotations["cert-manager.io/inject-ca-from"] != "opa/opa-serving-cert" || updated.labels["argocd.argoproj.io/instance"] != "platform" ||
				updated.labels["app.kubernetes.io/managed-by"] != "k8sguard" {
				t.Fatalf("update: annotations %v, labels %v: want the other actors' annotation and label kept beside k8sguard's", updated.annotations, updated.labels)
			}
			requireScoped(t, updated, "yes")
			infra.ExpectNoChanges(t, opts, "after update")

			widenSelector(t, cs, kind, name)
			out := terraform.PlanContext(t, context.Background(), opts)
			requireContains(t, out, "namespace_selector")
			requireContains(t, out, "1 to change")
			t.Logf("selector widened by hand: terraform plan shows the drift (1 to change)")
			terraform.ApplyContext(t, context.Background(), opts)
			narrowed, _ := getWebhook(t, cs, kind, name)
			requireScoped(t, narrowed, "yes")
			t.Logf("apply narrowed it again: %v", narrowed.namespaceSelector)
			infra.ExpectNoChanges(t, opts, "after drift correction")

			// Forget the object, then try to create it again: k8sguard
			// refuses to adopt it and points to import.
			terraform.RunTerraformCommandContext(t, context.Background(), opts, "state", "rm", addr)
			out, err = infra.ApplyE(t, context.Background(), opts)
			if err == nil {
				t.Fatal("apply over an existing object succeeded: k8sguard must not adopt it")
			}
			requireContains(t, out, "already exists and k8sguard did not create it")
			requireContains(t, out, "terraform import <resource address> "+name)
			terraformImport(t, opts, addr, name)
			infra.ExpectNoChanges(t, opts, "after import")

			terraform.DestroyContext(t, context.Background(), opts)
			if _, err := getWebhook(t, cs, kind, name); !apierrors.IsNotFound(err) {
				t.Fatalf("after destroy: %v, want NotFound", err)
			}
		})
	}
}

// A webhook whose configuration draws a warning (WEBHOOK_NO_CA: a URL
// backend without ca_bundle) plans no changes after import: the imported
// state lists the same findings the plan does.
func TestWebhookImportKeepsFindings(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	backend := newAdmissionBackend(t) // never started: failure_policy is Ignore
	for _, kind := range []string{"validating", "mutating"} {
		t.Run(kind, func(t *testing.T) {
			name := "k8sguard-import-" + kind
			addr := fmt.Sprintf("k8sguard_%s_webhook.this[0]", kind)
			opts := tf(t, cp, "test/kubernetes/testdata/webhook", map[string]any{"kind": kind, "name": name, "url": backend.URL, "ca_bundle": ""})
			defer terraform.DestroyContext(t, context.Background(), opts)
			out := terraform.InitAndApplyContext(t, context.Background(), opts)
			requireContains(t, out, "Warning: [WEBHOOK_NO_CA]")
			terraform.RunTerraformCommandContext(t, context.Background(), opts, "state", "rm", addr)
			terraformImport(t, opts, addr, name)
			infra.ExpectNoChanges(t, opts, "after import")
		})
	}
}

// cert-manager's cainjector fills in the caBundle of a webhook whose
// configuration leaves ca_bundle unset: that is no diff, and an apply keeps
// it (removing it would make the API server distrust the backend). A
// ca_bundle the configuration sets is restored when changed outside
// Terraform.
func TestWebhookLeavesInjectedCABundle(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	backend := newAdmissionBackend(t) // never started: failure_policy is Ignore
	for _, kind := range []string{"validating", "mutating"} {
		t.Run(kind, func(t *testing.T) {
			name := "k8sguard-cainjector-" + kind
			opts := tf(t, cp, "test/kubernetes/testdata/webhook", map[string]any{"kind": kind, "name": name, "url": backend.URL, "ca_bundle": ""})
			defer terraform.DestroyContext(t, context.Background(), opts)
			terraform.InitAndApplyContext(t, context.Background(), opts)

			injectCA(t, cs, kind, name, backend.CAPEM)
			infra.ExpectNoChanges(t, opts, "after the cainjector filled in the CA")
			opts.Vars["timeout_seconds"] = 2
			terraform.ApplyContext(t, context.Background(), opts)
			if o, _ := getWebhook(t, cs, kind, name); o.timeoutSeconds != 2 || o.caBundle != backend.CAPEM {
				t.Fatalf("update: timeout %d, caBundle %q: want timeout 2 and the injected CA kept", o.timeoutSeconds, o.caBundle)
			}
			infra.ExpectNoChanges(t, opts, "after update")

			opts.Vars["ca_bundle"] = backend.CAPEM
			terraform.ApplyContext(t, context.Background(), opts)
			injectCA(t, cs, kind, name, "someone else's CA")
			out := terraform.PlanContext(t, context.Background(), opts)
			requireContains(t, out, "~ ca_bundle")
			requireContains(t, out, "- someone else's CA")
			terraform.ApplyContext(t, context.Background(), opts)
			if o, _ := getWebhook(t, cs, kind, name); o.caBundle != backend.CAPEM {
				t.Fatalf("a configured ca_bundle changed by hand was not restored: %q", o.caBundle)
			}
		})
	}
}

// WEBHOOK_NO_CA warns of a url webhook without ca_bundle, and cannot be
// waived; once the configuration carries cert-manager's annotation (here
// set by hand, as a team adopting cert-manager does), ca_bundle is left to
// the cainjector and the warning, noise from then on, goes: from the plan
// and from the findings kept in state.
func TestWebhookNoCAWarningLeftToCAInjector(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	backend := newAdmissionBackend(t) // never started: failure_policy is Ignore
	for _, kind := range []string{"validating", "mutating"} {
		t.Run(kind, func(t *testing.T) {
			name := "k8sguard-no-ca-" + kind
			opts := tf(t, cp, "test/kubernetes/testdata/webhook", map[string]any{"kind": kind, "name": name, "url": backend.URL, "ca_bundle": ""})
			defer terraform.DestroyContext(t, context.Background(), opts)
			out := terraform.InitAndApplyContext(t, context.Background(), opts)
			requireContains(t, out, "Warning: [WEBHOOK_NO_CA]")

			markByOthers(t, cs, kind, name)
			out = terraform.PlanContext(t, context.Background(), opts)
			if strings.Contains(out, "Warning: [WEBHOOK_NO_CA]") {
				t.Fatalf("the plan still warns of WEBHOOK_NO_CA for a configuration whose CA cert-manager injects:\n%s", out)
			}
			requireContains(t, out, `- "[WEBHOOK_NO_CA]`) // dropped from the findings in state
			out = terraform.ApplyContext(t, context.Background(), opts)
			if strings.Contains(out, "Warning: [WEBHOOK_NO_CA]") {
				t.Fatalf("the apply still warns of WEBHOOK_NO_CA:\n%s", out)
			}
			infra.ExpectNoChanges(t, opts, "after the findings dropped WEBHOOK_NO_CA")
			if o, _ := getWebhook(t, cs, kind, name); o == nil {
				t.Fatal("the configuration is gone")
			}
		})
	}
}

// WEBHOOK_BACKEND_NOT_READY: a Fail hook whose service is missing or has no
// ready endpoints is not registered; EndpointSlices are written through the
// API (the harness has no kubelet or endpoint controller).
func TestWebhookWaitsForReadyBackend(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	ctx := context.Background()
	createNamespace(t, cs, "opa", nil)
	opts := tf(t, cp, "test/kubernetes/testdata/webhook_service", nil)
	defer terraform.DestroyContext(t, context.Background(), opts)

	out, err := infra.InitAndApplyE(t, context.Background(), opts)
	if err == nil {
		t.Fatal("apply without the opa service succeeded")
	}
	requireContains(t, out, `[WEBHOOK_BACKEND_NOT_READY] webhook "validating-webhook.openpolicyagent.org": service opa/opa does not exist`)
	requireContains(t, out, "kubectl -n opa get service opa")
	t.Logf("no service: apply refused with WEBHOOK_BACKEND_NOT_READY (service opa/opa does not exist)")

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "opa", Namespace: "opa"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}
	if _, err := cs.CoreV1().Services("opa").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	notReady := false
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "opa-1", Namespace: "opa", Labels: map[string]string{discoveryv1.LabelServiceName: "opa"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.64.0.10"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}}},
	}
	if slice, err = cs.DiscoveryV1().EndpointSlices("opa").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err = infra.ApplyE(t, context.Background(), opts)
	if err == nil {
		t.Fatal("apply with no ready endpoint succeeded")
	}
	requireContains(t, out, "service opa/opa has no ready endpoints (0 of 1 ready in 1 EndpointSlices)")
	requireContains(t, out, "kubectl -n opa get endpointslices -l kubernetes.io/service-name=opa")
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "opa-validating-webhook", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the hook was registered although its backend is not ready: %v", err)
	}
	t.Logf("endpoint not ready: apply refused with WEBHOOK_BACKEND_NOT_READY (0 of 1 ready), nothing registered")

	ready := true
	slice.Endpoints[0].Conditions.Ready = &ready
	if _, err := cs.DiscoveryV1().EndpointSlices("opa").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	terraform.ApplyContext(t, context.Background(), opts)
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "opa-validating-webhook", metav1.GetOptions{}); err != nil {
		t.Fatalf("after the endpoint became ready: %v", err)
	}
	t.Logf("endpoint ready: the hook is registered")
	infra.ExpectNoChanges(t, opts, "after apply")
}

// The examples in the docs apply as written.
func TestWebhookExamplesApply(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	ctx := context.Background()
	// OPA's example registers a Fail hook only once its service is ready.
	createNamespace(t, cs, "opa", nil)
	if _, err := cs.CoreV1().Services("opa").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "opa", Namespace: "opa"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("opa").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "opa-1", Namespace: "opa", Labels: map[string]string{discoveryv1.LabelServiceName: "opa"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.64.0.10"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	backend := newAdmissionBackend(t)
	for _, ex := range []struct{ dir, caVar, object string }{
		{"examples/resources/k8sguard_validating_webhook", "opa_ca_bundle", "opa-validating-webhook"},
		{"examples/resources/k8sguard_mutating_webhook", "injector_ca_bundle", "sidecar-injector"},
	} {
		t.Run(ex.dir, func(t *testing.T) {
			opts := tf(t, cp, ex.dir, map[string]any{ex.caVar: backend.CAPEM})
			defer terraform.DestroyContext(t, context.Background(), opts)
			terraform.InitAndApplyContext(t, context.Background(), opts)
			infra.ExpectNoChanges(t, opts, "after apply")
			_, err1 := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, ex.object, metav1.GetOptions{})
			_, err2 := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, ex.object, metav1.GetOptions{})
			if err1 != nil && err2 != nil {
				t.Fatalf("%s was not created: %v; %v", ex.object, err1, err2)
			}
		})
	}
}
