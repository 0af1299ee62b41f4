// Package kubernetes_test runs k8sguard's Kubernetes guardrails against the
// harness's real control plane: terraform with the freshly built provider,
// the two incidents reproduced and prevented, and the resources' lifecycle.
package kubernetes_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/test/infra"
)

// eventually polls check until it returns nil or the deadline passes, then
// fails with the last error: the API server applies new webhook
// configurations and quota status asynchronously.
func eventually(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// tf returns terratest options for a fixture under test/kubernetes/testdata
// (or an example), pointed at the control plane.
func tf(t *testing.T, cp *infra.ControlPlane, dir string, vars map[string]any) *terraform.Options {
	opts := infra.Terraform(t, dir, vars)
	opts.EnvVars["KUBECONFIG"] = cp.Kubeconfig
	return opts
}

// requireContains fails unless out (terraform output, unwrapped) holds want.
func requireContains(t *testing.T, out, want string) {
	t.Helper()
	if !strings.Contains(infra.Unwrap(out), want) {
		t.Fatalf("terraform output lacks %q:\n%s", want, out)
	}
}

// terraformImport runs `terraform import [options] addr id` (options first,
// as terraform requires).
func terraformImport(t *testing.T, opts *terraform.Options, addr, id string) {
	t.Helper()
	terraform.RunTerraformCommandContext(t, context.Background(), opts, append(terraform.FormatArgs(opts, "import"), addr, id)...)
}
