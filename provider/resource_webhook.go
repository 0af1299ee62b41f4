package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// NewValidatingWebhookResource is k8sguard_validating_webhook.
func NewValidatingWebhookResource() resource.Resource {
	return newWebhookResource[webhookModel](validatingKind)
}

// NewMutatingWebhookResource is k8sguard_mutating_webhook: the same resource
// with the mutating API object and reinvocation_policy.
func NewMutatingWebhookResource() resource.Resource {
	return newWebhookResource[mutatingWebhookModel](mutatingKind)
}

func newWebhookResource[W any, P webhookEntry[W]](kind webhookKind) *webhookResource[W, P] {
	return &webhookResource[W, P]{resourceBase: resourceBase{typeSuffix: kind.typeSuffix}, kind: kind}
}

// webhookResource is one implementation for both webhook kinds; W is the
// kind's webhook block model.
type webhookResource[W any, P webhookEntry[W]] struct {
	resourceBase
	kind webhookKind
}

var (
	_ resource.ResourceWithConfigure      = (*webhookResource[webhookModel, *webhookModel])(nil)
	_ resource.ResourceWithValidateConfig = (*webhookResource[webhookModel, *webhookModel])(nil)
	_ resource.ResourceWithModifyPlan     = (*webhookResource[webhookModel, *webhookModel])(nil)
	_ resource.ResourceWithImportState    = (*webhookResource[webhookModel, *webhookModel])(nil)
)

