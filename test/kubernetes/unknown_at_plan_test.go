package kubernetes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/test/infra"
)

// A guarded value that comes from another resource's output is unknown at
// plan, so the plan passes; the rules must then run at apply on the final
// value, refuse it naming the rule, and create nothing. For each Kubernetes
// resource (the AWS ones: test/aws/unknown_at_plan_test.go).
func TestRulesRunAtApplyOnValuesUnknownAtPlan(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	cs := cp.Clientset
	ctx := context.Background()
	const name = "unknown-at-plan"
	createNamespace(t, cs, name, nil)

	for _, c := range []struct {
		resource, rule string
		absent         func() error // nil when the object does not exist
	}{
		{"validating_webhook", "WEBHOOK_WILDCARD_RULE", func() error {
			_, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			return notFound(err)
		}},
		{"mutating_webhook", "WEBHOOK_WILDCARD_RULE", func() error {
			_, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			return notFound(err)
		}},
		{"pod_quota", "QUOTA_PODS_REQUIRED", func() error {
			quotas, err := cs.CoreV1().ResourceQuotas(name).List(ctx, metav1.ListOptions{})
			if err == nil && len(quotas.Items) > 0 {
				return &apierrors.StatusError{ErrStatus: metav1.Status{Message: "ResourceQuota " + quotas.Items[0].Name + " exists"}}
			}
			return err
		}},
	} {
		t.Run(c.resource, func(t *testing.T) {
			// No destroy: only terraform_data is in the state, and
			// terraform's destroy would plan the refused resource again.
			opts := tf(t, cp, "test/kubernetes/testdata/unknown_at_plan", map[string]any{"resource": c.resource, "name": name})
			refused := infra.ExpectApplyRefused(t, opts, c.rule)
			if err := c.absent(); err != nil {
				t.Fatalf("after the refused apply: %v", err)
			}
			t.Logf("k8sguard_%s: plan passed with the value unknown, apply refused it: %q; nothing in the cluster", c.resource, refused)
		})
	}
}

// notFound is nil for a NotFound error and an error otherwise.
func notFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		return &apierrors.StatusError{ErrStatus: metav1.Status{Message: "the object exists"}}
	}
	return err
}

// The other half of running the rules at apply: a warning that only the
// final value raises lands in `findings` (the plan left them unknown), and
// the apply succeeds instead of failing on an inconsistent final plan.
func TestWarningKnownOnlyAtApplyLandsInFindings(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	opts := tf(t, cp, "test/kubernetes/testdata/unknown_at_plan", map[string]any{"resource": "pod_quota_warning", "name": "warned-at-apply"})
	defer terraform.DestroyContext(t, context.Background(), opts)
	plan := terraform.InitAndPlanContext(t, context.Background(), opts)
	requireContains(t, plan, "+ findings = (known after apply)")
	terraform.ApplyContext(t, context.Background(), opts)
	findings := terraform.OutputListContext(t, context.Background(), opts, "findings")
	if len(findings) != 1 || !strings.HasPrefix(findings[0], `[QUOTA_PROTECTED_NAMESPACE] namespace "kube-system" is protected`) {
		t.Fatalf("findings = %q, want the QUOTA_PROTECTED_NAMESPACE warning", findings)
	}
	if _, err := cp.Clientset.CoreV1().ResourceQuotas("kube-system").Get(context.Background(), "warned-at-apply", metav1.GetOptions{}); err != nil {
		t.Fatalf("the warned quota was not created: %v", err)
	}
	t.Logf("apply created kube-system/warned-at-apply; findings: %q", findings)
}
