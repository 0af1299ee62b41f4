package kubernetes_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/test/infra"
)

// The provider's settings (max_webhook_timeout_seconds,
// max_pods_per_namespace, protected_namespaces) from another resource's
// output are unknown during plan. The plan ran the rules with the defaults
// and refused a 10 s webhook timeout against "max_webhook_timeout_seconds
// (5)" and 3000 pods against 1500, where the configuration allows 20 and
// 5000. The rules that read settings now run at apply, with the final
// values: a good configuration applies (its selector excludes the
// configured protected namespaces), a bad one is refused there.
func TestProviderSettingsUnknownAtPlan(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	ctx := context.Background()

	t.Run("allowed_by_the_final_settings", func(t *testing.T) {
		const name = "settings-good"
		createNamespace(t, cp.Clientset, name, nil)
		opts := tf(t, cp, "test/kubernetes/testdata/settings_unknown", map[string]any{"name": name, "max_timeout": 20})
		terraform.InitContext(t, ctx, opts)
		defer terraform.DestroyContext(t, ctx, opts)
		plan, err := infra.PlanE(t, ctx, opts)
		if err != nil {
			t.Fatalf("plan with the provider's settings unknown:\n%s", plan)
		}
		requireContains(t, plan, "+ effective_namespace_selector = (known after apply)")
		if out, err := infra.ApplyE(t, ctx, opts); err != nil {
			t.Fatalf("apply:\n%s", out)
		}
		want := "kubernetes.io/metadata.name notin (kube-node-lease,kube-public,kube-system,opa,platform),opa-policy=enabled"
		if got := terraform.OutputContext(t, ctx, opts, "effective_namespace_selector"); got != want {
			t.Fatalf("effective_namespace_selector = %q, want %q", got, want)
		}
		if _, err := cp.Clientset.CoreV1().ResourceQuotas(name).Get(ctx, "k8sguard-pods", metav1.GetOptions{}); err != nil {
			t.Fatalf("the quota was not created: %v", err)
		}
		infra.ExpectNoChanges(t, opts, "after apply")
	})

	t.Run("refused_by_the_final_settings", func(t *testing.T) {
		const name = "settings-bad"
		createNamespace(t, cp.Clientset, name, nil)
		opts := tf(t, cp, "test/kubernetes/testdata/settings_unknown", map[string]any{"name": name, "max_timeout": 8, "with_quota": false})
		refused := infra.ExpectApplyRefused(t, opts, "WEBHOOK_TIMEOUT")
		want := "Error: [WEBHOOK_TIMEOUT] timeout_seconds = 10 is above the provider's max_webhook_timeout_seconds (8): every matching API request can wait this long " +
			"for a slow backend, and the control plane's own requests queue behind it."
		if refused != want {
			t.Fatalf("refused with\n%q, want\n%q", refused, want)
		}
		if err := notFound(func() error {
			_, err := cp.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			return err
		}()); err != nil {
			t.Fatalf("after the refused apply: %v", err)
		}
	})

	// The audit's findings depend on the settings (protected namespaces
	// are not judged): with them unknown it refuses, rather than report
	// what the defaults say as the cluster's state.
	t.Run("audit_refuses_until_the_settings_are_known", func(t *testing.T) {
		const name = "settings-audit"
		createNamespace(t, cp.Clientset, name, nil)
		opts := tf(t, cp, "test/kubernetes/testdata/settings_unknown", map[string]any{"name": name, "max_timeout": 20, "with_quota": false, "with_audit": true})
		terraform.InitContext(t, ctx, opts)
		detail := "the provider's policy settings (protected_namespaces, max_webhook_timeout_seconds, max_pods_per_namespace) are not known yet " +
			"(another resource's output, known at apply), and the audit's findings depend on them. Set them from values known at plan."
		t.Logf("refused: %s", infra.ExpectPlanError(t, opts, `(?s)Error: Cannot audit the cluster yet.*`+regexp.QuoteMeta(detail)))
	})
}
