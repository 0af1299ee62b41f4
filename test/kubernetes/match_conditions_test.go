package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/test/infra"
)

const guardedExpression = `object.metadata.name.startsWith("guarded-")`

// liveMatchConditions reads the match conditions of either kind's only
// webhook.
func liveMatchConditions(t *testing.T, cs kubernetes.Interface, kind, name string) []admissionv1.MatchCondition {
	t.Helper()
	ctx := context.Background()
	if kind == "mutating" {
		o, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get MutatingWebhookConfiguration %s: %v", name, err)
		}
		return o.Webhooks[0].MatchConditions
	}
	o, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get ValidatingWebhookConfiguration %s: %v", name, err)
	}
	return o.Webhooks[0].MatchConditions
}

// setLiveExpression is a hand edit of the live condition (drift).
func setLiveExpression(t *testing.T, cs kubernetes.Interface, kind, name, expression string) {
	t.Helper()
	value, _ := json.Marshal(expression)
	patchWebhook(t, cs, kind, name, "edit the match condition by hand", types.JSONPatchType,
		fmt.Sprintf(`[{"op":"replace","path":"/webhooks/0/matchConditions/0/expression","value":%s}]`, value))
}

func upsertConfigMap(cs kubernetes.Interface, ns, name string) error {
	ctx := context.Background()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return createConfigMap(cs, ns, name, nil)
	}
	cm.Data = map[string]string{"touched": time.Now().Format(time.RFC3339Nano)}
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	return err
}

// match_condition through terraform on the real API server: a bad
// expression is refused at plan; the applied hook is called for the
// requests its CEL condition matches and skipped for the others (counted
// at the backend); with the backend down only matching requests fail
// closed; read-back, drift and import keep the condition.
func TestWebhookMatchConditionsOnTheAPIServer(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true})
	cs := cp.Clientset
	for _, kind := range []string{"validating", "mutating"} {
		t.Run(kind, func(t *testing.T) {
			backend := newAdmissionBackend(t)
			backend.Start(t)
			ns := "mc-" + kind
			createNamespace(t, cs, ns, map[string]string{"k8sguard-mc": "enabled"})
			name := "k8sguard-mc-" + kind
			addr := fmt.Sprintf("k8sguard_%s_webhook.this[0]", kind)
			opts := tf(t, cp, "test/kubernetes/testdata/match_conditions", map[string]any{
				"kind": kind, "name": name, "url": backend.URL, "ca_bundle": backend.CAPEM,
				"expression": guardedExpression + " &&",
			})
			defer terraform.DestroyContext(t, context.Background(), opts)

			out, err := infra.InitAndPlanE(t, context.Background(), opts)
			if err == nil {
				t.Fatal("terraform plan accepted a match condition that does not compile")
			}
			requireContains(t, out, "webhook[0].match_condition[0].expression: the API server would refuse this CEL expression: "+
				"compilation failed: ERROR: <input>:1:47: Syntax error: mismatched input '<EOF>'")
			t.Logf("terraform plan refused %q with the API server's compiler message", guardedExpression+" &&")

			delete(opts.Vars, "expression")
			terraform.ApplyContext(t, context.Background(), opts)
			live := liveMatchConditions(t, cs, kind, name)
			if !slices.Equal(live, []admissionv1.MatchCondition{{Name: "guarded-names-only", Expression: guardedExpression}}) {
				t.Fatalf("live match conditions %+v", live)
			}
			infra.ExpectNoChanges(t, opts, "after create")

			// The hook is live once a matching write reaches the backend.
			probes := 0
			eventually(t, "the hook takes effect", 20*time.Second, func() error {
				probes++
				probe := fmt.Sprintf("guarded-probe-%d", probes)
				if err := createConfigMap(cs, ns, probe, nil); err != nil {
					return err
				}
				if !slices.Contains(backend.Reviewed(), ns+"/"+probe) {
					return fmt.Errorf("%s/%s was not sent to the backend yet", ns, probe)
				}
				return nil
			})
			before := len(backend.Reviewed())
			writes := []string{"guarded-a", "plain-a", "guarded-b", "plain-b", "plain-c", "plain-a", "guarded-a"} // the repeats are UPDATEs
			for _, w := range writes {
				mustSucceed(t, fmt.Sprintf("write ConfigMap %s/%s", ns, w), upsertConfigMap(cs, ns, w))
			}
			called := backend.Reviewed()[before:]
			want := []string{ns + "/guarded-a", ns + "/guarded-b", ns + "/guarded-a"}
			if !slices.Equal(called, want) {
				t.Fatalf("backend called for %v, want %v: the condition must select exactly the guarded- names", called, want)
			}
			t.Logf("%d writes (CREATE and UPDATE), backend called %d times: %v; skipped plain-a, plain-b, plain-c (condition false)",
				len(writes), len(called), called)

			backend.Stop()
			failed := func(err error) bool {
				return err != nil && strings.Contains(err.Error(), `failed calling webhook "mc.k8sguard.io"`)
			}
			err = createConfigMap(cs, ns, "guarded-c", nil)
			if !failed(err) {
				t.Fatalf("create %s/guarded-c with the backend down: got %v, want the Fail hook's rejection", ns, err)
			}
			t.Logf("  REFUSED create ConfigMap %s/guarded-c (condition true, backend down, Fail): %v", ns, err)
			mustSucceed(t, fmt.Sprintf("create ConfigMap %s/plain-d (condition false: the dead backend is never called)", ns), createConfigMap(cs, ns, "plain-d", nil))
			mustSucceed(t, fmt.Sprintf("update ConfigMap %s/plain-a (condition false)", ns), upsertConfigMap(cs, ns, "plain-a"))

			setLiveExpression(t, cs, kind, name, "true")
			out = terraform.PlanContext(t, context.Background(), opts)
			requireContains(t, out, "1 to change")
			requireContains(t, out, `expression = "true" -> "object.metadata.name.startsWith(\"guarded-\")"`)
			t.Log("condition edited by hand to \"true\": terraform plan shows the drift")
			terraform.ApplyContext(t, context.Background(), opts)
			if live := liveMatchConditions(t, cs, kind, name); live[0].Expression != guardedExpression {
				t.Fatalf("after apply the live expression is %q", live[0].Expression)
			}
			infra.ExpectNoChanges(t, opts, "after drift correction")

			terraform.RunTerraformCommandContext(t, context.Background(), opts, "state", "rm", addr)
			terraformImport(t, opts, addr, name)
			infra.ExpectNoChanges(t, opts, "after import")
			t.Log("imported: the match condition reads back as configured")
		})
	}
}
