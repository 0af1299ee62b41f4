package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var _ datasource.DataSourceWithConfigure = (*kubernetesClusterDataSource)(nil)

// NewKubernetesClusterDataSource is k8sguard_kubernetes_cluster: the live API
// server's version, proving the path terraform → provider → cluster.
func NewKubernetesClusterDataSource() datasource.DataSource { return &kubernetesClusterDataSource{} }

type kubernetesClusterDataSource struct{ clients *Clients }

type kubernetesClusterModel struct {
	ID            types.String `tfsdk:"id"`
	ServerVersion types.String `tfsdk:"server_version"`
	Major         types.String `tfsdk:"major"`
	Minor         types.String `tfsdk:"minor"`
	Platform      types.String `tfsdk:"platform"`
	Host          types.String `tfsdk:"host"`
}

func (d *kubernetesClusterDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_kubernetes_cluster"
}

func (d *kubernetesClusterDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads the version of the Kubernetes API server the provider is configured for. " +
			"Useful to gate configuration on the cluster version, and the quickest way to check the provider reaches the cluster.",
		Attributes: map[string]schema.Attribute{
			"id":             schema.StringAttribute{Computed: true, MarkdownDescription: "The API server URL (same as `host`)."},
			"host":           schema.StringAttribute{Computed: true, MarkdownDescription: "The API server URL the provider talked to."},
			"server_version": schema.StringAttribute{Computed: true, MarkdownDescription: "The server's git version, for example `v1.36.3`."},
			"major":          schema.StringAttribute{Computed: true, MarkdownDescription: "Major version, for example `1`."},
			"minor":          schema.StringAttribute{Computed: true, MarkdownDescription: "Minor version, for example `36`."},
			"platform":       schema.StringAttribute{Computed: true, MarkdownDescription: "The server's platform, for example `linux/amd64`."},
		},
	}
}

func (d *kubernetesClusterDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.clients = clientsFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *kubernetesClusterDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	cs, err := d.clients.Kube.Clientset()
	if err != nil {
		resp.Diagnostics.AddError("Cannot build the Kubernetes client", err.Error())
		return
	}
	info, err := cs.Discovery().ServerVersion()
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the Kubernetes server version", fmt.Sprintf("GET /version: %v", err))
		return
	}
	host := d.clients.Kube.Host()
	state := kubernetesClusterModel{
		ID:            types.StringValue(host),
		Host:          types.StringValue(host),
		ServerVersion: types.StringValue(info.GitVersion),
		Major:         types.StringValue(info.Major),
		Minor:         types.StringValue(info.Minor),
		Platform:      types.StringValue(info.Platform),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}
