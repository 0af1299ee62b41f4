package kubernetes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/test/infra"
)

// A waiver whose map or reason is not known while Terraform validates or
// plans (a variable during `terraform validate`, another resource's output
// during plan) may waive an error: the waived configuration must validate,
// plan and apply, with the waiver in findings. It failed with the waived
// rule's error, or with a Value Conversion Error on the unknown reason. The
// same for list and map elements of k8sguard_admission_guardrails.
func TestValuesUnknownAtPlanDoNotFailGoodConfigs(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		findings []string // prefixes of the findings after apply
	}{
		{"var_waivers", []string{`[WEBHOOK_WILDCARD_RULE] rule 0 matches every resource ("*")`}},
		{"output_reason", []string{`[WEBHOOK_WILDCARD_RULE] rule 0 matches every resource ("*")`, "[QUOTA_PODS_ABOVE_CLUSTER_MAX] pods = 5000"}},
		{"output_waivers", []string{`[WEBHOOK_WILDCARD_RULE] rule 0 matches every resource ("*")`}},
		{"guardrails_partial", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := strings.ReplaceAll("waivers-"+c.name, "_", "-")
			createNamespace(t, cp.Clientset, name, nil)
			opts := tf(t, cp, "test/kubernetes/testdata/waivers_unknown", map[string]any{"case": c.name, "name": name})
			terraform.InitContext(t, ctx, opts)
			defer terraform.DestroyContext(t, ctx, opts)
			if out, err := terraform.RunTerraformCommandContextE(t, ctx, opts, "validate", "-no-color"); err != nil {
				t.Fatalf("terraform validate:\n%s", out)
			}
			if out, err := infra.PlanE(t, ctx, opts); err != nil {
				t.Fatalf("terraform plan:\n%s", out)
			}
			if out, err := infra.ApplyE(t, ctx, opts); err != nil {
				t.Fatalf("terraform apply:\n%s", out)
			}
			findings := terraform.OutputListContext(t, ctx, opts, "findings")
			if len(findings) != len(c.findings) {
				t.Fatalf("findings = %q, want %d starting %q", findings, len(c.findings), c.findings)
			}
			for i, want := range c.findings {
				if !strings.HasPrefix(findings[i], want) || !strings.HasSuffix(findings[i], `Waived: "legacy OPA bundle, tracked in OPS-1".`) {
					t.Fatalf("findings[%d] = %q, want %q... waived with the reason", i, findings[i], want)
				}
			}
			if c.name != "guardrails_partial" {
				if _, err := cp.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{}); err != nil {
					t.Fatalf("the waived webhook was not created: %v", err)
				}
			}
			infra.ExpectNoChanges(t, opts, "after apply")
			t.Logf("%s: validate, plan and apply passed; findings %q", c.name, findings)
		})
	}

	// The other side: a reason known only at apply that is empty is no
	// waiver. The apply refuses it, and the waived rule, before creating
	// anything.
	t.Run("empty_reason_at_apply", func(t *testing.T) {
		const name = "waivers-empty-reason"
		opts := tf(t, cp, "test/kubernetes/testdata/waivers_unknown", map[string]any{"case": "empty_reason_at_apply", "name": name})
		refused := infra.ExpectApplyRefused(t, opts, "WAIVER_INVALID")
		want := "Error: [WAIVER_INVALID] waiver for WEBHOOK_WILDCARD_RULE has no reason: write why the risk is acceptable, for the review."
		if refused != want {
			t.Fatalf("refused with %q, want %q", refused, want)
		}
		if err := notFound(func() error {
			_, err := cp.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			return err
		}()); err != nil {
			t.Fatalf("after the refused apply: %v", err)
		}
	})
}
