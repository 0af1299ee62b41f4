package kubernetes_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/provider/guard"
	guardcel "github.com/k8sguard/k8sguard/provider/guard/cel"
	"github.com/k8sguard/k8sguard/provider/guard/guardtest"
	"github.com/k8sguard/k8sguard/provider/guard/live"
	"github.com/k8sguard/k8sguard/test/infra"
)

// gapSettings are the settings the guardrails of these tests render with.
var gapSettings = guard.Settings{ProtectedNamespaces: []string{"kube-system", "kube-public", "kube-node-lease"}, MaxWebhookTimeoutSeconds: 5}

// installPolicies creates the generated policies and bindings with
// client-go, as k8sguard_admission_guardrails writes them (without
// terraform: these tests are about what the API server does with them),
// and waits until they are enforced.
func installPolicies(t *testing.T, cp *infra.ControlPlane, actions map[string]guardcel.Action) {
	t.Helper()
	ctx := context.Background()
	api := cp.Clientset.AdmissionregistrationV1()
	for _, p := range guardcel.Policies(guardcel.Options{Name: "k8sguard", Actions: actions, ProtectedNamespaces: gapSettings.ProtectedNamespaces, Settings: gapSettings}) {
		if _, err := api.ValidatingAdmissionPolicies().Create(ctx, p.Policy, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create policy %s: %v", p.Name, err)
		}
		if _, err := api.ValidatingAdmissionPolicyBindings().Create(ctx, p.Binding, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create binding %s: %v", p.Name, err)
		}
	}
	waitGuardrailsEnforced(t, cp)
}

// requireDenial fails unless err is the API server's denial by policy with
// exactly message.
func requireDenial(t *testing.T, what string, err error, policy, message string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: the API server admitted it; want the denial %q", what, message)
	}
	want := fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", policy, policy, message)
	if !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("%s: the API server answered\n  %v\nwant it to end with\n  %s", what, err, want)
	}
}

// weaveScopeBehindRanges is the Weave Scope Service of the story with
// loadBalancerSourceRanges for an admin network.
func weaveScopeBehindRanges(namespace, name string) *corev1.Service {
	s := guardtest.WeaveScopeService(namespace)
	s.Name, s.Spec.LoadBalancerSourceRanges = name, []string{"10.0.0.0/8"}
	return s
}

// TestAdmissionGuardrailsDashboardOnLoadBalancerNodePorts: a LoadBalancer
// Service restricted by loadBalancerSourceRanges still gets node ports
// (the API server allocates them unless allocateLoadBalancerNodePorts is
// false), and the source ranges do not restrict those: Weave Scope is
// then open on every node's address, as on a NodePort Service. The
// guardrails and the audit admitted it.
func TestAdmissionGuardrailsDashboardOnLoadBalancerNodePorts(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	ctx := context.Background()
	createNamespace(t, cs, "legacy", nil)
	createNamespace(t, cs, guardtest.Namespace, nil)

	// Before the guardrails: the API server opens a node port for it.
	legacy, err := cs.CoreV1().Services("legacy").Create(ctx, weaveScopeBehindRanges("legacy", "scope-admin-only"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if legacy.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("the API server allocated no node port to a LoadBalancer Service: %+v", legacy.Spec)
	}
	t.Logf("LoadBalancer behind %v got node port %d", legacy.Spec.LoadBalancerSourceRanges, legacy.Spec.Ports[0].NodePort)
	const want = `[SERVICE_DASHBOARD_EXPOSED] LoadBalancer Service exposes a dashboard (selector app=weave-scope) to anyone who can reach ` +
		`any node's address on its node ports (loadBalancerSourceRanges restrict only the load balancer): an open Weave Scope let attackers run a cryptominer ` +
		`as root on the nodes. Use type LoadBalancer with loadBalancerSourceRanges for the admin network and allocateLoadBalancerNodePorts false, ` +
		`or ClusterIP and kubectl port-forward. Prevents: Weave Scope dashboard on a public load balancer, cryptominer on the nodes (JW Player).`
	fs, err := live.Check(legacy, gapSettings)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].String() != want {
		t.Errorf("the audit of %s/%s says %v, want only %q", legacy.Namespace, legacy.Name, fs, want)
	}

	installPolicies(t, cp, nil)
	_, err = cs.CoreV1().Services(guardtest.Namespace).Create(ctx, weaveScopeBehindRanges(guardtest.Namespace, "scope-admin-only"), metav1.CreateOptions{})
	requireDenial(t, "Weave Scope behind source ranges, with node ports", err, "k8sguard-services-deny", want)

	// Without node ports the source ranges hold: admitted, and no port opened.
	closed := weaveScopeBehindRanges(guardtest.Namespace, "scope-no-node-ports")
	closed.Spec.AllocateLoadBalancerNodePorts = ptr(false)
	got, err := cs.CoreV1().Services(guardtest.Namespace).Create(ctx, closed, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Weave Scope behind source ranges without node ports: %v", err)
	}
	if got.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("node port %d allocated with allocateLoadBalancerNodePorts false", got.Spec.Ports[0].NodePort)
	}
	// An explicit node port is still opened, and denied.
	pinned := weaveScopeBehindRanges(guardtest.Namespace, "scope-pinned-node-port")
	pinned.Spec.AllocateLoadBalancerNodePorts = ptr(false)
	pinned.Spec.Ports[0].NodePort = 30440
	_, err = cs.CoreV1().Services(guardtest.Namespace).Create(ctx, pinned, metav1.CreateOptions{})
	requireDenial(t, "Weave Scope behind source ranges with an explicit node port", err, "k8sguard-services-deny", want)
}
