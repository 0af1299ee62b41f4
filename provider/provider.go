// Package provider is the k8sguard Terraform provider: hardened resources
// whose dangerous shapes are refused at plan by the rules in provider/guard.
package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/k8sguard/k8sguard/provider/cloud"
	"github.com/k8sguard/k8sguard/provider/guard"
	"github.com/k8sguard/k8sguard/provider/kube"
)

// Defaults of the provider-wide policy knobs.
const (
	defaultMaxWebhookTimeoutSeconds = 5
	maxWebhookTimeoutSecondsCeiling = 30 // the API server's own limit
	defaultMaxPodsPerNamespace      = 1500
)

var defaultProtectedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

var (
	_ provider.Provider                   = (*k8sguardProvider)(nil)
	_ provider.ProviderWithFunctions      = (*k8sguardProvider)(nil)
	_ provider.ProviderWithValidateConfig = (*k8sguardProvider)(nil)
)

// New returns the provider factory providerserver.Serve needs.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &k8sguardProvider{version: version} }
}

type k8sguardProvider struct{ version string }

// Clients is what resources, data sources and functions receive from
// Configure: the policy settings and lazily built clients.
type Clients struct {
	Settings guard.Settings
	Kube     *kube.Lazy
	AWS      *cloud.Lazy
}

type providerModel struct {
	Kubernetes                 *kubernetesModel `tfsdk:"kubernetes"`
	AWS                        *awsModel        `tfsdk:"aws"`
	ProtectedNamespaces        types.List       `tfsdk:"protected_namespaces"`
	MaxWebhookTimeoutSeconds   types.Int64      `tfsdk:"max_webhook_timeout_seconds"`
	AllowBurstableControlPlane types.Bool       `tfsdk:"allow_burstable_control_plane"`
	MaxPodsPerNamespace        types.Int64      `tfsdk:"max_pods_per_namespace"`
}

type kubernetesModel struct {
	ConfigPath           types.String `tfsdk:"config_path"`
	ConfigContext        types.String `tfsdk:"config_context"`
	Host                 types.String `tfsdk:"host"`
	Token                types.String `tfsdk:"token"`
	ClusterCACertificate types.String `tfsdk:"cluster_ca_certificate"`
	ClientCertificate    types.String `tfsdk:"client_certificate"`
	ClientKey            types.String `tfsdk:"client_key"`
	Insecure             types.Bool   `tfsdk:"insecure"`
}

type awsModel struct {
	Region         types.String `tfsdk:"region"`
	Profile        types.String `tfsdk:"profile"`
	Endpoints      types.Map    `tfsdk:"endpoints"`
	S3UsePathStyle types.Bool   `tfsdk:"s3_use_path_style"`
}

func (p *k8sguardProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "k8sguard"
	resp.Version = p.version
}

