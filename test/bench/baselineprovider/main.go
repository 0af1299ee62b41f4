// Command baselineprovider is the plan bench's baseline: a minimal
// terraform-plugin-framework provider, registry.terraform.io/k8sguard/baseline,
// whose resources baseline_pod_quota and baseline_validating_webhook have
// exactly the schemas of k8sguard_pod_quota and k8sguard_validating_webhook
// (taken from the provider package, so the shapes cannot drift) and no
// logic: no provider settings, no clients, no ValidateConfig, no
// ModifyPlan; create stores the plan, the rest does nothing. What
// `terraform plan` costs with it is what the framework and Terraform cost
// for those schemas; k8sguard's cost above it is its own.
package main

import (
	"context"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	k8sguard "github.com/k8sguard/k8sguard/provider"
)

func main() {
	err := providerserver.Serve(context.Background(), func() provider.Provider { return baseline{} }, providerserver.ServeOpts{
		Address: "registry.terraform.io/k8sguard/baseline",
	})
	if err != nil {
		log.Fatal(err)
	}
}

type baseline struct{}

func (baseline) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "baseline"
}

func (baseline) Schema(context.Context, provider.SchemaRequest, *provider.SchemaResponse) {}

func (baseline) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {}

func (baseline) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		func() resource.Resource { return shaped{suffix: "_pod_quota", of: k8sguard.NewPodQuotaResource()} },
		func() resource.Resource {
			return shaped{suffix: "_validating_webhook", of: k8sguard.NewValidatingWebhookResource()}
		},
	}
}

func (baseline) DataSources(context.Context) []func() datasource.DataSource { return nil }

// shaped is a resource with another resource's schema and no behaviour.
type shaped struct {
	suffix string
	of     resource.Resource
}

func (s shaped) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + s.suffix
}

func (s shaped) Schema(ctx context.Context, req resource.SchemaRequest, resp *resource.SchemaResponse) {
	s.of.Schema(ctx, req, resp)
}

func (shaped) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	resp.State.Raw = req.Plan.Raw
}

func (shaped) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

func (shaped) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.State.Raw = req.Plan.Raw
}

func (shaped) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}
