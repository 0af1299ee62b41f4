package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
	"golang.org/x/sync/errgroup"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/k8sguard/k8sguard/provider/guard"
	"github.com/k8sguard/k8sguard/provider/guard/guardtest"
	"github.com/k8sguard/k8sguard/test/infra"
)

// A team audits its own namespace with a Role there (and the right to
// read that one Namespace and the cluster's webhook configurations): the
// audit lists in that namespace, not cluster-wide, where the team's
// token is refused. It also lists in pages: 501 Services in the
// namespace, the one that exposes a dashboard last, take two.
func TestClusterAuditScopedToNamespaceRBAC(t *testing.T) {
	ctx := context.Background()
	started := time.Now()
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{WithoutControllerManager: true, AuditLog: true})
	t.Logf("control plane ready in %s", time.Since(started).Round(time.Millisecond))
	cs := cp.Clientset
	for _, ns := range []string{"team-a", "team-b"} {
		createNamespace(t, cs, ns, nil)
		for _, obj := range []any{guardtest.ZalandoCronJob(ns), guardtest.WeaveScopeService(ns)} {
			if err := create(ctx, cs, obj); err != nil {
				t.Fatalf("create %T in %s: %v", obj, ns, err)
			}
		}
	}
	// Names that sort before weave-scope-app: it comes on the second page.
	started = time.Now()
	fast := rest.CopyConfig(cp.REST) // client-go's default 5 requests/s would take 100 s
	fast.QPS, fast.Burst = 500, 500
	fastCS := kubernetes.NewForConfigOrDie(fast)
	var g errgroup.Group
	g.SetLimit(8)
	for i := range auditPage {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("a-%03d", i), Namespace: "team-a"},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		g.Go(func() error { return create(ctx, fastCS, svc) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("create services: %v", err)
	}
	t.Logf("created %d headless Services in team-a in %s", auditPage, time.Since(started).Round(time.Millisecond))
	token := namespaceAuditorToken(t, cp, "team-a")

	opts := tf(t, cp, "test/kubernetes/testdata/audit_scoped", map[string]any{"namespaces": []string{"team-a"}})
	opts.EnvVars["KUBECONFIG"] = cp.KubeconfigWithToken(t, token)
	terraform.InitAndApplyContext(t, ctx, opts)
	var fs []auditFinding
	if err := json.Unmarshal([]byte(terraform.OutputJSONContext(t, ctx, opts, "findings")), &fs); err != nil {
		t.Fatal(err)
	}
	requireFinding(t, fs, guard.RuleCronJobUnbounded, "CronJob", "team-a", "foobar")
	requireFinding(t, fs, guard.RuleServiceDashboardPublic, "Service", "team-a", "weave-scope-app")
	for _, f := range fs {
		if f.Namespace != "team-a" && (f.Kind != "Namespace" || f.Name != "team-a") {
			t.Errorf("finding outside team-a: %+v", f)
		}
	}
	t.Logf("audit as system:serviceaccount:team-a:auditor: %d findings, all in team-a", len(fs))

	pages := serviceListRequests(t, cp, "team-a")
	if pages < 2 {
		t.Errorf("the audit listed team-a's %d Services in %d request(s), want pages of %d", auditPage+1, pages, auditPage)
	}
	t.Logf("team-a's %d Services listed in %d pages", auditPage+1, pages)
}

// auditPage is the provider's page size (provider.auditPageSize).
const auditPage = 500

// namespaceAuditorToken creates ServiceAccount auditor in ns with read
// access to the audited kinds in ns only, to ns itself, and to the
// cluster's webhook configurations, and returns a token for it.
func namespaceAuditorToken(t *testing.T, cp *infra.ControlPlane, ns string) string {
	t.Helper()
	ctx, cs := context.Background(), cp.Clientset
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "auditor", Namespace: ns}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "auditor", Namespace: ns}}
	list := []string{"get", "list"}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "auditor", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"services", "resourcequotas"}, Verbs: list},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: list},
		{APIGroups: []string{"batch"}, Resources: []string{"cronjobs"}, Verbs: list},
	}}
	clusterRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-auditor"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{ns}, Verbs: []string{"get"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"}, Verbs: list},
	}}
	var err error
	if _, err = cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err == nil {
		_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "auditor", Namespace: ns},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "auditor"}, Subjects: subject}, metav1.CreateOptions{})
	}
	if err == nil {
		_, err = cs.RbacV1().ClusterRoles().Create(ctx, clusterRole, metav1.CreateOptions{})
	}
	if err == nil {
		_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-auditor"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ns + "-auditor"}, Subjects: subject}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("RBAC for %s/auditor: %v", ns, err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "auditor", &authv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/auditor: %v", ns, err)
	}
	return tok.Status.Token
}

// serviceListRequests counts the list requests for ns's Services in the
// API server's audit log.
func serviceListRequests(t *testing.T, cp *infra.ControlPlane, ns string) int {
	t.Helper()
	b, err := os.ReadFile(cp.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		var ev struct {
			Stage, Verb string
			ObjectRef   struct{ Resource, Namespace string }
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Stage == "ResponseComplete" && ev.Verb == "list" &&
			ev.ObjectRef.Resource == "services" && ev.ObjectRef.Namespace == ns {
			n++
		}
	}
	return n
}