func (p *k8sguardProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The k8sguard provider manages hardened Kubernetes and AWS objects: the dangerous shape of each " +
			"object is refused at `terraform plan` with a diagnostic naming the rule and the public failure story it prevents. " +
			"Clients are built lazily: a configuration that only uses plan-time checks needs no cluster and no AWS credentials. " +
			"A provider attribute taken from another resource's output (a cluster created in the same configuration) is used only once it is known: " +
			"until then k8sguard does not fall back to the kubeconfig or the AWS SDK's defaults, the plan keeps the resources' state as it is, " +
			"data sources that need the cluster fail with the reason, and the rules that read a policy setting run at apply.",
		Attributes: map[string]schema.Attribute{
			"protected_namespaces": schema.ListAttribute{
				ElementType:         types.StringType,
				Optional:            true,
				MarkdownDescription: "Namespaces every webhook is kept out of and quotas warn about. Default: `[\"kube-system\", \"kube-public\", \"kube-node-lease\"]`.",
				Validators:          []validator.List{listvalidator.SizeAtLeast(1), listvalidator.UniqueValues()},
			},
			"max_webhook_timeout_seconds": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "Largest `timeout_seconds` a webhook may have (rule `WEBHOOK_TIMEOUT`). Default 5, at most 30.",
				Validators:          []validator.Int64{int64validator.Between(1, maxWebhookTimeoutSecondsCeiling)},
			},
			"allow_burstable_control_plane": schema.BoolAttribute{
				Optional:            true,
				MarkdownDescription: "Allow burstable instance families other than T2 (t3, t3a, t4g, ...) for control-plane nodes (rule `INSTANCE_BURSTABLE`). T2 is always refused. Default false.",
			},
			"max_pods_per_namespace": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "Largest `pods` a `k8sguard_pod_quota` may grant one namespace (rule `QUOTA_PODS_ABOVE_CLUSTER_MAX`). Default 1500, Zalando's per-namespace cap.",
				Validators:          []validator.Int64{int64validator.AtLeast(1)},
			},
		},
		Blocks: map[string]schema.Block{
			"kubernetes": schema.SingleNestedBlock{
				MarkdownDescription: "How to reach the Kubernetes API server. All optional, with kubectl's precedence: explicit attributes win over the kubeconfig, which defaults to `KUBECONFIG`, then `~/.kube/config`.",
				Attributes: map[string]schema.Attribute{
					"config_path":            schema.StringAttribute{Optional: true, MarkdownDescription: "Path to a kubeconfig file. Default: `KUBECONFIG`, then `~/.kube/config`."},
					"config_context":         schema.StringAttribute{Optional: true, MarkdownDescription: "Context of the kubeconfig to use. Default: its current context."},
					"host":                   schema.StringAttribute{Optional: true, MarkdownDescription: "API server URL, with scheme (`https://...`)."},
					"token":                  schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Bearer token."},
					"cluster_ca_certificate": schema.StringAttribute{Optional: true, MarkdownDescription: "PEM-encoded CA certificate of the API server."},
					"client_certificate":     schema.StringAttribute{Optional: true, MarkdownDescription: "PEM-encoded client certificate (with `client_key`)."},
					"client_key":             schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "PEM-encoded client key (with `client_certificate`)."},
					"insecure":               schema.BoolAttribute{Optional: true, MarkdownDescription: "Skip TLS verification of the API server. Default false; for tests only."},
				},
			},
			"aws": schema.SingleNestedBlock{
				MarkdownDescription: "How to reach AWS. All optional: the SDK's default credential chain and region apply.",
				Attributes: map[string]schema.Attribute{
					"region":  schema.StringAttribute{Optional: true, MarkdownDescription: "AWS region. Default: `AWS_REGION` or the profile's region."},
					"profile": schema.StringAttribute{Optional: true, MarkdownDescription: "Shared configuration profile."},
					"endpoints": schema.MapAttribute{
						ElementType:         types.StringType,
						Optional:            true,
						MarkdownDescription: "Endpoint overrides per service (`ec2`, `eks`, `s3`, `sts`), as URLs with scheme: for moto or S3-compatible stores.",
						Validators:          []validator.Map{mapvalidator.KeysAre(endpointKeyValidator{}), mapvalidator.ValueStringsAre(endpointURLValidator{})},
					},
					"s3_use_path_style": schema.BoolAttribute{Optional: true, MarkdownDescription: "Use path-style S3 addressing. Default false (true whenever an `s3` endpoint is set)."},
				},
			},
		},
	}
}

// ValidateConfig checks what the configuration alone decides (PEM material,
// URL schemes). Files are read in Configure. Unknown values are left for apply.
func (p *k8sguardProvider) ValidateConfig(ctx context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || m.Kubernetes == nil || !m.Kubernetes.allKnown() {
		return
	}
	for _, fe := range m.Kubernetes.config().Validate() {
		resp.Diagnostics.AddAttributeError(path.Root("kubernetes").AtName(fe.Attribute), "Invalid Kubernetes configuration", fe.Error())
	}
}

func (m *kubernetesModel) allKnown() bool { return len(m.unknown()) == 0 }

// unknown names the attributes not known yet (another resource's output).
func (m *kubernetesModel) unknown() []string {
	var out []string
	for _, a := range []struct {
		name  string
		value attr.Value
	}{
		{"config_path", m.ConfigPath}, {"config_context", m.ConfigContext}, {"host", m.Host}, {"token", m.Token},
		{"cluster_ca_certificate", m.ClusterCACertificate}, {"client_certificate", m.ClientCertificate},
		{"client_key", m.ClientKey}, {"insecure", m.Insecure},
	} {
		if a.value.IsUnknown() {
			out = append(out, a.name)
		}
	}
	return out
}

