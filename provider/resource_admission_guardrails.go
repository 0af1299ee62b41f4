package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	admv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/provider/guard"
	guardcel "github.com/k8sguard/k8sguard/provider/guard/cel"
)

// NewAdmissionGuardrailsResource is k8sguard_admission_guardrails: one
// ValidatingAdmissionPolicy and binding per rule the API server enforces,
// generated from provider/guard.
func NewAdmissionGuardrailsResource() resource.Resource {
	return &guardrailsResource{resourceBase{typeSuffix: "_admission_guardrails"}}
}

type guardrailsResource struct{ resourceBase }

var (
	_ resource.ResourceWithConfigure      = (*guardrailsResource)(nil)
	_ resource.ResourceWithValidateConfig = (*guardrailsResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*guardrailsResource)(nil)
	_ resource.ResourceWithImportState    = (*guardrailsResource)(nil)
)

const defaultGuardrailsName = "k8sguard"

// How long apply waits, for all policies together, for the API server's
// type checker (kube-controller-manager's
// validatingadmissionpolicy-status-controller) to report on them.
const guardrailsTypeCheckTimeout = 15 * time.Second

type guardrailsModel struct {
	ID                    types.String `tfsdk:"id"`
	Name                  types.String `tfsdk:"name"`
	Actions               types.Map    `tfsdk:"actions"`
	ExemptNamespaceLabels types.Map    `tfsdk:"exempt_namespace_labels"`
	Namespaces            types.List   `tfsdk:"namespaces"`
	EffectiveActions      types.Map    `tfsdk:"effective_actions"`
	Policies              types.List   `tfsdk:"policies"`
	Drift                 types.List   `tfsdk:"drift"`
}

