package provider

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"

	"github.com/k8sguard/k8sguard/provider/guard"
	"github.com/k8sguard/k8sguard/provider/guard/live"
)

var _ datasource.DataSourceWithConfigure = (*clusterAuditDataSource)(nil)

// NewClusterAuditDataSource is k8sguard_cluster_audit: the rules run over
// what already exists in the cluster, whatever created it.
func NewClusterAuditDataSource() datasource.DataSource { return &clusterAuditDataSource{} }

type clusterAuditDataSource struct{ clients *Clients }

type clusterAuditModel struct {
	ID         types.String `tfsdk:"id"`
	Namespaces types.List   `tfsdk:"namespaces"`
	Findings   types.List   `tfsdk:"findings"`
	Errors     types.Int64  `tfsdk:"errors"`
	Warnings   types.Int64  `tfsdk:"warnings"`
	RuleIDs    types.List   `tfsdk:"rule_ids"`
}

var auditFindingType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"rule_id": types.StringType, "severity": types.StringType,
	"kind": types.StringType, "namespace": types.StringType, "name": types.StringType,
	"message": types.StringType, "story": types.StringType, "story_url": types.StringType,
}}

func (d *clusterAuditDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_cluster_audit"
}

func (d *clusterAuditDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Audits the live cluster with k8sguard's rules: webhook configurations, CronJobs, Services that expose a dashboard, " +
			"Deployments and StatefulSets, and namespaces without a pod quota, whatever created them (Helm, kubectl, an operator, objects older " +
			"than the guardrails). Each finding names the rule, the object, what is wrong and the public failure story it prevents, in the words " +
			"of the plan and of `k8sguard_admission_guardrails`. Protected namespaces are not audited; objects annotated " +
			"`" + guard.WaiverAnnotationPrefix + "<RULE_ID>: \"<reason>\"` are not reported for a waivable rule. Use it in a `check {}` block " +
			"to see the findings on every plan, or in outputs.\n\nRules: " + backquoted(auditRules()) + ".",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The API server URL."},
			"namespaces": schema.ListAttribute{ElementType: types.StringType, Optional: true,
				MarkdownDescription: "Audit namespaced objects only in these namespaces. Default: all but the provider's protected namespaces. " +
					"Webhook configurations are cluster-scoped and always audited. With `namespaces` set the audit lists in each namespace, " +
					"so a team's RBAC in its own namespaces is enough: `get`/`list` on `services`, `resourcequotas`, `deployments`, " +
					"`statefulsets` and `cronjobs` there, `get` on those `namespaces` (a ClusterRole with `resourceNames`), and `list` on " +
					"`validatingwebhookconfigurations` and `mutatingwebhookconfigurations`. Objects are listed in pages of 500."},
			"findings": schema.ListAttribute{ElementType: auditFindingType, Computed: true,
				MarkdownDescription: "One finding per rule and object, ordered by kind, namespace, name and rule: `rule_id`, `severity` " +
					"(`error` or `warning`), the object (`kind`, `namespace`, empty for cluster-scoped objects, `name`), `message`, `story` " +
					"and `story_url`."},
			"errors":   schema.Int64Attribute{Computed: true, MarkdownDescription: "Number of error findings (what the guardrails deny by default)."},
			"warnings": schema.Int64Attribute{Computed: true, MarkdownDescription: "Number of warning findings."},
			"rule_ids": schema.ListAttribute{ElementType: types.StringType, Computed: true,
				MarkdownDescription: "The distinct rule IDs found, sorted: handy in `check` conditions."},
		},
	}
}

// auditRules lists the rules the audit runs.
func auditRules() []string {
	var out []string
	for _, r := range guard.Rules() {
		if r.Enforced.Has(guard.AtAudit) {
			out = append(out, r.ID)
		}
	}
	return out
}