// unknown names the attributes not known yet (another resource's output).
func (m *awsModel) unknown() []string {
	var out []string
	for _, a := range []struct {
		name  string
		value attr.Value
	}{{"region", m.Region}, {"profile", m.Profile}, {"endpoints", m.Endpoints}, {"s3_use_path_style", m.S3UsePathStyle}} {
		if tv, err := a.value.ToTerraformValue(context.Background()); err != nil || !tv.IsFullyKnown() {
			out = append(out, a.name)
		}
	}
	return out
}

func (m *kubernetesModel) config() kube.Config {
	if m == nil {
		return kube.Config{}
	}
	return kube.Config{
		ConfigPath:           m.ConfigPath.ValueString(),
		ConfigContext:        m.ConfigContext.ValueString(),
		Host:                 m.Host.ValueString(),
		Token:                m.Token.ValueString(),
		ClusterCACertificate: m.ClusterCACertificate.ValueString(),
		ClientCertificate:    m.ClientCertificate.ValueString(),
		ClientKey:            m.ClientKey.ValueString(),
		Insecure:             m.Insecure.ValueBool(),
		Unknown:              m.unknown(),
	}
}

func (p *k8sguardProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}

	settings := guard.Settings{
		ProtectedNamespaces:        defaultProtectedNamespaces,
		MaxWebhookTimeoutSeconds:   defaultMaxWebhookTimeoutSeconds,
		AllowBurstableControlPlane: m.AllowBurstableControlPlane.ValueBool(),
		MaxPodsPerNamespace:        defaultMaxPodsPerNamespace,
	}
	for _, v := range []attr.Value{m.ProtectedNamespaces, m.MaxWebhookTimeoutSeconds, m.AllowBurstableControlPlane, m.MaxPodsPerNamespace} {
		if tv, err := v.ToTerraformValue(ctx); err != nil || !tv.IsFullyKnown() {
			settings.Unknown = true
		}
	}
	if !m.ProtectedNamespaces.IsNull() && !settings.Unknown {
		var ns []string
		resp.Diagnostics.Append(m.ProtectedNamespaces.ElementsAs(ctx, &ns, false)...)
		settings.ProtectedNamespaces = ns
	}
	if v := m.MaxWebhookTimeoutSeconds; !v.IsNull() && !v.IsUnknown() {
		settings.MaxWebhookTimeoutSeconds = v.ValueInt64()
	}
	if v := m.MaxPodsPerNamespace; !v.IsNull() && !v.IsUnknown() {
		settings.MaxPodsPerNamespace = v.ValueInt64()
	}

	awsCfg := cloud.Config{Version: p.version}
	if m.AWS != nil {
		awsCfg.Unknown = m.AWS.unknown()
		awsCfg.Region = m.AWS.Region.ValueString()
		awsCfg.Profile = m.AWS.Profile.ValueString()
		awsCfg.S3UsePathStyle = m.AWS.S3UsePathStyle.ValueBool()
		if len(awsCfg.Unknown) == 0 && !m.AWS.Endpoints.IsNull() {
			resp.Diagnostics.Append(m.AWS.Endpoints.ElementsAs(ctx, &awsCfg.Endpoints, false)...)
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}

	if m.Kubernetes != nil {
		if fe := m.Kubernetes.config().ValidateKubeconfig(); fe != nil {
			resp.Diagnostics.AddAttributeError(path.Root("kubernetes").AtName(fe.Attribute), "Invalid Kubernetes configuration", fe.Error())
			return
		}
	}

	kubeCfg := m.Kubernetes.config()
	kubeCfg.UserAgent = "terraform-provider-k8sguard/" + p.version
	clients := &Clients{Settings: settings, Kube: kube.NewLazy(kubeCfg), AWS: cloud.NewLazy(awsCfg)}
	resp.DataSourceData = clients
	resp.ResourceData = clients
	resp.EphemeralResourceData = clients
}

func (p *k8sguardProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewValidatingWebhookResource,
		NewMutatingWebhookResource,
		NewPodQuotaResource,
		NewNodePoolResource,
		NewControlPlaneLaunchTemplateResource,
		NewEtcdBackupBucketResource,
		NewAdmissionGuardrailsResource,
	}
}

func (p *k8sguardProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewKubernetesClusterDataSource,
		NewPodIPCapacityDataSource,
		NewClusterAuditDataSource,
	}
}

func (p *k8sguardProvider) Functions(context.Context) []func() function.Function {
	return []func() function.Function{
		NewPodCIDRMaxNodesFunction,
		NewIsBurstableInstanceTypeFunction,
	}
}