func (r *guardrailsResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Installs k8sguard's rules in the API server itself, as `ValidatingAdmissionPolicies` and bindings (one per kind of object and action), " +
			"so they hold for every object whatever creates it (Helm, kubectl, an operator), not only for k8sguard resources. The CEL is " +
			"generated from the same rules the plan runs, and the API server's message is the plan's diagnostic: rule ID, what is wrong, " +
			"the story it prevents. CEL runs inside the API server: there is no webhook backend to fail. Needs Kubernetes 1.30 or later.\n\n" +
			"Rules enforced: " + backquoted(guard.APIServerRules()) + ". Control-plane safety rules (webhook configurations, " +
			"CronJobs, exposed dashboards) deny by default; workload hygiene (spread, graceful shutdown, CPU limits) warns. A denied request " +
			"lists every rule the object breaks in one message; each warning is its own Warning header. Creates are judged whole; an update " +
			"only by the rules the object kept before it (the API server's own ratcheting): an object that already broke a rule, made " +
			"before the guardrails, can still be changed (a CronJob suspended, a webhook's CA rotated, an owner reference removed by the " +
			"garbage collector) and shows in `k8sguard_cluster_audit` until it is fixed.\n\n" +
			"How the object rules decide: a CronJob is unbounded when `concurrencyPolicy` is `Allow` (the default) and neither " +
			"`startingDeadlineSeconds` nor the job template's `activeDeadlineSeconds` is set. A Service exposes a dashboard when it is a " +
			"`NodePort` (source ranges do not restrict node ports), or a `LoadBalancer` without `loadBalancerSourceRanges` (or with `0.0.0.0/0` or " +
			"`::/0` among them), or a `LoadBalancer` that opens node ports: the API server allocates them unless " +
			"`allocateLoadBalancerNodePorts` is false, a `nodePort` set explicitly is opened either way, and source ranges do not restrict " +
			"them; and it either " +
			"selects a known dashboard (any selector value in: " + strings.Join(guard.DashboardNames, ", ") + ") or has a dashboard " +
			"port (port or target port 4040, Weave Scope's, or a port name containing `dashboard`). A Deployment or StatefulSet has no " +
			"spread with `replicas` ≥ 2 and neither pod anti-affinity terms nor `topologySpreadConstraints`; no graceful shutdown when a " +
			"container that declares a port has no `preStop` hook, or a `preStop` `sleep` at least as long as " +
			"`terminationGracePeriodSeconds` (default 30); a CPU limit when any container sets `resources.limits.cpu`. The `scale` subresource " +
			"(`kubectl scale`, a HorizontalPodAutoscaler) changes replicas without the pod template: the API server shows a policy an " +
			"`autoscaling/v1` Scale there, so `WORKLOAD_NO_SPREAD` cannot be decided. Its own policy (`<name>-scales-warn`) flags the scale " +
			"that makes the rule apply (from below 2 replicas to 2 or more) with a Warning, and never denies it, even when the rule is set to " +
			"`deny`: an autoscaler scaling a well-spread Deployment up must not be refused; `k8sguard_cluster_audit` reports the result. " +
			"The warning comes whether or not the workload is spread, and a waiver annotation on the workload does not silence it (a Scale " +
			"carries neither): set `WORKLOAD_NO_SPREAD` to `audit` to keep it off clients' terminals and autoscalers' logs.\n\n" +
			"A webhook configuration is judged up to " + fmt.Sprintf("%d webhooks, %d rules and %d rule entries", guard.MaxJudgedWebhooks,
			guard.MaxJudgedWebhookRules, guard.MaxJudgedRuleEntries) + " (API groups, versions, resources, operations and namespace selector " +
			"expressions), where every expression costs a fraction of the API server's CEL cost limit; a larger one is denied " +
			"(`WEBHOOK_TOO_LARGE_TO_JUDGE`, which the plan and the audit report too), in a time that does not grow with its size.\n\n" +
			"Exemptions: the provider's `protected_namespaces` are never matched; `exempt_namespace_labels` exempts namespaces by label; " +
			"one object is exempted from one waivable rule by the annotation `" + guard.WaiverAnnotationPrefix + "<RULE_ID>: \"<reason>\"` " +
			"(the reason is required). Objects being deleted are never judged, so a finalizer can always be removed.\n\n" +
			"Every expression is compiled at plan with the API server's CEL compiler for Kubernetes 1.30; apply reports the API server's " +
			"type checking of each policy (kube-controller-manager's status controller). Policies use `failurePolicy: Ignore`: an expression that cannot be evaluated admits the request " +
			"rather than blocking the cluster. With `Fail`, any such error would deny, and the webhooks policy is cluster-scoped, so an error " +
			"on a CA rotation by cert-manager or an operator's update of its own webhook configuration would stall them everywhere. Running " +
			"out of CEL cost, the one error an object's author could provoke on purpose, is kept out of reach instead: the bounds above decide " +
			"before any expression whose cost grows with the object runs.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The `name`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultGuardrailsName),
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				MarkdownDescription: "Names the set: policies and bindings are called `<name>-<objects>-<action>` (`k8sguard-webhooks-deny`), " +
					"labelled `" + guardcel.SetLabel + "=<name>` and annotated with the rules they enforce (`" + guardcel.RulesAnnotation + "`). Default `" + defaultGuardrailsName + "`."},
			"actions": schema.MapAttribute{ElementType: types.StringType, Optional: true,
				MarkdownDescription: "Action per rule ID: `deny` (the request fails with the rule's message), `warn` (admitted; kubectl, Helm " +
					"and client-go show the message as a Warning) or `audit` (admitted; the message goes to the audit log). Rules not listed take " +
					"their default (rule `GUARDRAILS_INVALID_ACTION`)."},
			"exempt_namespace_labels": schema.MapAttribute{ElementType: types.StringType, Optional: true,
				MarkdownDescription: "Namespaces carrying any of these labels (`{ \"guardrails.k8sguard.io/exempt\" = \"true\" }`) are not judged."},
			"namespaces": schema.ListAttribute{ElementType: types.StringType, Optional: true,
				MarkdownDescription: "Judge namespaced objects only in these namespaces. Default: every namespace but the protected ones, " +
					"which may not be listed (rule `GUARDRAILS_PROTECTED_NAMESPACE`). Webhook configurations are cluster-scoped and always judged."},
			"effective_actions": schema.MapAttribute{ElementType: types.StringType, Computed: true,
				MarkdownDescription: "The action of every rule, defaults included, as the bindings carry it."},
			"policies": schema.ListAttribute{ElementType: types.StringType, Computed: true,
				MarkdownDescription: "Names of the policies (and their bindings): one per kind of object and action. A deny policy reports " +
					"every rule the object breaks in one message; warn and audit policies one Warning per rule."},
			"drift": driftAttribute("What changed in the cluster since apply: policies or bindings missing, or edited outside Terraform. " +
				"Empty when the API server holds exactly what k8sguard installed; any entry shows as a diff, and apply restores them."),
		},
	}
}

