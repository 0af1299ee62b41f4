package modules_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gruntwork-io/terratest/modules/terraform"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

const completeExample = "examples/complete"

// TestCompleteExampleValidates runs `terraform validate` on examples/complete
// as shipped (no cluster, no AWS).
func TestCompleteExampleValidates(t *testing.T) {
	opts := infra.Terraform(t, completeExample, nil)
	if out, err := terraform.InitAndValidateContextE(t, t.Context(), opts); err != nil {
		t.Fatalf("terraform validate examples/complete: %v\n%s", err, out)
	}
}

// TestCompleteExampleAppliesOnHarness applies examples/complete as shipped
// (only names, endpoints and subnets changed) against the harness control
// plane and moto: all three modules together, then an empty plan and a
// clean destroy.
func TestCompleteExampleAppliesOnHarness(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	tg := fixture.Moto(t)
	ctx := context.Background()
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := cp.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}
	subnets := tg.Network(t, "10.40.0.0/16", "10.40.0.0/24", "10.40.1.0/24")
	cluster := fixture.Unique("prod")
	tg.Cluster(t, cluster, subnets)

	opts := infra.WithEnv(infra.Terraform(t, completeExample, map[string]any{
		"cluster_name":          cluster,
		"region":                tg.Region,
		"aws_endpoints":         tg.Endpoints,
		"backup_bucket":         fixture.Unique("etcd-complete"),
		"force_destroy_backups": true,
		"subnet_ids":            subnets,
	}), tg.Env)
	opts.EnvVars["KUBECONFIG"] = cp.Kubeconfig
	t.Cleanup(func() { terraform.DestroyContext(t, context.Background(), opts) })
	terraform.InitAndApplyContext(t, t.Context(), opts)

	caps := terraform.OutputJSONContext(t, t.Context(), opts, "pod_quotas")
	var quotas map[string]struct{ Pods int }
	if err := json.Unmarshal([]byte(caps), &quotas); err != nil || quotas["team-a"].Pods != 200 || quotas["team-b"].Pods != 50 {
		t.Errorf("pod_quotas = %s (%v), want team-a 200 and team-b 50", caps, err)
	}
	if _, err := cp.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "ingress-policy", metav1.GetOptions{}); err != nil {
		t.Errorf("the example's webhook is not registered: %v", err)
	}
	if got := terraform.OutputContext(t, t.Context(), opts, "pod_range_max_nodes"); got != "256" {
		t.Errorf("pod_range_max_nodes = %s, want 256 (/16 in /24 node blocks)", got)
	}
	if store := terraform.OutputContext(t, t.Context(), opts, "etcd_backup_store"); !strings.HasSuffix(store, "/"+cluster+"/") {
		t.Errorf("etcd_backup_store = %s, want the cluster's prefix", store)
	}
	pools := terraform.OutputMapOfObjectsContext(t, t.Context(), opts, "node_pools")
	if len(pools) != 2 {
		t.Errorf("node_pools = %v, want general and batch", pools)
	}

	infra.ExpectNoChanges(t, opts, "after applying examples/complete")
}
