package kubernetes_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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

// paddedWebhook is a wildcard webhook (every API group, CREATE and
// UPDATE) whose resource list is padded with n copies of one harmless
// entry, so the guardrails' CEL would run past the API server's per-call
// cost limit; failurePolicy Ignore keeps the harness usable if it is
// admitted.
func paddedWebhook(name string, n int) *admv1.ValidatingWebhookConfiguration {
	resources := make([]string, n)
	for i := range resources {
		resources[i] = "a"
	}
	w := guardtest.Webhook("padded.example.com", guardtest.Rule([]string{"*"}, resources, admv1.NamespacedScope))
	w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"opa-policy": "enabled"}}
	return &admv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}, Webhooks: []admv1.ValidatingWebhook{w}}
}

// TestAdmissionGuardrailsJudgePaddedWebhookConfigurations: a wildcard
// webhook is denied; padded, it was not judged. With its resource list
// padded to 240000 harmless entries (about 1 MB), or with a critical
// entry (CSR status updates) behind 100000 of them, the guardrails' match
// condition and validation run out of the per-call cost in the API
// server's CEL library, where failurePolicy Ignore admits; this API
// server (1.36.3) instead kept evaluating until the request timed out
// (504 after 35 to 60 s on this machine) and logged, too late, a denial
// without the rule's message. Both must be denied at once, with the rule
// that says why.
func TestAdmissionGuardrailsJudgePaddedWebhookConfigurations(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	ctx := context.Background()
	installPolicies(t, cp, nil)
	api := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()

	small := paddedWebhook("wildcard-small", 1)
	_, err := api.Create(ctx, small, metav1.CreateOptions{})
	requireDenial(t, "the unpadded wildcard webhook", err, "k8sguard-webhooks-deny",
		`[WEBHOOK_WILDCARD_RULE] rule 0 matches every API group ("*"): a webhook that intercepts everything can block the control plane when its backend is down. `+
			`Name the API groups and resources it needs. Prevents: OPA webhook outage (Jetstack, GKE upgrade).`)

	// Padding that makes each critical-resource check scan the list: a
	// webhook on every API group that intercepts CSR status updates (how
	// certificates get issued), its one critical entry behind 100000
	// harmless ones: every critical-resource check scans the list.
	csr := paddedWebhook("csr-status-padded", 100000)
	csr.Webhooks[0].Rules[0].Resources = append(csr.Webhooks[0].Rules[0].Resources, "certificatesigningrequests/status")
	csr.Webhooks[0].Rules[0].Operations = []admv1.OperationType{admv1.Update}
	csr.Webhooks[0].Rules[0].Scope = ptr(admv1.AllScopes)
	_, err = api.Create(ctx, csr, metav1.CreateOptions{})
	if err == nil {
		_ = api.Delete(ctx, csr.Name, metav1.DeleteOptions{})
	}
	requireDenial(t, "a wildcard webhook on CSR status padded to 100000 resources", err, "k8sguard-webhooks-deny",
		"[WEBHOOK_TOO_LARGE_TO_JUDGE] the configuration has 100004 rule entries (API groups, versions, resources, "+
			"operations and namespace selector expressions), more than the 4096 the guardrails can judge within the API server's CEL cost limit. "+
			"Past the limit the API server would stop evaluating its policies and admit the configuration unjudged, so padding could hide a wildcard "+
			"or unscoped webhook. Split it into several configurations. Prevents: OPA webhook outage (Jetstack, GKE upgrade).")

	const n = 240000
	padded := paddedWebhook("wildcard-padded", n)
	_, err = api.Create(ctx, padded, metav1.CreateOptions{})
	if err == nil {
		_ = api.Delete(ctx, padded.Name, metav1.DeleteOptions{})
	}
	want := "[WEBHOOK_TOO_LARGE_TO_JUDGE] the configuration has 240004 rule entries (API groups, versions, resources, " +
		"operations and namespace selector expressions), more than the 4096 the guardrails can judge within the API server's CEL cost limit. Past the limit the API server would stop evaluating its policies and admit the configuration unjudged, so padding could hide a wildcard or unscoped webhook. Split it into several configurations. Prevents: OPA webhook outage (Jetstack, GKE upgrade)."
	requireDenial(t, fmt.Sprintf("the wildcard webhook padded to %d resources", n), err, "k8sguard-webhooks-deny", want)

	// The audit says the same of a padded configuration that predates the
	// guardrails.
	fs, err := live.Check(padded, gapSettings)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].String() != want {
		t.Fatalf("the audit of the padded configuration says %v, want only %q", fs, want)
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

// TestAdmissionGuardrailsJudgeTheScaleSubresource: WORKLOAD_NO_SPREAD
// reads replicas, and `kubectl scale` (or an autoscaler) changes them
// through the scale subresource, which the workloads policy did not
// match: a spreadless Deployment or StatefulSet made with one replica
// could be scaled to three without a word. The API server shows a
// policy an autoscaling/v1 Scale there (verified below), with no pod
// template, so the guardrails warn on the scale that makes the rule apply
// (from below 2 replicas to 2 or more) and say what they cannot see.
func TestAdmissionGuardrailsJudgeTheScaleSubresource(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	ctx := context.Background()
	createNamespace(t, cs, guardtest.Namespace, nil)
	one := guardtest.SpreadlessDeployment(guardtest.Namespace)
	one.Spec.Replicas = ptr[int32](1)
	if _, err := cs.AppsV1().Deployments(guardtest.Namespace).Create(ctx, one, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: guardtest.Namespace}, Spec: appsv1.StatefulSetSpec{
		Replicas: ptr[int32](1), Selector: one.Spec.Selector, Template: one.Spec.Template}}
	if _, err := cs.AppsV1().StatefulSets(guardtest.Namespace).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dry := metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}
	scaleTo := func(cs kubernetes.Interface, resource string, replicas int32) error {
		s := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: one.Name, Namespace: guardtest.Namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}
		var err error
		if resource == "deployments" {
			_, err = cs.AppsV1().Deployments(guardtest.Namespace).UpdateScale(ctx, one.Name, s, dry)
		} else {
			s.Name = sts.Name
			_, err = cs.AppsV1().StatefulSets(guardtest.Namespace).UpdateScale(ctx, sts.Name, s, dry)
		}
		return err
	}

	t.Run("what a policy sees on the scale subresource", func(t *testing.T) {
		api := cs.AdmissionregistrationV1()
		probe := &admv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "scale-probe"}, Spec: admv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr(admv1.Fail),
			MatchConstraints: &admv1.MatchResources{ResourceRules: []admv1.NamedRuleWithOperations{{RuleWithOperations: admv1.RuleWithOperations{
				Operations: []admv1.OperationType{admv1.Update},
				Rule:       admv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"*"}, Resources: []string{"deployments/scale", "statefulsets/scale"}},
			}}}},
			Validations: []admv1.Validation{{Expression: "false", MessageExpression: `request.resource.resource + "/" + request.subResource + ": " + ` +
				`object.apiVersion + " " + object.kind + " spec.replicas " + string(oldObject.spec.replicas) + " -> " + string(object.spec.replicas) + ` +
				`", template: " + string(has(object.spec.template)) + ", labels: " + string(has(object.metadata.labels))`}},
		}}
		if _, err := api.ValidatingAdmissionPolicies().Create(ctx, probe, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := api.ValidatingAdmissionPolicyBindings().Create(ctx, &admv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "scale-probe"},
			Spec: admv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "scale-probe", ValidationActions: []admv1.ValidationAction{admv1.Deny}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, resource := range []string{"deployments", "statefulsets"} {
			want := resource + "/scale: autoscaling/v1 Scale spec.replicas 1 -> 3, template: false, labels: false"
			eventually(t, "the probe sees "+resource+"/scale", 30*time.Second, func() error {
				if err := scaleTo(cs, resource, 3); err == nil || !strings.HasSuffix(err.Error(), "denied request: "+want) {
					return fmt.Errorf("scale answered %v, want the probe's %q", err, want)
				}
				return nil
			})
		}
		if err := api.ValidatingAdmissionPolicyBindings().Delete(ctx, "scale-probe", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := api.ValidatingAdmissionPolicies().Delete(ctx, "scale-probe", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the probe is gone", 30*time.Second, func() error { return scaleTo(cs, "deployments", 3) })
	})

	installPolicies(t, cp, nil)
	kubectl, warned := clientWithWarnings(t, cp)
	for _, c := range []struct{ resource, kind string }{{"deployments", "Deployment"}, {"statefulsets", "StatefulSet"}} {
		want := fmt.Sprintf(`Validation failed for ValidatingAdmissionPolicy 'k8sguard-scales-warn' with binding 'k8sguard-scales-warn': `+
			`[WORKLOAD_NO_SPREAD] %s scaled from 1 to 3 replicas through the scale subresource (kubectl scale, an autoscaler), which shows `+
			`the guardrails no pod template: they cannot tell whether it has pod anti-affinity or topologySpreadConstraints, and without them one node `+
			`failure takes every replica down. Check it with k8sguard_cluster_audit, or set spec.replicas on the %s itself, where its template is judged. `+
			`Prevents: every replica on one node, one kernel panic took the site down (Moonlight).`, c.kind, c.kind)
		eventually(t, "kubectl scale "+c.resource+" --replicas=3 is warned about", 30*time.Second, func() error {
			warned.take()
			err := scaleTo(kubectl, c.resource, 3)
			w := warned.take()
			if err != nil || len(w) != 1 || w[0] != want {
				return fmt.Errorf("scale answered %v with warnings %q; want exactly the warning %q", err, w, want)
			}
			return nil
		})
	}
	// Scaling between counts the rule treats alike says nothing: the
	// Deployment was judged when it got 2 or more replicas.
	if _, err := cs.AppsV1().Deployments(guardtest.Namespace).UpdateScale(ctx, one.Name,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: one.Name, Namespace: guardtest.Namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	warned.take()
	if err := scaleTo(kubectl, "deployments", 5); err != nil {
		t.Fatal(err)
	}
	if w := warned.take(); len(w) > 0 {
		t.Fatalf("scale from 2 to 5 warned %q", w)
	}
}