func backquoted(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = "`" + id + "`"
	}
	return strings.Join(q, ", ")
}

// guardGuardrails is what the rules see. An element known only at apply
// (another resource's output) is checked then, when Terraform plans once
// more with the final values: until then a namespace is "" (no namespace
// is protected) and an action "deny" (its rule ID is still checked).
// Reading such an element into a Go string failed the plan with a Value
// Conversion Error.
func guardGuardrails(_ context.Context, m *guardrailsModel, _ *diag.Diagnostics) guard.Guardrails {
	var g guard.Guardrails
	if !m.Namespaces.IsUnknown() {
		for _, e := range m.Namespaces.Elements() {
			g.Namespaces = append(g.Namespaces, e.(types.String).ValueString())
		}
	}
	g.Actions = map[string]string{}
	if !m.Actions.IsUnknown() {
		for id, e := range m.Actions.Elements() {
			a := e.(types.String)
			g.Actions[id] = a.ValueString()
			if a.IsUnknown() {
				g.Actions[id] = guard.GuardrailActions[0]
			}
		}
	}
	return g
}

// fullyKnown reports whether v and everything in it is known.
func fullyKnown(ctx context.Context, v attr.Value) bool {
	tv, err := v.ToTerraformValue(ctx)
	return err == nil && tv.IsFullyKnown()
}

func stringMap(ctx context.Context, m types.Map, diags *diag.Diagnostics) map[string]string {
	out := map[string]string{}
	if !m.IsNull() && !m.IsUnknown() {
		diags.Append(m.ElementsAs(ctx, &out, false)...)
	}
	return out
}

func (r *guardrailsResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var cfg guardrailsModel
	if diags := req.Config.Get(ctx, &cfg); diags.HasError() {
		return
	}
	var d diag.Diagnostics
	g := guardGuardrails(ctx, &cfg, &d)
	addFindings(&resp.Diagnostics, guard.WithoutSettingsRules(guard.CheckGuardrails(g, guard.Settings{})))
}

// options are the cel.Options of a plan or state; ok is false while a
// value is unknown.
func (r *guardrailsResource) options(ctx context.Context, m *guardrailsModel, diags *diag.Diagnostics) (guardcel.Options, bool) {
	if settingsOf(r.clients).Unknown || !fullyKnown(ctx, m.Name) || !fullyKnown(ctx, m.Actions) || !fullyKnown(ctx, m.ExemptNamespaceLabels) || !fullyKnown(ctx, m.Namespaces) {
		return guardcel.Options{}, false
	}
	s := settingsOf(r.clients)
	o := guardcel.Options{Name: m.Name.ValueString(), Actions: map[string]guardcel.Action{}, ProtectedNamespaces: s.ProtectedNamespaces,
		ExemptNamespaceLabels: stringMap(ctx, m.ExemptNamespaceLabels, diags), Settings: s}
	for id, a := range stringMap(ctx, m.Actions, diags) {
		o.Actions[id] = guardcel.Action(a)
	}
	if !m.Namespaces.IsNull() {
		diags.Append(m.Namespaces.ElementsAs(ctx, &o.Namespaces, false)...)
	}
	return o, !diags.HasError()
}

