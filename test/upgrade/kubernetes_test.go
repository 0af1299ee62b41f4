package upgrade_test

import (
	"context"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/test/infra"
)

// The Kubernetes resources of 0.1.0 (both webhook kinds, pod quotas) on
// the harness's control plane.
func TestUpgradeFrom010_Kubernetes(t *testing.T) {
	release010(t) // first: without the release nothing is started, or left to tear down
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	for _, ns := range []string{"opa", "sidecar-injector", "team-a", "team-b", "team-c"} {
		createNamespace(t, cp, ns)
	}
	// OPA's hook fails closed: both releases register it only when its
	// service has a ready endpoint (written through the API; the harness
	// runs no endpoint controller).
	if _, err := cs.CoreV1().Services("opa").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "opa", Namespace: "opa"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := true
	if _, err := cs.DiscoveryV1().EndpointSlices("opa").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "opa-1", Namespace: "opa", Labels: map[string]string{discoveryv1.LabelServiceName: "opa"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.64.0.10"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	opts := infra.Terraform(t, "test/upgrade/testdata/kubernetes", map[string]any{
		"ca_bundle": selfSignedCA(t), "url": "https://127.0.0.1:9443/validate",
	})
	opts.EnvVars["KUBECONFIG"] = cp.Kubeconfig
	defer terraform.DestroyContext(t, context.Background(), opts)
	out := applyOldPlanNew(t, opts, nil)
	t.Logf("plan with the current provider over 0.1.0's state:\n%s", out)
}

func createNamespace(t *testing.T, cp *infra.ControlPlane, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cp.Clientset.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// A webhook without ca_bundle whose CA an injector filled in: 0.1.0 read
// the injected CA into the state, so the first plan after the upgrade
// takes it out of the state (the upgrade guide says so). Applying that
// plan must keep the live CA, and the next plan must be empty.
func TestUpgradeFrom010_InjectedCABundle(t *testing.T) {
	release010(t) // first: without the release nothing is started, or left to tear down
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	ctx := context.Background()
	opts := infra.Terraform(t, "test/upgrade/testdata/cainjector", map[string]any{"url": "https://127.0.0.1:9443/validate"})
	opts.EnvVars["KUBECONFIG"] = cp.Kubeconfig
	defer terraform.DestroyContext(t, context.Background(), opts)
	applyWith010(t, opts)

	const name = "k8sguard-upgrade-injected-ca"
	ca := selfSignedCA(t)
	api := cp.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	live, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	live.Webhooks[0].ClientConfig.CABundle = []byte(ca)
	if _, err := api.Update(ctx, live, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("inject the CA: %v", err)
	}
	// 0.1.0 refreshes the injected CA into the state.
	terraform.RunTerraformCommandContext(t, ctx, opts, terraform.FormatArgs(opts, "apply", "-refresh-only", "-auto-approve", "-input=false")...)

	planWithCurrent(t, opts, map[string][]string{"k8sguard_validating_webhook.injected": {"webhook"}})
	terraform.ApplyContext(t, ctx, opts)
	live, err = api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(live.Webhooks[0].ClientConfig.CABundle); got != ca {
		t.Fatalf("the first apply after the upgrade changed the injected CA to %q", got)
	}
	infra.ExpectNoChanges(t, opts, "after the first apply with the current provider")
}