func (d *clusterAuditDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.clients = clientsFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *clusterAuditDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m clusterAuditModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	cs, err := clientset(d.clients)
	if err != nil {
		resp.Diagnostics.AddError("Cannot build the Kubernetes client", err.Error())
		return
	}
	settings := settingsOf(d.clients)
	if settings.Unknown {
		// Judging with the defaults would audit protected namespaces, or
		// skip ones the configuration protects, and report it as the truth.
		resp.Diagnostics.AddError("Cannot audit the cluster yet",
			"the provider's policy settings (protected_namespaces, max_webhook_timeout_seconds, max_pods_per_namespace) are not known yet "+
				"(another resource's output, known at apply), and the audit's findings depend on them. Set them from values known at plan.")
		return
	}
	var only []string
	if !m.Namespaces.IsNull() {
		resp.Diagnostics.Append(m.Namespaces.ElementsAs(ctx, &only, false)...)
	}
	findings, err := auditCluster(ctx, cs, settings, only)
	if err != nil {
		resp.Diagnostics.AddError("Cannot audit the cluster", err.Error())
		return
	}
	var values []attr.Value
	var errs, warns int64
	ids := map[string]bool{}
	for _, f := range findings {
		r, _ := guard.Lookup(f.RuleID)
		if f.Severity == guard.Error {
			errs++
		} else {
			warns++
		}
		ids[f.RuleID] = true
		obj, diags := types.ObjectValue(auditFindingType.AttrTypes, map[string]attr.Value{
			"rule_id": types.StringValue(f.RuleID), "severity": types.StringValue(string(f.Severity)),
			"kind": types.StringValue(f.Object.Kind), "namespace": types.StringValue(f.Object.Namespace), "name": types.StringValue(f.Object.Name),
			"message": types.StringValue(f.Message), "story": types.StringValue(f.Story), "story_url": types.StringValue(r.Story.URL),
		})
		resp.Diagnostics.Append(diags...)
		values = append(values, obj)
	}
	list, diags := types.ListValue(auditFindingType, values)
	resp.Diagnostics.Append(diags...)
	sortedIDs := make([]string, 0, len(ids))
	for id := range ids {
		sortedIDs = append(sortedIDs, id)
	}
	sort.Strings(sortedIDs)
	m.ID = types.StringValue(d.clients.Kube.Host())
	m.Findings, m.Errors, m.Warnings = list, types.Int64Value(errs), types.Int64Value(warns)
	m.RuleIDs, _ = types.ListValueFrom(ctx, types.StringType, sortedIDs)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// auditCluster lists every kind of object the rules judge and runs them;
// only, when set, limits the namespaced objects to those namespaces, and
// then lists in each of them: a namespace's own RBAC (a Role, not a
// ClusterRole) is enough to audit it.
func auditCluster(ctx context.Context, cs kubernetes.Interface, s guard.Settings, only []string) ([]live.Finding, error) {
	var out []live.Finding
	check := func(obj runtime.Object) error {
		fs, err := live.Check(obj, s)
		out = append(out, fs...)
		return err
	}
	cluster := []string{""}
	scope := cluster
	if len(only) > 0 {
		scope = slices.Compact(slices.Sorted(slices.Values(only)))
	}
	for _, l := range []struct {
		what  string
		scope []string
		list  pageLister
	}{
		{"validating webhook configurations", cluster, func(ctx context.Context, _ string, o metav1.ListOptions) (runtime.Object, error) {
			return cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, o)
		}},
		{"mutating webhook configurations", cluster, func(ctx context.Context, _ string, o metav1.ListOptions) (runtime.Object, error) {
			return cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, o)
		}},
		{"cronjobs", scope, func(ctx context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return cs.BatchV1().CronJobs(ns).List(ctx, o)
		}},
		{"services", scope, func(ctx context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Services(ns).List(ctx, o)
		}},
		{"deployments", scope, func(ctx context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return cs.AppsV1().Deployments(ns).List(ctx, o)
		}},
		{"statefulsets", scope, func(ctx context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return cs.AppsV1().StatefulSets(ns).List(ctx, o)
		}},
	} {
		if err := eachListed(ctx, l.what, l.scope, l.list, check); err != nil {
			return nil, err
		}
	}
	namespaces, err := auditedNamespaces(ctx, cs, scope)
	if err != nil {
		return nil, err
	}
	var quotas []corev1.ResourceQuota
	if err := eachListed(ctx, "resource quotas", scope, func(ctx context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().ResourceQuotas(ns).List(ctx, o)
	}, func(obj runtime.Object) error {
		quotas = append(quotas, *obj.(*corev1.ResourceQuota))
		return nil
	}); err != nil {
		return nil, err
	}
	out = append(out, live.NamespaceQuotas(namespaces, quotas, s)...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Object, out[j].Object
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return out[i].RuleID < out[j].RuleID
	})
	return out, nil
}

// auditPageSize is the page the audit lists in (kubectl's default): a
// large cluster's objects of a kind are not one response the API server
// must build, and send, in one piece.
const auditPageSize = 500

// pageLister lists one page of a kind in namespace ns ("" = all, or a
// cluster-scoped kind).
type pageLister func(ctx context.Context, ns string, opts metav1.ListOptions) (runtime.Object, error)

// eachListed calls fn for every object of the kind in each namespace of
// scope, page by page.
func eachListed(ctx context.Context, what string, scope []string, list pageLister, fn func(runtime.Object) error) error {
	for _, ns := range scope {
		p := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return list(ctx, ns, o) })
		p.PageSize = auditPageSize
		if err := p.EachListItem(ctx, metav1.ListOptions{}, fn); err != nil {
			if ns != "" {
				return fmt.Errorf("list %s in namespace %s: %w", what, ns, err)
			}
			return fmt.Errorf("list %s: %w", what, err)
		}
	}
	return nil
}

// auditedNamespaces: every namespace (scope is all namespaces, [""]), or
// those of scope that exist (read one by one, which RBAC can grant per name).
func auditedNamespaces(ctx context.Context, cs kubernetes.Interface, scope []string) ([]corev1.Namespace, error) {
	var out []corev1.Namespace
	if len(scope) == 1 && scope[0] == "" {
		err := eachListed(ctx, "namespaces", []string{""}, func(ctx context.Context, _ string, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Namespaces().List(ctx, o)
		}, func(obj runtime.Object) error {
			out = append(out, *obj.(*corev1.Namespace))
			return nil
		})
		return out, err
	}
	for _, name := range scope {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get namespace %s: %w", name, err)
		}
		out = append(out, *ns)
	}
	return out, nil
}