func (r *guardrailsResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var plan guardrailsModel
	if !plannedModel(ctx, req, &plan, &resp.Diagnostics) {
		return
	}
	settings := settingsOf(r.clients)
	findings := withSettings(settings, guard.CheckGuardrails(guardGuardrails(ctx, &plan, &resp.Diagnostics), settings))
	addFindings(&resp.Diagnostics, findings)
	if guard.HasErrors(findings) {
		return
	}
	o, known := r.options(ctx, &plan, &resp.Diagnostics)
	if !known {
		return
	}
	policies := guardcel.Policies(o)
	for _, p := range policies {
		for _, err := range guardcel.Compile(p.Policy) {
			resp.Diagnostics.AddError("A generated guardrail does not compile", err.Error()+". This is a bug in k8sguard: please report it.")
		}
	}
	plan.EffectiveActions, plan.Policies = plannedOutputs(policies)
	plan.Drift = emptyStringList()
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func plannedOutputs(policies []guardcel.Policy) (types.Map, types.List) {
	actions := map[string]string{}
	var names []string
	for _, p := range policies {
		for _, id := range p.RuleIDs {
			// A rule's first policy carries its action; a second (the scale
			// subresource's) may cap it at warn.
			if _, seen := actions[id]; !seen {
				actions[id] = string(p.Action)
			}
		}
		names = append(names, p.Policy.Name)
	}
	m, _ := types.MapValueFrom(context.Background(), types.StringType, actions)
	l, _ := types.ListValueFrom(context.Background(), types.StringType, names)
	return m, l
}

func (r *guardrailsResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.apply(ctx, req.Plan, &resp.State, &resp.Diagnostics, true)
}

func (r *guardrailsResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.apply(ctx, req.Plan, &resp.State, &resp.Diagnostics, false)
}

// apply writes every policy, then its binding (a binding to a policy that
// does not exist yet is inert, but the order keeps it obvious), removes
// objects of the set that no rule renders any more, and waits for the API
// server to load the policies. On create an existing object of the same
// name is an error (adopt with terraform import); on update it is brought
// back to the plan.
func (r *guardrailsResource) apply(ctx context.Context, src modelSource, state stateSetter, diags *diag.Diagnostics, create bool) {
	var plan guardrailsModel
	cs, ok := modelAndClient(ctx, src, &plan, diags, r.kubeClient)
	if !ok {
		return
	}
	o, _ := r.options(ctx, &plan, diags)
	if diags.HasError() {
		return
	}
	policies := guardcel.Policies(o)
	api := cs.AdmissionregistrationV1()
	plan.ID = plan.Name
	if create {
		// Every name is checked before anything is written: a conflict
		// found half-way would leave the policies written so far enforced
		// in the cluster, in no state, and refused as existing on the
		// next apply.
		for _, p := range policies {
			if err := refuseExisting(ctx, api.ValidatingAdmissionPolicies(), "ValidatingAdmissionPolicy", p.Policy.Name); err != nil {
				diags.AddError(fmt.Sprintf("Cannot create ValidatingAdmissionPolicy %s", p.Policy.Name), err.Error())
			}
			if err := refuseExisting(ctx, api.ValidatingAdmissionPolicyBindings(), "ValidatingAdmissionPolicyBinding", p.Binding.Name); err != nil {
				diags.AddError(fmt.Sprintf("Cannot create ValidatingAdmissionPolicyBinding %s", p.Binding.Name), err.Error())
			}
		}
		if diags.HasError() {
			return
		}
	}
	for _, p := range policies {
		if err := putPolicy(ctx, cs, p.Policy, create); err != nil {
			diags.AddError(fmt.Sprintf("Cannot write ValidatingAdmissionPolicy %s", p.Policy.Name), err.Error())
			return
		}
		if err := putBinding(ctx, cs, p.Binding, create); err != nil {
			diags.AddError(fmt.Sprintf("Cannot write ValidatingAdmissionPolicyBinding %s", p.Binding.Name), err.Error())
			return
		}
	}
	if err := removeStale(ctx, cs, o.Name, policies); err != nil {
		diags.AddError("Cannot remove guardrails no rule renders any more", err.Error())
	}
	plan.EffectiveActions, plan.Policies = plannedOutputs(policies)
	plan.Drift = emptyStringList()
	diags.Append(state.Set(ctx, &plan)...)
	reportTypeChecking(ctx, api.ValidatingAdmissionPolicies(), policies, diags)
}

// stateSetter is resp.State of Create and Update.
type stateSetter interface {
	Set(ctx context.Context, val any) diag.Diagnostics
}

func alreadyExists(kind, name string) error {
	return fmt.Errorf("%s %s already exists: k8sguard does not adopt existing objects, whose rules it would silently replace. "+
		"To manage it with k8sguard, import the set first: terraform import <resource address> <name>", kind, name)
}

// admissionObject is a policy or a binding: what put needs of either.
type admissionObject interface {
	*admv1.ValidatingAdmissionPolicy | *admv1.ValidatingAdmissionPolicyBinding
	metav1.Object
}

// objectAPI is the part of client-go's typed client put uses.
type objectAPI[T admissionObject] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// refuseExisting is nil when no object is called name.
func refuseExisting[T admissionObject](ctx context.Context, api objectAPI[T], kind, name string) error {
	_, err := api.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	}
	return alreadyExists(kind, name)
}

