// Package examples runs every example in the repository so none of them
// rots: each folder is initialised and validated with the real terraform
// CLI and the freshly built provider, and the quickstart is applied to the
// harness control plane (other examples are applied by the suites of the
// resources they show: test/kubernetes, test/aws, test/modules).
package examples

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/test/infra"
)

// exampleDirs returns every folder under examples/ holding .tf files.
func exampleDirs(t *testing.T) []string {
	t.Helper()
	root, err := infra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	err = filepath.WalkDir(filepath.Join(root, "examples"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			if tf, _ := filepath.Glob(filepath.Join(p, "*.tf")); len(tf) > 0 {
				rel, _ := filepath.Rel(root, p)
				dirs = append(dirs, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("found only %d example folders: %v", len(dirs), dirs)
	}
	return dirs
}

func TestEveryExampleValidates(t *testing.T) {
	for _, dir := range exampleDirs(t) {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			opts := infra.Terraform(t, dir, nil)
			terraform.InitContext(t, context.Background(), opts)
			if filepath.Base(dir) != "refused" {
				terraform.ValidateContext(t, context.Background(), opts)
				return
			}
			// A "refused" example shows a dangerous shape: it must stay refused.
			out, err := terraform.ValidateContextE(t, context.Background(), opts)
			if err == nil || !strings.Contains(out, "Error: [WEBHOOK_") {
				t.Fatalf("%s validated, but it exists to be refused:\n%s", dir, out)
			}
		})
	}
}

// The quickstart `make demo` applies: quotas for two teams and a scoped
// webhook, re-planned empty, and its refused twin fails plan on the rules.
func TestQuickstartAppliesAndRefusesTheOutageWebhook(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	ctx := context.Background()
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := cp.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	opts := infra.Terraform(t, "examples/quickstart", nil)
	opts.EnvVars["KUBECONFIG"] = cp.Kubeconfig
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, context.Background(), opts)
	if code := terraform.PlanExitCodeContext(t, context.Background(), opts); code != 0 {
		t.Fatalf("plan after apply is not empty (exit %d)", code)
	}
	selector := terraform.OutputContext(t, context.Background(), opts, "webhook_namespace_selector")
	want := "kubernetes.io/metadata.name notin (kube-node-lease,kube-public,kube-system,policy),policy.k8sguard.io/enabled=true"
	if selector != want {
		t.Fatalf("effective selector %q, want %q", selector, want)
	}
	q, err := cp.Clientset.CoreV1().ResourceQuotas("team-b").Get(ctx, "k8sguard-pods", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Spec.Hard[corev1.ResourcePods]; got.Value() != 50 {
		t.Fatalf("team-b hard pods = %s, want 50", got.String())
	}

	refused := infra.Terraform(t, "examples/quickstart/refused", nil)
	refused.EnvVars["KUBECONFIG"] = cp.Kubeconfig
	terraform.InitContext(t, context.Background(), refused)
	out, err := infra.PlanE(t, context.Background(), refused)
	if err == nil {
		t.Fatalf("the outage webhook planned without error:\n%s", out)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, id := range []string{"WEBHOOK_WILDCARD_RULE", "WEBHOOK_CRITICAL_RESOURCE", "WEBHOOK_CLUSTER_SCOPED_FAIL", "WEBHOOK_FAIL_UNSCOPED"} {
		if !regexp.MustCompile(`Error: \[` + id + `\] .*Prevents: OPA webhook outage \(Jetstack, GKE upgrade\)\.`).MatchString(flat) {
			t.Errorf("plan output lacks the %s refusal naming the story", id)
		}
	}
	if _, err := cp.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "opa-validating-webhook", metav1.GetOptions{}); err == nil {
		t.Fatal("the refused webhook exists in the cluster")
	}
}
