package kubernetes_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/infra"
)

// The provider's kubernetes block from another resource's output is unknown
// during plan (the cluster is created or replaced in the same
// configuration). k8sguard read the unknown attributes as unset, so the
// kubeconfig filled in for them: the refresh went to the kubeconfig's
// cluster with its credentials. Here KUBECONFIG points at a decoy server
// that records what it is sent: it must receive nothing, the refresh keeps
// the state until apply, and a data source that needs the cluster says why
// it cannot be read yet.
func TestProviderConfigUnknownAtPlanDoesNotUseKubeconfig(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	ctx := context.Background()
	const ns = "provider-unknown"
	createNamespace(t, cp.Clientset, ns, nil)

	const ambientToken = "ambient-kubeconfig-token-5f3c"
	var mu sync.Mutex
	var decoyRequests []string
	decoy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		decoyRequests = append(decoyRequests, r.Method+" "+r.URL.Path+" Authorization: "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`))
	}))
	defer decoy.Close()
	kubeconfig := filepath.Join(t.TempDir(), "decoy-kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: other
  cluster:
    server: `+decoy.URL+`
    insecure-skip-tls-verify: true
users:
- name: other
  user:
    token: `+ambientToken+`
contexts:
- name: other
  context: {cluster: other, user: other}
current-context: other
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(cp.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	noDecoy := func(when string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(decoyRequests) > 0 {
			t.Fatalf("%s: the kubeconfig's server was called with its credentials: %q", when, decoyRequests)
		}
	}

	vars := map[string]any{"host": cp.Host, "token": cp.Token, "ca": string(ca), "generation": "1", "name": ns}
	opts := infra.Terraform(t, "test/kubernetes/testdata/provider_unknown", vars)
	opts.EnvVars["KUBECONFIG"] = kubeconfig
	defer terraform.DestroyContext(t, ctx, opts)
	terraform.InitAndApplyContext(t, ctx, opts)
	noDecoy("first apply")

	// The cluster is replaced: during the plan the provider configuration
	// is unknown and the quota's refresh has no cluster to ask.
	vars["generation"] = "2"
	plan, err := infra.PlanE(t, ctx, opts)
	if err != nil {
		t.Fatalf("plan with the provider configuration unknown:\n%s", plan)
	}
	noDecoy("plan with the provider configuration unknown")
	if strings.Contains(plan, "# k8sguard_pod_quota.this") {
		t.Fatalf("the quota changes in the plan; its state should be kept until apply:\n%s", plan)
	}
	terraform.ApplyContext(t, ctx, opts)
	noDecoy("apply")

	// A data source is read during plan: it cannot be, and says so.
	vars["generation"], vars["read_cluster"] = "3", true
	out, err := infra.PlanE(t, ctx, opts)
	if err == nil {
		t.Fatalf("plan read k8sguard_kubernetes_cluster with the provider configuration unknown:\n%s", out)
	}
	noDecoy("plan of a data source with the provider configuration unknown")
	requireContains(t, out, "Error: Cannot build the Kubernetes client")
	requireContains(t, out, "the provider's kubernetes configuration is not known yet (kubernetes.host, kubernetes.token: another resource's output, known at apply). "+
		"k8sguard does not fall back to the kubeconfig meanwhile: it may point at another cluster, with other credentials")
	vars["read_cluster"] = false
}

// The provider's kubernetes and aws blocks written as `dynamic` blocks over
// another resource's output are unknown as a whole during plan (their
// for_each is), not only their attributes. Configure read them into
// structs and failed the plan with a conversion error; they must be
// treated as any unknown provider configuration: no client, the state
// kept until apply.
func TestProviderDynamicBlocksUnknownAtPlan(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	ctx := context.Background()
	const ns = "provider-dynamic"
	createNamespace(t, cp.Clientset, ns, nil)
	ca, err := os.ReadFile(cp.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"host": cp.Host, "token": cp.Token, "ca": string(ca), "generation": "1", "name": ns}
	opts := infra.Terraform(t, "test/kubernetes/testdata/provider_dynamic", vars)
	opts.EnvVars["KUBECONFIG"] = filepath.Join(t.TempDir(), "no-kubeconfig")
	defer terraform.DestroyContext(t, ctx, opts)
	terraform.InitAndApplyContext(t, ctx, opts)

	vars["generation"] = "2"
	plan, err := infra.PlanE(t, ctx, opts)
	if err != nil {
		t.Fatalf("plan with the provider's dynamic blocks unknown:\n%s", plan)
	}
	if strings.Contains(plan, "# k8sguard_pod_quota.this") {
		t.Fatalf("the quota changes in the plan; its state should be kept until apply:\n%s", plan)
	}
	terraform.ApplyContext(t, ctx, opts)
	infra.ExpectNoChanges(t, opts, "after apply")
}