// put creates want, or (unless create, where an existing object is
// refused rather than adopted) updates the live object's labels and spec
// to want's. copySpec copies want's spec into live.
func put[T admissionObject](ctx context.Context, api objectAPI[T], kind string, want T, create bool, copySpec func(live, want T)) error {
	live, err := api.Get(ctx, want.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
		return err
	case err != nil:
		return err
	case create:
		return alreadyExists(kind, want.GetName())
	}
	live.SetLabels(want.GetLabels())
	// Our annotations (the rules a policy holds, which import reads back)
	// follow the configuration; anyone else's stay.
	annotations := live.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	maps.Copy(annotations, want.GetAnnotations())
	live.SetAnnotations(annotations)
	copySpec(live, want)
	_, err = api.Update(ctx, live, metav1.UpdateOptions{})
	return err
}

func putPolicy(ctx context.Context, cs kubernetes.Interface, want *admv1.ValidatingAdmissionPolicy, create bool) error {
	return put(ctx, cs.AdmissionregistrationV1().ValidatingAdmissionPolicies(), "ValidatingAdmissionPolicy", want, create,
		func(live, want *admv1.ValidatingAdmissionPolicy) { live.Spec = want.Spec })
}

func putBinding(ctx context.Context, cs kubernetes.Interface, want *admv1.ValidatingAdmissionPolicyBinding, create bool) error {
	return put(ctx, cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings(), "ValidatingAdmissionPolicyBinding", want, create,
		func(live, want *admv1.ValidatingAdmissionPolicyBinding) { live.Spec = want.Spec })
}

func setSelector(set string) metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: guardcel.ManagedByLabel + "=" + guardcel.ManagedBy + "," + guardcel.SetLabel + "=" + set}
}