func (r *webhookResource[W, P]) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	k := r.kind
	webhookAttrs := map[string]schema.Attribute{
		"name": schema.StringAttribute{Required: true, MarkdownDescription: "Webhook name, a fully qualified domain name such as `validating-webhook.openpolicyagent.org`, unique in the configuration."},
		"url": schema.StringAttribute{Optional: true, MarkdownDescription: "Call the backend at this `https://` URL instead of a `service`. Pin its CA with `ca_bundle` " +
			"(rule `WEBHOOK_NO_CA`), or leave it unset for cert-manager's cainjector: once the live configuration carries one of its annotations " +
			"(`cert-manager.io/inject-ca-from`, `inject-ca-from-secret`, `inject-apiserver-ca`), the rule no longer warns. `require_ready_backend` does not apply to URL backends."},
		"ca_bundle": schema.StringAttribute{Optional: true, MarkdownDescription: "PEM-encoded CA bundle the API server uses to verify the backend's certificate, for example `file(\"ca.pem\")`. " +
			"Set, it is restored when changed outside Terraform. Unset, k8sguard leaves the webhook's `caBundle` as it finds it, so one injected by " +
			"another actor (cert-manager's cainjector) is neither a diff nor removed by an apply."},
		"failure_policy": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("Ignore"),
			Validators:          []validator.String{stringvalidator.OneOf("Ignore", "Fail")},
			MarkdownDescription: "What the API server does when the backend cannot answer: `Ignore` (default) admits the request, `Fail` rejects it. `Fail` needs an opt-in scope (rules `WEBHOOK_FAIL_UNSCOPED`, `WEBHOOK_CLUSTER_SCOPED_FAIL`)."},
		"timeout_seconds": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(3),
			Validators:          []validator.Int64{int64validator.Between(1, 30)},
			MarkdownDescription: "How long the API server waits for the backend. Default 3; at most the provider's `max_webhook_timeout_seconds` (rule `WEBHOOK_TIMEOUT`)."},
		"side_effects": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("None"),
			MarkdownDescription: "`None` (default) or `NoneOnDryRun` (rule `WEBHOOK_SIDE_EFFECTS`)."},
		"match_policy": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("Equivalent"),
			Validators:          []validator.String{stringvalidator.OneOf("Exact", "Equivalent")},
			MarkdownDescription: "`Equivalent` (default) also sends requests for the same objects through other API versions; `Exact` only the listed ones."},
		"admission_review_versions": schema.ListAttribute{ElementType: types.StringType, Optional: true, Computed: true,
			Default:             listdefault.StaticValue(types.ListValueMust(types.StringType, []attr.Value{types.StringValue("v1")})),
			Validators:          []validator.List{listvalidator.SizeAtLeast(1)},
			MarkdownDescription: "AdmissionReview versions the backend understands, preferred first. Default `[\"v1\"]`."},
		"require_ready_backend": schema.BoolAttribute{Optional: true, Computed: true,
			MarkdownDescription: "At apply, refuse to register the hook while its `service` does not exist or has no ready endpoints in its EndpointSlices " +
				"(rule `WEBHOOK_BACKEND_NOT_READY`). Default: true when `failure_policy = \"Fail\"`, else false."},
		"effective_namespace_selector": schema.StringAttribute{Computed: true,
			MarkdownDescription: "The namespace selector really sent, in kubectl syntax: `namespace_selector` plus " +
				"`kubernetes.io/metadata.name notin (...)` for the provider's protected namespaces and the backend's own namespace."},
	}
	if k.mutating {
		webhookAttrs["reinvocation_policy"] = schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("Never"),
			Validators:          []validator.String{stringvalidator.OneOf("Never", "IfNeeded")},
			MarkdownDescription: "`Never` (default) or `IfNeeded`: call the hook again when a later mutating webhook changed the object."}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: fmt.Sprintf("Manages one `admissionregistration.k8s.io/v1` `%s`, hardened: the webhook shapes behind the "+
			"public admission-webhook outages are refused at plan (see the rules guide), protected namespaces and the backend's own namespace are "+
			"always excluded, and a `Fail` hook is not registered while its backend has no ready endpoints. The object must not exist yet: "+
			"an existing one is adopted only through `terraform import`.", k.apiKind),
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The object name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name": schema.StringAttribute{Required: true, MarkdownDescription: "Name of the " + k.apiKind + " object. Changing it replaces the object.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"waivers":  waiversAttribute(),
			"findings": findingsAttribute(),
		},
		Blocks: map[string]schema.Block{
			"webhook": schema.ListNestedBlock{
				MarkdownDescription: "One webhook of the configuration (at least one).",
				Validators:          []validator.List{listvalidator.IsRequired(), listvalidator.SizeAtLeast(1)},
				NestedObject: schema.NestedBlockObject{
					Attributes: webhookAttrs,
					Blocks: map[string]schema.Block{
						"service": schema.ListNestedBlock{
							MarkdownDescription: "The in-cluster backend (exactly one of `service` and `url`).",
							Validators:          []validator.List{listvalidator.SizeAtMost(1)},
							NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
								"namespace": schema.StringAttribute{Required: true, MarkdownDescription: "Namespace of the backend service; always excluded from the hook's namespaces."},
								"name":      schema.StringAttribute{Required: true, MarkdownDescription: "Name of the backend service."},
								"path":      schema.StringAttribute{Optional: true, MarkdownDescription: "URL path the API server calls, for example `/v1/admit`."},
								"port": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(443),
									Validators: []validator.Int64{int64validator.Between(1, 65535)}, MarkdownDescription: "Service port. Default 443."},
							}},
						},
						"rule": schema.ListNestedBlock{
							MarkdownDescription: "What the hook intercepts (at least one). Wildcards and the requests the control plane needs to stay alive " +
								"(leases, events, node status, token and access reviews, certificate requests) are refused, matched as the API server matches " +
								"rules, in every API version (rules `WEBHOOK_WILDCARD_RULE`, `WEBHOOK_CRITICAL_RESOURCE`; the table is in the rules guide). " +
								"Webhook configurations and admission policies are never sent to webhooks (`WEBHOOK_NO_EFFECT`).",
							Validators: []validator.List{listvalidator.IsRequired(), listvalidator.SizeAtLeast(1)},
							NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
								"api_groups":   schema.ListAttribute{ElementType: types.StringType, Required: true, MarkdownDescription: "API groups, `\"\"` for the core group."},
								"api_versions": schema.ListAttribute{ElementType: types.StringType, Required: true, MarkdownDescription: "API versions, for example `[\"v1\"]`."},
								"resources": schema.ListAttribute{ElementType: types.StringType, Required: true, MarkdownDescription: "Resources (plural, lower case), or " +
									"`resource/subresource`. As in the API server, `pods` is the resource alone and `pods/*` the resource *and* all its subresources."},
								"operations": schema.ListAttribute{ElementType: types.StringType, Required: true,
									Validators:          []validator.List{listvalidator.ValueStringsAre(stringvalidator.OneOf("CREATE", "UPDATE", "DELETE", "CONNECT", "*"))},
									MarkdownDescription: "Operations: `CREATE`, `UPDATE`, `DELETE`, `CONNECT`."},
								"scope": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("Namespaced"),
									Validators:          []validator.String{stringvalidator.OneOf("Namespaced", "Cluster", "*")},
									MarkdownDescription: "`Namespaced` (default, unlike the API's `*`), `Cluster` or `*`."},
							}},
						},
						"namespace_selector": selectorBlock("Namespaces the hook applies to. Opt namespaces in (match_labels, or an `In`/`Exists` expression): " +
							"a `Fail` hook requires it. Protected namespaces and the backend's namespace are always excluded (see `effective_namespace_selector`)."),
						"object_selector": selectorBlock("Objects the hook applies to, by their labels."),
						"match_condition": schema.ListNestedBlock{
							MarkdownDescription: "CEL conditions (at most 64) that must all be true for a request the rules match to be sent to the hook; " +
								"a request for which one is false skips the hook, so its backend being down cannot affect it. Each expression is " +
								"compiled at `terraform validate`/`plan` with the API server's own CEL environment for match conditions, so a bad " +
								"one fails the plan, not the apply. A match condition also counts as scoping a `Fail` hook on cluster-scoped rules " +
								"(rule `WEBHOOK_CLUSTER_SCOPED_FAIL`).",
							Validators: []validator.List{listvalidator.SizeAtMost(maxMatchConditions)},
							NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
								"name": schema.StringAttribute{Required: true, MarkdownDescription: "Condition name, unique in the webhook: a Kubernetes qualified name " +
									"(for example `guarded-names-only`), shown in the API server's errors and metrics."},
								"expression": schema.StringAttribute{Required: true, MarkdownDescription: "CEL expression that returns a bool, over `object` (null on DELETE), " +
									"`oldObject` (null on CREATE), `request` (the AdmissionRequest: `request.operation`, `request.userInfo`, ...) " +
									"and `authorizer`/`authorizer.requestResource` (authorization checks), for example " +
									"`object.metadata.name.startsWith(\"guarded-\")`. `params` is not available to webhooks."},
							}},
						},
					},
				},
			},
		},
	}
}

