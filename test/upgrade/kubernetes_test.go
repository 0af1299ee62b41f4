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