// removeStale deletes the set's bindings and policies that are not in keep
// (all of them when keep is empty): bindings first, so no binding is left
// pointing at a missing policy.
func removeStale(ctx context.Context, cs kubernetes.Interface, set string, keep []guardcel.Policy) error {
	names := map[string]bool{}
	for _, p := range keep {
		names[p.Policy.Name] = true
	}
	api := cs.AdmissionregistrationV1()
	bindings, err := api.ValidatingAdmissionPolicyBindings().List(ctx, setSelector(set))
	if err != nil {
		return fmt.Errorf("list bindings of %s: %w", set, err)
	}
	for _, b := range bindings.Items {
		if !names[b.Name] {
			if err := api.ValidatingAdmissionPolicyBindings().Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete binding %s: %w", b.Name, err)
			}
		}
	}
	policies, err := api.ValidatingAdmissionPolicies().List(ctx, setSelector(set))
	if err != nil {
		return fmt.Errorf("list policies of %s: %w", set, err)
	}
	for _, p := range policies.Items {
		if !names[p.Name] {
			if err := api.ValidatingAdmissionPolicies().Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete policy %s: %w", p.Name, err)
			}
		}
	}
	return nil
}

type policyGetter interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*admv1.ValidatingAdmissionPolicy, error)
}