func selectorBlock(description string) schema.ListNestedBlock {
	return schema.ListNestedBlock{
		MarkdownDescription: description,
		Validators:          []validator.List{listvalidator.SizeAtMost(1)},
		NestedObject: schema.NestedBlockObject{
			Attributes: map[string]schema.Attribute{
				"match_labels": schema.MapAttribute{ElementType: types.StringType, Optional: true, MarkdownDescription: "Labels that must all be present with these values."},
			},
			Blocks: map[string]schema.Block{
				"match_expressions": schema.ListNestedBlock{
					MarkdownDescription: "Set-based requirements; all must hold.",
					NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
						"key": schema.StringAttribute{Required: true, MarkdownDescription: "Label key."},
						"operator": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.OneOf("In", "NotIn", "Exists", "DoesNotExist")},
							MarkdownDescription: "`In`, `NotIn`, `Exists` or `DoesNotExist`."},
						"values": schema.ListAttribute{ElementType: types.StringType, Optional: true, MarkdownDescription: "Values for `In` and `NotIn`."},
					}},
				},
			},
		},
	}
}

// ValidateConfig runs, during `terraform validate` and before the provider
// is configured, the rules that do not read provider settings, and reports
// their errors only; plan (ModifyPlan) runs every rule with the provider's
// settings and reports errors and warnings once.
func (r *webhookResource[W, P]) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var cfg webhookConfigurationModel[W]
	// A block generated by `dynamic` over a variable is not known during
	// validate: leave such configurations to plan, which runs every rule.
	if diags := req.Config.Get(ctx, &cfg); diags.HasError() {
		return
	}
	for i := range cfg.Webhooks {
		m := P(&cfg.Webhooks[i]).common()
		validateMatchConditions(i, m.MatchConditions, &resp.Diagnostics)
		if m.URL.IsUnknown() {
			continue
		}
		if hasURL, hasService := !m.URL.IsNull(), len(m.Service) > 0; hasURL == hasService {
			resp.Diagnostics.AddAttributeError(path.Root("webhook").AtListIndex(i), "Webhook backend",
				fmt.Sprintf("webhook %q needs exactly one backend: a service block or a url.", m.Name.ValueString()))
		}
	}
	reportErrors(ctx, guard.WithoutSettingsRules(r.check(ctx, &cfg, guard.Settings{}, false, &resp.Diagnostics)), cfg.Waivers, &resp.Diagnostics)
}

