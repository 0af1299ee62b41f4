package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sguard/k8sguard/provider/cloud"
	"github.com/k8sguard/k8sguard/provider/guard"
)

// resourceBase is what every k8sguard resource shares: its type name and
// the provider's clients, which Configure hands over (nil before the
// provider is configured, see clientsFrom).
type resourceBase struct {
	typeSuffix string // the type name after the provider's, e.g. "_node_pool"
	clients    *Clients
}

func (r *resourceBase) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + r.typeSuffix
}

func (r *resourceBase) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.clients = clientsFrom(req.ProviderData, &resp.Diagnostics)
}

// errorAdder is the part of diag.Diagnostics the client getters need.
type errorAdder interface{ AddError(summary, detail string) }

// awsClient builds one of the provider's AWS clients for the resource r, or
// adds a diagnostic naming the resource (unconfigured provider) or the
// service (client cannot be built) and returns ok false. Use it with a
// method expression: awsClient(ctx, &r.resourceBase, "EC2", (*cloud.Lazy).EC2, diags).
func awsClient[C any](ctx context.Context, r *resourceBase, service string, build func(*cloud.Lazy, context.Context) (C, error), diags errorAdder) (c C, ok bool) {
	if r.clients == nil {
		diags.AddError("Provider not configured", "k8sguard"+r.typeSuffix+" needs the provider's aws configuration")
		return c, false
	}
	c, err := build(r.clients.AWS, ctx)
	if err != nil {
		diags.AddError("Cannot build the "+service+" client", err.Error())
		return c, false
	}
	return c, true
}

// modelSource is the request data a CRUD method reads its model from:
// tfsdk.Plan or tfsdk.State.
type modelSource interface {
	Get(ctx context.Context, target any) diag.Diagnostics
}

// modelAndClient is how every CRUD method starts: read src into target,
// then build the client the method works with. ok is false when either
// failed (the diagnostics say why) and the method returns at once; no
// client is built for a request whose model cannot be read.
func modelAndClient[C any](ctx context.Context, src modelSource, target any, diags *diag.Diagnostics, client func(context.Context, errorAdder) (C, bool)) (c C, ok bool) {
	diags.Append(src.Get(ctx, target)...)
	if diags.HasError() {
		return c, false
	}
	return client(ctx, diags)
}

// kubeClient returns the provider's Kubernetes clientset, or ok false with
// the diagnostic.
func (r *resourceBase) kubeClient(_ context.Context, diags errorAdder) (kubernetes.Interface, bool) {
	cs, err := clientset(r.clients)
	if err != nil {
		diags.AddError("Cannot build the Kubernetes client", err.Error())
		return nil, false
	}
	return cs, true
}

// plannedModel is how ModifyPlan starts: read the plan into target. False
// on destroy (there is no plan to modify) or when the plan cannot be read.
func plannedModel(ctx context.Context, req resource.ModifyPlanRequest, target any, diags *diag.Diagnostics) bool {
	if req.Plan.Raw.IsNull() {
		return false
	}
	diags.Append(req.Plan.Get(ctx, target)...)
	return !diags.HasError()
}

// plannedFindings is the `findings` a plan carries: the warnings the rules
// raised, or unknown while part of the configuration is unknown (another
// resource's output, say). Terraform plans every resource once more at
// apply, with the final values, so ModifyPlan runs the rules again then: an
// error stops the apply before Create, and the warnings the final values
// raise become the findings. Had the first plan promised a known list, that
// second plan could not change it (terraform refuses an inconsistent final
// plan), so a warning seen only at apply would fail the apply instead.
func plannedFindings(config tfsdk.Config, findings []guard.Finding) types.List {
	if !config.Raw.IsFullyKnown() {
		return types.ListUnknown(types.StringType)
	}
	return warningStrings(findings)
}