// reportTypeChecking waits until the type checker has seen every policy's
// generation and turns its warnings into diagnostics. A cluster whose
// controller-manager does not run the status controller gets one warning
// saying so; the policies are enforced either way.
func reportTypeChecking(ctx context.Context, api policyGetter, policies []guardcel.Policy, diags *diag.Diagnostics) {
	deadline := time.Now().Add(guardrailsTypeCheckTimeout)
	pending := make([]string, 0, len(policies))
	for _, p := range policies {
		pending = append(pending, p.Name)
	}
	for len(pending) > 0 {
		var still []string
		for _, name := range pending {
			p, err := api.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				diags.AddWarning(fmt.Sprintf("Cannot read ValidatingAdmissionPolicy %s", name), err.Error())
				continue
			}
			if p.Status.ObservedGeneration < p.Generation {
				still = append(still, name)
				continue
			}
			if tc := p.Status.TypeChecking; tc != nil && len(tc.ExpressionWarnings) > 0 {
				var lines []string
				for _, w := range tc.ExpressionWarnings {
					lines = append(lines, w.FieldRef+": "+w.Warning)
				}
				diags.AddWarning(fmt.Sprintf("The API server's type checker warns about %s", name), strings.Join(lines, "\n"))
			}
		}
		pending = still
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			diags.AddWarning("The API server has not type-checked the guardrails yet",
				fmt.Sprintf("%s: no status after %s. The policies are enforced already; their type checking is reported by "+
					"kube-controller-manager's validatingadmissionpolicy-status-controller. Check it runs, then: kubectl get "+
					"validatingadmissionpolicy %s -o yaml.", strings.Join(pending, ", "), guardrailsTypeCheckTimeout, pending[0]))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (r *guardrailsResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if !r.clients.kubeKnown() { // the provider's configuration comes from another resource: keep the state until apply
		return
	}
	var state guardrailsModel
	cs, ok := modelAndClient(ctx, req.State, &state, &resp.Diagnostics, r.kubeClient)
	if !ok {
		return
	}
	set := state.Name.ValueString()
	api := cs.AdmissionregistrationV1()
	policies, err := api.ValidatingAdmissionPolicies().List(ctx, setSelector(set))
	if err != nil {
		resp.Diagnostics.AddError("Cannot list ValidatingAdmissionPolicies", err.Error())
		return
	}
	bindings, err := api.ValidatingAdmissionPolicyBindings().List(ctx, setSelector(set))
	if err != nil {
		resp.Diagnostics.AddError("Cannot list ValidatingAdmissionPolicyBindings", err.Error())
		return
	}
	if len(policies.Items) == 0 && len(bindings.Items) == 0 {
		resp.State.RemoveResource(ctx)
		return
	}
	livePolicies := map[string]*admv1.ValidatingAdmissionPolicy{}
	for i := range policies.Items {
		livePolicies[policies.Items[i].Name] = &policies.Items[i]
	}
	liveBindings := map[string]*admv1.ValidatingAdmissionPolicyBinding{}
	for i := range bindings.Items {
		liveBindings[bindings.Items[i].Name] = &bindings.Items[i]
	}

	// Import: the configuration is read back from the bindings.
	if state.Actions.IsNull() && state.EffectiveActions.IsNull() {
		adoptFromBindings(ctx, &state, bindings.Items)
	}
	o, known := r.options(ctx, &state, &resp.Diagnostics)
	if !known || resp.Diagnostics.HasError() {
		return
	}
	want := guardcel.Policies(o)
	state.ID = state.Name
	state.Drift = driftList(ctx, guardrailsDrift(want, livePolicies, liveBindings))
	actions := map[string]string{}
	var names []string
	for _, p := range want {
		names = append(names, p.Policy.Name)
		if b, ok := liveBindings[p.Binding.Name]; ok {
			for _, id := range p.RuleIDs {
				if _, seen := actions[id]; !seen { // as plannedOutputs
					actions[id] = actionOf(b.Spec.ValidationActions)
				}
			}
		}
	}
	state.EffectiveActions, _ = types.MapValueFrom(ctx, types.StringType, actions)
	state.Policies, _ = types.ListValueFrom(ctx, types.StringType, names)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// actionOf names a binding's validationActions as the resource's action.
func actionOf(v []admv1.ValidationAction) string {
	for _, a := range guardcel.Actions {
		if slices.Equal(v, guardcel.ValidationActions(a)) {
			return string(a)
		}
	}
	parts := make([]string, len(v))
	for i, a := range v {
		parts[i] = string(a)
	}
	return strings.Join(parts, "+")
}

// guardrailsDrift compares the live set with what the configuration
// renders, object by object, in rule order.
func guardrailsDrift(want []guardcel.Policy, policies map[string]*admv1.ValidatingAdmissionPolicy, bindings map[string]*admv1.ValidatingAdmissionPolicyBinding) []string {
	var drift []string
	for _, p := range want {
		switch lp, ok := policies[p.Policy.Name]; {
		case !ok:
			drift = append(drift, fmt.Sprintf("ValidatingAdmissionPolicy %s (%s) is missing", p.Policy.Name, strings.Join(p.RuleIDs, ", ")))
		case !equality.Semantic.DeepEqual(lp.Spec.Validations, p.Policy.Spec.Validations) ||
			!equality.Semantic.DeepEqual(lp.Spec.MatchConditions, p.Policy.Spec.MatchConditions) ||
			!equality.Semantic.DeepEqual(lp.Spec.FailurePolicy, p.Policy.Spec.FailurePolicy) ||
			!sameMatch(lp.Spec.MatchConstraints, p.Policy.Spec.MatchConstraints) ||
			lp.Spec.ParamKind != nil || len(lp.Spec.Variables) > 0 || len(lp.Spec.AuditAnnotations) > 0:
			drift = append(drift, fmt.Sprintf("ValidatingAdmissionPolicy %s (%s) was changed outside Terraform", p.Policy.Name, strings.Join(p.RuleIDs, ", ")))
		}
		switch lb, ok := bindings[p.Binding.Name]; {
		case !ok:
			drift = append(drift, fmt.Sprintf("ValidatingAdmissionPolicyBinding %s (%s) is missing", p.Binding.Name, strings.Join(p.RuleIDs, ", ")))
		case lb.Spec.PolicyName != p.Binding.Spec.PolicyName ||
			!slices.Equal(lb.Spec.ValidationActions, p.Binding.Spec.ValidationActions) ||
			lb.Spec.ParamRef != nil || !sameMatch(lb.Spec.MatchResources, p.Binding.Spec.MatchResources):
			drift = append(drift, fmt.Sprintf("ValidatingAdmissionPolicyBinding %s (%s) was changed outside Terraform (action %s)",
				p.Binding.Name, strings.Join(p.RuleIDs, ", "), actionOf(lb.Spec.ValidationActions)))
		}
	}
	var extra []string
	for name := range policies {
		if !slices.ContainsFunc(want, func(p guardcel.Policy) bool { return p.Policy.Name == name }) {
			extra = append(extra, fmt.Sprintf("ValidatingAdmissionPolicy %s is labelled for this set but no rule renders it", name))
		}
	}
	sort.Strings(extra)
	return append(drift, extra...)
}

// sameMatch reports whether live matches what want renders: the same
// namespace selector and resource rules, nothing excluded and no object
// selector. What the API server fills in (empty selectors, matchPolicy
// Equivalent) is not drift; an operation or resource taken out, an
// exclusion or a selector that matches nothing would switch a rule off
// without a word.
func sameMatch(live, want *admv1.MatchResources) bool {
	if live == nil || want == nil {
		return live == want
	}
	return sameSelector(live.NamespaceSelector, want.NamespaceSelector) && sameSelector(live.ObjectSelector, want.ObjectSelector) &&
		equality.Semantic.DeepEqual(live.ResourceRules, want.ResourceRules) &&
		equality.Semantic.DeepEqual(live.ExcludeResourceRules, want.ExcludeResourceRules) &&
		(live.MatchPolicy == nil || *live.MatchPolicy == admv1.Equivalent)
}

// sameSelector compares label selectors, an empty one and none alike.
func sameSelector(a, b *metav1.LabelSelector) bool {
	empty := func(s *metav1.LabelSelector) bool {
		return s == nil || len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
	}
	return empty(a) && empty(b) || equality.Semantic.DeepEqual(a, b)
}

// adoptFromBindings fills an imported state's actions (those that differ
// from the defaults) and namespace choices from the live bindings.
func adoptFromBindings(ctx context.Context, state *guardrailsModel, bindings []admv1.ValidatingAdmissionPolicyBinding) {
	actions := map[string]string{}
	var namespaces []string
	exempt := map[string]string{}
	for _, b := range bindings {
		a := actionOf(b.Spec.ValidationActions)
		for _, id := range strings.Split(b.Annotations[guardcel.RulesAnnotation], ",") {
			if id != "" && a != string(guardcel.DefaultAction(id)) {
				actions[id] = a
			}
		}
		if b.Spec.MatchResources == nil || b.Spec.MatchResources.NamespaceSelector == nil {
			continue
		}
		namespaces, exempt = nil, map[string]string{}
		for _, e := range b.Spec.MatchResources.NamespaceSelector.MatchExpressions {
			switch {
			case e.Key == guard.NamespaceNameLabel && e.Operator == metav1.LabelSelectorOpIn:
				namespaces = e.Values
			case e.Key != guard.NamespaceNameLabel && e.Operator == metav1.LabelSelectorOpNotIn && len(e.Values) == 1:
				exempt[e.Key] = e.Values[0]
			}
		}
	}
	state.Actions = types.MapNull(types.StringType)
	if len(actions) > 0 {
		state.Actions, _ = types.MapValueFrom(ctx, types.StringType, actions)
	}
	state.ExemptNamespaceLabels = types.MapNull(types.StringType)
	if len(exempt) > 0 {
		state.ExemptNamespaceLabels, _ = types.MapValueFrom(ctx, types.StringType, exempt)
	}
	state.Namespaces = types.ListNull(types.StringType)
	if len(namespaces) > 0 {
		state.Namespaces, _ = types.ListValueFrom(ctx, types.StringType, namespaces)
	}
}

func (r *guardrailsResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state guardrailsModel
	cs, ok := modelAndClient(ctx, req.State, &state, &resp.Diagnostics, r.kubeClient)
	if !ok {
		return
	}
	if err := removeStale(ctx, cs, state.Name.ValueString(), nil); err != nil {
		resp.Diagnostics.AddError("Cannot remove the guardrails", err.Error())
	}
}

// ImportState takes the set's name.
func (r *guardrailsResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if req.ID == "" || strings.Contains(req.ID, "/") {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("%q: import admission guardrails by their set name, for example %s", req.ID, defaultGuardrailsName))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