// check runs the rules on a configuration. caInjected: the live object
// asks cert-manager's cainjector to fill in the CA (guard.CAInjected),
// which an unset ca_bundle leaves to it.
func (r *webhookResource[W, P]) check(ctx context.Context, m *webhookConfigurationModel[W], settings guard.Settings, caInjected bool, diags *diag.Diagnostics) []guard.Finding {
	webhooks := make([]guard.Webhook, len(m.Webhooks))
	for i := range m.Webhooks {
		webhooks[i] = guardWebhook(ctx, P(&m.Webhooks[i]).common(), diags)
		webhooks[i].CAInjected = caInjected
	}
	return guard.CheckWebhooks(webhooks, settings)
}

// liveCAInjected reports whether the object being updated asks a CA
// injector for its webhooks' CA (an annotation set with kubectl, or kept
// from the object adopted by import). Only a url webhook without
// ca_bundle needs to know, so only then is the object read; a new object,
// an unknown provider configuration or a failed read leave the warning.
func (r *webhookResource[W, P]) liveCAInjected(ctx context.Context, req resource.ModifyPlanRequest, plan *webhookConfigurationModel[W]) bool {
	if req.State.Raw.IsNull() || !r.clients.kubeKnown() || plan.Name.IsUnknown() {
		return false
	}
	needed := false
	for i := range plan.Webhooks {
		m := P(&plan.Webhooks[i]).common()
		needed = needed || !m.URL.IsNull() && m.CABundle.IsNull()
	}
	if !needed {
		return false
	}
	live, err := r.kind.get(ctx, r.clients, plan.Name.ValueString())
	if err != nil || live == nil {
		return false
	}
	return guard.CAInjected(live.annotations)
}

func (r *webhookResource[W, P]) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var plan, cfg webhookConfigurationModel[W]
	if !plannedModel(ctx, req, &plan, &resp.Diagnostics) {
		return
	}
	if !readUnlessUnknown(ctx, req.Config, req, &cfg, &resp.Diagnostics) {
		return
	}
	settings := settingsOf(r.clients)
	plan.Findings = plannedFindingsWith(req.Config, settings, reportFindings(ctx, withSettings(settings, r.check(ctx, &plan, settings, r.liveCAInjected(ctx, req, &plan), &resp.Diagnostics)), plan.Waivers, &resp.Diagnostics))
	for i := range plan.Webhooks {
		m := P(&plan.Webhooks[i]).common()
		if i < len(cfg.Webhooks) && P(&cfg.Webhooks[i]).common().RequireReadyBackend.IsNull() {
			if m.FailurePolicy.IsUnknown() {
				m.RequireReadyBackend = types.BoolUnknown()
			} else {
				m.RequireReadyBackend = types.BoolValue(defaultRequireReadyBackend(m.FailurePolicy.ValueString()))
			}
		}
		gw := guardWebhook(ctx, m, &resp.Diagnostics)
		if gw.NamespaceSelector.Unknown || (len(m.Service) > 0 && m.Service[0].Namespace.IsUnknown()) || settings.Unknown {
			m.EffectiveNamespaceSelector = types.StringUnknown()
		} else {
			m.EffectiveNamespaceSelector = types.StringValue(formatSelector(guard.EffectiveNamespaceSelector(gw, settings)))
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	keepFindingsWording(ctx, req, resp)
}

func (r *webhookResource[W, P]) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.applyPlan(ctx, req.Plan, &resp.State, false, &resp.Diagnostics)
}

func (r *webhookResource[W, P]) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.applyPlan(ctx, req.Plan, &resp.State, true, &resp.Diagnostics)
}

// applyPlan is Create and Update: apply the plan (on update, replacing the
// live object's webhooks) and save it as the state.
func (r *webhookResource[W, P]) applyPlan(ctx context.Context, src tfsdk.Plan, state *tfsdk.State, update bool, diags *diag.Diagnostics) {
	var plan webhookConfigurationModel[W]
	diags.Append(src.Get(ctx, &plan)...)
	if diags.HasError() {
		return
	}
	var live *liveConfiguration
	if update {
		var err error
		live, err = r.kind.get(ctx, r.clients, plan.Name.ValueString())
		if err != nil {
			diags.AddError(fmt.Sprintf("Cannot read %s %q", r.kind.apiKind, plan.Name.ValueString()), err.Error())
			return
		}
	}
	r.apply(ctx, &plan, live, diags)
	if diags.HasError() {
		return
	}
	diags.Append(state.Set(ctx, &plan)...)
}

// apply checks the backends, then creates the object (live nil) or
// replaces the live object's webhooks, keeping its labels and annotations.
func (r *webhookResource[W, P]) apply(ctx context.Context, plan *webhookConfigurationModel[W], live *liveConfiguration, diags *diag.Diagnostics) {
	settings := settingsOf(r.clients)
	name := plan.Name.ValueString()
	cfg := liveConfiguration{name: name}
	if live != nil {
		cfg.resourceVersion, cfg.labels, cfg.annotations = live.resourceVersion, live.labels, live.annotations
	}
	for i := range plan.Webhooks {
		e := P(&plan.Webhooks[i])
		m := e.common()
		if m.RequireReadyBackend.ValueBool() && len(m.Service) > 0 {
			gw := guardWebhook(ctx, m, diags)
			backend, err := backendOf(ctx, r.clients, gw.Service)
			if err != nil {
				diags.AddAttributeError(path.Root("webhook").AtListIndex(i).AtName("service"), "Cannot check the webhook backend", err.Error())
				return
			}
			addFindings(diags, guard.CheckBackendReady(i, gw, backend))
		}
		w := apiWebhook(ctx, m, settings, diags)
		if m.CABundle.IsNull() && live != nil {
			w.ClientConfig.CABundle = live.caBundle(w.Name) // unset: left as another actor (cainjector) set it
		}
		cfg.webhooks = append(cfg.webhooks, w)
		if mw, ok := any(e).(*mutatingWebhookModel); ok {
			cfg.reinvocation = append(cfg.reinvocation, mw.ReinvocationPolicy.ValueString())
		}
	}
	if diags.HasError() {
		return
	}
	if err := r.kind.put(ctx, r.clients, cfg); err != nil {
		diags.AddError(fmt.Sprintf("Cannot write %s %q", r.kind.apiKind, name), err.Error())
		return
	}
	plan.ID = types.StringValue(name)
}

func (r *webhookResource[W, P]) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if !r.clients.kubeKnown() { // the provider's configuration comes from another resource: keep the state until apply
		return
	}
	var state webhookConfigurationModel[W]
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	live, err := r.kind.get(ctx, r.clients, name)
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot read %s %q", r.kind.apiKind, name), err.Error())
		return
	}
	if live == nil {
		resp.State.RemoveResource(ctx)
		return
	}
	settings := settingsOf(r.clients)
	webhooks := make([]W, len(live.webhooks))
	for i, w := range live.webhooks {
		var prior *webhookModel
		if i < len(state.Webhooks) && P(&state.Webhooks[i]).common().Name.ValueString() == w.Name {
			prior = P(&state.Webhooks[i]).common()
		}
		e := P(&webhooks[i])
		*e.common() = webhookFromAPI(w, prior, settings)
		if mw, ok := any(e).(*mutatingWebhookModel); ok {
			mw.ReinvocationPolicy = types.StringValue(live.reinvocation[i])
		}
	}
	state.Webhooks = webhooks
	state.ID = types.StringValue(name)
	if state.Findings.IsNull() { // import: the warnings the object draws, as a plan of its configuration would list them
		state.Findings = warningStrings(r.check(ctx, &state, settings, guard.CAInjected(live.annotations), &resp.Diagnostics))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *webhookResource[W, P]) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state webhookConfigurationModel[W]
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.kind.delete(ctx, r.clients, state.Name.ValueString()); err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot delete %s %q", r.kind.apiKind, state.Name.ValueString()), err.Error())
	}
}

// ImportState adopts an existing object by name; Read fills in the rest.
func (r *webhookResource[W, P]) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
