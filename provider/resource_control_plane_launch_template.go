package provider

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/k8sguard/k8sguard/provider/cloud"
	"github.com/k8sguard/k8sguard/provider/guard"
)

var (
	_ resource.ResourceWithConfigure      = (*controlPlaneLaunchTemplateResource)(nil)
	_ resource.ResourceWithValidateConfig = (*controlPlaneLaunchTemplateResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*controlPlaneLaunchTemplateResource)(nil)
	_ resource.ResourceWithImportState    = (*controlPlaneLaunchTemplateResource)(nil)
)

// The hardening every control-plane launch template gets; not optional.
const (
	cpHopLimit = 1 // IMDS answers the instance only, never a container behind it
)

var volumeTypes = []string{"gp3", "gp2", "io1", "io2", "st1", "sc1", "standard"}

// NewControlPlaneLaunchTemplateResource is k8sguard_control_plane_launch_template.
func NewControlPlaneLaunchTemplateResource() resource.Resource {
	return &controlPlaneLaunchTemplateResource{resourceBase{typeSuffix: "_control_plane_launch_template"}}
}

type controlPlaneLaunchTemplateResource struct{ resourceBase }

type controlPlaneLaunchTemplateModel struct {
	ID                 types.String `tfsdk:"id"`
	Name               types.String `tfsdk:"name"`
	InstanceType       types.String `tfsdk:"instance_type"`
	ImageID            types.String `tfsdk:"image_id"`
	SecurityGroupIDs   types.List   `tfsdk:"security_group_ids"`
	IAMInstanceProfile types.String `tfsdk:"iam_instance_profile"`
	UserData           types.String `tfsdk:"user_data"`
	RootVolume         *volumeModel `tfsdk:"root_volume"`
	EtcdVolume         *volumeModel `tfsdk:"etcd_volume"`
	Tags               types.Map    `tfsdk:"tags"`
	Waivers            types.Map    `tfsdk:"waivers"`
	Findings           types.List   `tfsdk:"findings"`
	Drift              types.List   `tfsdk:"drift"`
	LatestVersion      types.Int64  `tfsdk:"latest_version"`
}

type volumeModel struct {
	SizeGiB         types.Int64  `tfsdk:"size_gib"`
	Type            types.String `tfsdk:"type"`
	IOPS            types.Int64  `tfsdk:"iops"`
	ThroughputMiBps types.Int64  `tfsdk:"throughput_mibps"`
	DeviceName      types.String `tfsdk:"device_name"`
}

func volumeBlock(desc, defaultDevice string) schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: desc + " Always encrypted, deleted with the instance.",
		Attributes: map[string]schema.Attribute{
			"size_gib": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 65536)}, MarkdownDescription: "Size in GiB."},
			"type": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("gp3"),
				Validators:          []validator.String{stringvalidator.OneOf(volumeTypes...)},
				MarkdownDescription: "EBS volume type. Default `gp3`.",
			},
			"iops":             schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.AtLeast(100)}, MarkdownDescription: "Provisioned IOPS (gp3, io1, io2). gp3 defaults to 3000."},
			"throughput_mibps": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(125, 2000)}, MarkdownDescription: "gp3 throughput in MiB/s."},
			"device_name":      deviceNameAttribute(defaultDevice),
		},
	}
}

// deviceNameAttribute: a fixed default, or (defaultDevice "") the AMI's
// root device, which only DescribeImages knows: /dev/xvda on Amazon Linux,
// /dev/sda1 on Ubuntu, RHEL and Windows. A root block on any other device
// adds a second disk and leaves the root as the AMI has it.
func deviceNameAttribute(defaultDevice string) schema.StringAttribute {
	if defaultDevice == "" {
		return schema.StringAttribute{
			Optional: true, Computed: true,
			MarkdownDescription: "Device name. Default: the AMI's root device (its `RootDeviceName`, from `DescribeImages` at plan). " +
				"Any other device is refused: the block would add a second volume and leave the root as the AMI has it.",
		}
	}
	return schema.StringAttribute{
		Optional: true, Computed: true, Default: stringdefault.StaticString(defaultDevice),
		MarkdownDescription: fmt.Sprintf("Device name. Default `%s`. The AMI's root device is refused: etcd would share the root volume.", defaultDevice),
	}
}

func (r *controlPlaneLaunchTemplateResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An EC2 launch template for self-managed control-plane nodes (etcd, API server). Refuses T2 " +
			"(`INSTANCE_T2`, the instances whose network AWS maintenance cut in Zalando's incident 5), every other burstable type " +
			"unless the provider sets `allow_burstable_control_plane` (`INSTANCE_BURSTABLE`, from a static table and " +
			"`DescribeInstanceTypes`), types the region does not have (`INSTANCE_UNKNOWN_TYPE`) and slow etcd volumes " +
			"(`ETCD_VOLUME_SLOW`). Always hardened, not optional: IMDSv2 only with hop limit 1, no public IP, and both volumes encrypted: " +
			"the root on the AMI's own root device (looked up with `DescribeImages`, so an AMI that does not exist fails the plan), " +
			"with or without a `root_volume` block. " +
			"A change creates a new version and makes it the default.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The launch template ID (`lt-...`), also the import ID.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name": schema.StringAttribute{
				Required: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators: []validator.String{stringvalidator.LengthBetween(3, 128)}, MarkdownDescription: "Launch template name.",
			},
			"instance_type":        schema.StringAttribute{Required: true, MarkdownDescription: "EC2 instance type; see the rules above."},
			"image_id":             schema.StringAttribute{Required: true, MarkdownDescription: "AMI ID."},
			"security_group_ids":   schema.ListAttribute{ElementType: types.StringType, Optional: true, MarkdownDescription: "Security groups of the primary network interface."},
			"iam_instance_profile": schema.StringAttribute{Optional: true, MarkdownDescription: "Name of the instance profile."},
			"user_data": schema.StringAttribute{
				Optional: true, Sensitive: true,
				MarkdownDescription: "User data as plain text; the provider base64-encodes it. Sensitive: it often carries bootstrap secrets.",
			},
			"tags":     schema.MapAttribute{ElementType: types.StringType, Optional: true, MarkdownDescription: "Tags of the launch template."},
			"waivers":  waiversAttribute(),
			"findings": findingsAttribute(),
			"drift": driftAttribute("Hardening the default version lost outside Terraform (for example a default version without IMDSv2). " +
				"Planned empty: apply makes a hardened version the default again."),
			"latest_version": schema.Int64Attribute{Computed: true, MarkdownDescription: "The newest version, which is the default."},
		},
		Blocks: map[string]schema.Block{
			"root_volume": volumeBlock("The root volume, on the AMI's root device. Without the block the root keeps the AMI's size and type "+
				"and is still encrypted and deleted with the instance (the template maps the AMI's root device with those two settings only).", ""),
			"etcd_volume": func() schema.SingleNestedBlock {
				b := volumeBlock("The dedicated etcd volume (required): an SSD with at least 3000 IOPS (`ETCD_VOLUME_SLOW`).", "/dev/sdf")
				b.Validators = []validator.Object{objectvalidator.IsRequired()}
				return b
			}(),
		},
	}
}

func (v *volumeModel) guardVolume() *guard.Volume {
	if v == nil {
		return nil
	}
	return &guard.Volume{Type: v.volumeType(), SizeGiB: v.SizeGiB.ValueInt64(), IOPS: v.IOPS.ValueInt64(), Throughput: v.ThroughputMiBps.ValueInt64()}
}

func (v *volumeModel) volumeType() string {
	if v.Type.IsNull() || v.Type.IsUnknown() {
		return "gp3"
	}
	return v.Type.ValueString()
}

func (v *volumeModel) known() bool {
	return v == nil || !v.SizeGiB.IsUnknown() && !v.Type.IsUnknown() && !v.IOPS.IsUnknown() && !v.ThroughputMiBps.IsUnknown()
}

// check runs the instance rules; info is nil without AWS, settings nil
// before the provider is configured (validate).
func (m *controlPlaneLaunchTemplateModel) check(ctx context.Context, info *guard.InstanceTypeInfo, settings *guard.Settings, diags interface {
	AddAttributeError(path.Path, string, string)
}) ([]guard.Finding, bool) {
	s := guard.Settings{}
	if settings != nil {
		s = *settings
	}
	fs, err := guard.CheckControlPlaneInstance(guard.ControlPlaneInstance{InstanceType: m.InstanceType.ValueString(), EtcdVolume: m.EtcdVolume.guardVolume(), Info: info}, s)
	if err != nil {
		diags.AddAttributeError(path.Root("instance_type"), "Invalid instance type", err.Error())
		return nil, false
	}
	// Beside the rules' findings (an st1 etcd volume is both slow and
	// given a throughput EC2 refuses): both are said.
	for _, v := range []struct {
		block string
		vol   *volumeModel
	}{{"root_volume", m.RootVolume}, {"etcd_volume", m.EtcdVolume}} {
		if gv := v.vol.guardVolume(); gv != nil {
			if field, problem := guard.CheckVolume(*gv, v.block == "root_volume"); problem != "" {
				diags.AddAttributeError(path.Root(v.block).AtName(field), "Invalid EBS volume", problem+".")
			}
		}
	}
	if settings == nil {
		fs = guard.WithoutSettingsRules(fs)
	}
	return fs, true
}

func (m *controlPlaneLaunchTemplateModel) checkable() bool {
	return !m.InstanceType.IsUnknown() && m.EtcdVolume.known() && m.RootVolume.known() && !m.Waivers.IsUnknown()
}

// ValidateConfig reports the errors that need neither AWS nor the
// provider's settings: T2, slow etcd volumes, malformed types.
func (r *controlPlaneLaunchTemplateResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m controlPlaneLaunchTemplateModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || !m.checkable() {
		return
	}
	fs, ok := m.check(ctx, nil, nil, &resp.Diagnostics)
	if !ok {
		return
	}
	reportErrors(ctx, fs, m.Waivers, &resp.Diagnostics)
}

func (r *controlPlaneLaunchTemplateResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var plan controlPlaneLaunchTemplateModel
	if !plannedModel(ctx, req, &plan, &resp.Diagnostics) {
		return
	}
	plan.Drift = emptyStringList()
	if r.planDevices(ctx, req.Config, &plan, &resp.Diagnostics); resp.Diagnostics.HasError() {
		return
	}
	if !req.State.Raw.IsNull() {
		var state controlPlaneLaunchTemplateModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if state.launchTemplateEqual(&plan) && len(state.Drift.Elements()) == 0 {
			plan.LatestVersion = state.LatestVersion
		} else {
			plan.LatestVersion = types.Int64Unknown()
		}
	}
	if !plan.checkable() || !r.clients.awsKnown() {
		plan.Findings = types.ListUnknown(types.StringType)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	info, err := r.describeInstanceType(ctx, plan.InstanceType.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("instance_type"), "Cannot look up the instance type", err.Error())
		return
	}
	settings := &r.clients.Settings
	if settings.Unknown {
		settings = nil // the rules that read them wait for apply, as during validate
	}
	fs, ok := plan.check(ctx, info, settings, &resp.Diagnostics)
	if !ok {
		return
	}
	plan.Findings = plannedFindingsWith(req.Config, r.clients.Settings, reportFindings(ctx, fs, plan.Waivers, &resp.Diagnostics))
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	keepFindingsWording(ctx, req, resp)
}

func (r *controlPlaneLaunchTemplateResource) describeInstanceType(ctx context.Context, name string) (*guard.InstanceTypeInfo, error) {
	c, err := r.clients.AWS.EC2(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{ec2types.InstanceType(name)}})
	if err != nil {
		if isAWSErrorCode(err, "InvalidInstanceType") {
			return &guard.InstanceTypeInfo{Exists: false}, nil
		}
		return nil, fmt.Errorf("DescribeInstanceTypes %s: %w", name, err)
	}
	if len(out.InstanceTypes) == 0 {
		return &guard.InstanceTypeInfo{Exists: false}, nil
	}
	return &guard.InstanceTypeInfo{Exists: true, Burstable: aws.ToBool(out.InstanceTypes[0].BurstablePerformanceSupported)}, nil
}

// launchTemplateEqual: the launch template data (not tags or waivers) is unchanged.
func (m *controlPlaneLaunchTemplateModel) launchTemplateEqual(o *controlPlaneLaunchTemplateModel) bool {
	return m.InstanceType.Equal(o.InstanceType) && m.ImageID.Equal(o.ImageID) && m.SecurityGroupIDs.Equal(o.SecurityGroupIDs) &&
		m.IAMInstanceProfile.Equal(o.IAMInstanceProfile) && m.UserData.Equal(o.UserData) &&
		volumesEqual(m.RootVolume, o.RootVolume) && volumesEqual(m.EtcdVolume, o.EtcdVolume)
}

func volumesEqual(a, b *volumeModel) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.SizeGiB.Equal(b.SizeGiB) && a.Type.Equal(b.Type) && a.IOPS.Equal(b.IOPS) && a.ThroughputMiBps.Equal(b.ThroughputMiBps) && a.DeviceName.Equal(b.DeviceName)
}

func (v *volumeModel) mapping() ec2types.LaunchTemplateBlockDeviceMappingRequest {
	ebs := &ec2types.LaunchTemplateEbsBlockDeviceRequest{
		Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true), VolumeType: ec2types.VolumeType(v.volumeType()),
	}
	if !v.SizeGiB.IsNull() {
		ebs.VolumeSize = aws.Int32(int32(v.SizeGiB.ValueInt64()))
	}
	if !v.IOPS.IsNull() {
		ebs.Iops = aws.Int32(int32(v.IOPS.ValueInt64()))
	}
	if !v.ThroughputMiBps.IsNull() {
		ebs.Throughput = aws.Int32(int32(v.ThroughputMiBps.ValueInt64()))
	}
	return ec2types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: aws.String(v.DeviceName.ValueString()), Ebs: ebs}
}

// data is the launch template data with the hardening that is not optional;
// root is the AMI's root device.
func (m *controlPlaneLaunchTemplateModel) data(ctx context.Context, root string) *ec2types.RequestLaunchTemplateData {
	d := &ec2types.RequestLaunchTemplateData{
		InstanceType: ec2types.InstanceType(m.InstanceType.ValueString()),
		ImageId:      m.ImageID.ValueStringPointer(),
		MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens:              ec2types.LaunchTemplateHttpTokensStateRequired,
			HttpPutResponseHopLimit: aws.Int32(cpHopLimit),
			HttpEndpoint:            ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
		},
		NetworkInterfaces: []ec2types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{
			DeviceIndex: aws.Int32(0), AssociatePublicIpAddress: aws.Bool(false), DeleteOnTermination: aws.Bool(true),
			Groups: awsStringList(ctx, m.SecurityGroupIDs),
		}},
	}
	if !m.IAMInstanceProfile.IsNull() {
		d.IamInstanceProfile = &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: m.IAMInstanceProfile.ValueStringPointer()}
	}
	if !m.UserData.IsNull() {
		d.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte(m.UserData.ValueString())))
	}
	d.BlockDeviceMappings = append(d.BlockDeviceMappings, m.rootMapping(root))
	if m.EtcdVolume != nil {
		d.BlockDeviceMappings = append(d.BlockDeviceMappings, m.EtcdVolume.mapping())
	}
	return d
}

func (r *controlPlaneLaunchTemplateResource) ec2(ctx context.Context, diags errorAdder) (*ec2.Client, bool) {
	return awsClient(ctx, &r.resourceBase, "EC2", (*cloud.Lazy).EC2, diags)
}

func (r *controlPlaneLaunchTemplateResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m controlPlaneLaunchTemplateModel
	c, ok := modelAndClient(ctx, req.Plan, &m, &resp.Diagnostics, r.ec2)
	if !ok {
		return
	}
	if m.Findings.IsUnknown() { // inputs were unknown at plan: check now
		info, err := r.describeInstanceType(ctx, m.InstanceType.ValueString())
		if err != nil {
			resp.Diagnostics.AddError("Cannot look up the instance type", err.Error())
			return
		}
		fs, ok := m.check(ctx, info, &r.clients.Settings, &resp.Diagnostics)
		if !ok {
			return
		}
		fs = reportFindings(ctx, fs, m.Waivers, &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
		m.Findings = warningStrings(fs)
	}
	root, ok := m.applyDevices(ctx, c, &resp.Diagnostics)
	if !ok {
		return
	}
	in := &ec2.CreateLaunchTemplateInput{LaunchTemplateName: m.Name.ValueStringPointer(), LaunchTemplateData: m.data(ctx, root)}
	if tags := awsStringMap(ctx, m.Tags); len(tags) > 0 {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: ec2Tags(tags)}}
	}
	out, err := c.CreateLaunchTemplate(ctx, in)
	if err != nil {
		resp.Diagnostics.AddError("Cannot create the launch template", fmt.Sprintf("CreateLaunchTemplate %s: %v", m.Name.ValueString(), err))
		return
	}
	m.ID = types.StringValue(aws.ToString(out.LaunchTemplate.LaunchTemplateId))
	m.LatestVersion = types.Int64Value(aws.ToInt64(out.LaunchTemplate.LatestVersionNumber))
	m.Drift = emptyStringList()
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *controlPlaneLaunchTemplateResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if !r.clients.awsKnown() { // the provider's configuration comes from another resource: keep the state until apply
		return
	}
	var m controlPlaneLaunchTemplateModel
	c, ok := modelAndClient(ctx, req.State, &m, &resp.Diagnostics, r.ec2)
	if !ok {
		return
	}
	id := m.ID.ValueString()
	lts, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{id}})
	// A missing launch template is NotFound on AWS, an empty list on moto.
	if err != nil && isAWSNotFound(err) || err == nil && len(lts.LaunchTemplates) == 0 {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the launch template", fmt.Sprintf("DescribeLaunchTemplates %s: %v", id, err))
		return
	}
	lt := lts.LaunchTemplates[0]
	vs, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"$Default"}})
	if err != nil || len(vs.LaunchTemplateVersions) == 0 {
		resp.Diagnostics.AddError("Cannot read the launch template's default version", fmt.Sprintf("%s: %v", id, err))
		return
	}
	m.Name = types.StringValue(aws.ToString(lt.LaunchTemplateName))
	m.LatestVersion = types.Int64Value(aws.ToInt64(lt.LatestVersionNumber))
	m.Tags = awsMapOrNull(ctx, m.Tags, ec2TagMap(lt.Tags), &resp.Diagnostics)
	var drift []string
	if def := aws.ToInt64(lt.DefaultVersionNumber); def != aws.ToInt64(lt.LatestVersionNumber) {
		drift = append(drift, fmt.Sprintf("default version is %d, not the latest %d", def, aws.ToInt64(lt.LatestVersionNumber)))
	}
	drift = append(drift, m.fromData(ctx, c, vs.LaunchTemplateVersions[0].LaunchTemplateData)...)
	m.Drift = driftList(ctx, drift)
	if m.Findings.IsNull() {
		m.Findings = emptyStringList()
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// fromData copies the version's data into the model and returns the
// hardening it lacks; c looks up the AMI's root device when the state
// does not name it.
func (m *controlPlaneLaunchTemplateModel) fromData(ctx context.Context, c *ec2.Client, d *ec2types.ResponseLaunchTemplateData) []string {
	var drift []string
	if d == nil {
		return []string{"the default version has no data"}
	}
	m.InstanceType = types.StringValue(string(d.InstanceType))
	m.ImageID = types.StringPointerValue(d.ImageId)
	if p := d.IamInstanceProfile; p != nil && p.Name != nil {
		m.IAMInstanceProfile = types.StringPointerValue(p.Name)
	} else {
		m.IAMInstanceProfile = types.StringNull()
	}
	if d.UserData != nil {
		if b, err := base64.StdEncoding.DecodeString(aws.ToString(d.UserData)); err == nil {
			m.UserData = types.StringValue(string(b))
		}
	} else {
		m.UserData = types.StringNull()
	}
	if o := d.MetadataOptions; o == nil || o.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired {
		drift = append(drift, "IMDSv2 is not required (http_tokens is not \"required\")")
	} else if aws.ToInt32(o.HttpPutResponseHopLimit) != cpHopLimit {
		drift = append(drift, fmt.Sprintf("IMDS hop limit is %d, not %d", aws.ToInt32(o.HttpPutResponseHopLimit), cpHopLimit))
	}
	var groups []string
	publicIP := false
	for _, ni := range d.NetworkInterfaces {
		if aws.ToInt32(ni.DeviceIndex) == 0 {
			groups = ni.Groups
		}
		publicIP = publicIP || aws.ToBool(ni.AssociatePublicIpAddress)
	}
	if publicIP {
		drift = append(drift, "a network interface gets a public IP")
	}
	if len(groups) > 0 || !m.SecurityGroupIDs.IsNull() {
		m.SecurityGroupIDs, _ = types.ListValueFrom(ctx, types.StringType, groups)
	}
	devices := map[string]ec2types.LaunchTemplateBlockDeviceMapping{}
	for _, b := range d.BlockDeviceMappings {
		devices[aws.ToString(b.DeviceName)] = b
		if b.Ebs != nil && !aws.ToBool(b.Ebs.Encrypted) {
			drift = append(drift, fmt.Sprintf("volume %s is not encrypted", aws.ToString(b.DeviceName)))
		}
	}
	root := readRootDevice(ctx, c, m.RootVolume, aws.ToString(d.ImageId), devices)
	if b, ok := devices[root]; root != "" && (!ok || b.Ebs == nil) {
		drift = append(drift, fmt.Sprintf("the root device %s is not mapped, so the template does not encrypt the root volume", root))
	}
	if b, ok := devices[root]; m.RootVolume == nil && ok && encryptionOnly(b) {
		m.RootVolume = nil // the mapping this resource writes without a root block
	} else {
		m.RootVolume = volumeFrom(devices, root)
	}
	etcd := defaultEtcdDevice
	if v := m.EtcdVolume; v != nil && !v.DeviceName.IsNull() && !v.DeviceName.IsUnknown() {
		etcd = v.DeviceName.ValueString()
	}
	m.EtcdVolume = volumeFrom(devices, etcd)
	return drift
}

// volumeFrom reads a block device back; unset optional numbers stay null.
func volumeFrom(devices map[string]ec2types.LaunchTemplateBlockDeviceMapping, device string) *volumeModel {
	b, ok := devices[device]
	if !ok || b.Ebs == nil {
		return nil
	}
	optionalInt := func(got *int32) types.Int64 {
		if got == nil {
			return types.Int64Null()
		}
		return types.Int64Value(int64(*got))
	}
	volumeType := string(b.Ebs.VolumeType)
	if volumeType == "" {
		volumeType = "gp3"
	}
	return &volumeModel{
		DeviceName:      types.StringValue(device),
		Type:            types.StringValue(volumeType),
		SizeGiB:         optionalInt(b.Ebs.VolumeSize),
		IOPS:            optionalInt(b.Ebs.Iops),
		ThroughputMiBps: optionalInt(b.Ebs.Throughput),
	}
}

func (r *controlPlaneLaunchTemplateResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state controlPlaneLaunchTemplateModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	c, ok := modelAndClient(ctx, req.State, &state, &resp.Diagnostics, r.ec2)
	if !ok {
		return
	}
	id := state.ID.ValueString()
	plan.ID = state.ID
	plan.LatestVersion = state.LatestVersion
	if !state.launchTemplateEqual(&plan) || len(state.Drift.Elements()) > 0 || plan.LatestVersion.IsUnknown() {
		root, ok := plan.applyDevices(ctx, c, &resp.Diagnostics)
		if !ok {
			return
		}
		v, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(id), LaunchTemplateData: plan.data(ctx, root)})
		if err != nil {
			resp.Diagnostics.AddError("Cannot create a launch template version", fmt.Sprintf("%s: %v", id, err))
			return
		}
		version := aws.ToInt64(v.LaunchTemplateVersion.VersionNumber)
		if _, err := c.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(id), DefaultVersion: aws.String(strconv.FormatInt(version, 10))}); err != nil {
			resp.Diagnostics.AddError("Cannot make the new version the default", fmt.Sprintf("%s version %d: %v", id, version, err))
			return
		}
		plan.LatestVersion = types.Int64Value(version)
	}
	if err := retagLaunchTemplate(ctx, c, id, awsStringMap(ctx, state.Tags), awsStringMap(ctx, plan.Tags)); err != nil {
		resp.Diagnostics.AddError("Cannot tag the launch template", err.Error())
		return
	}
	plan.Drift = emptyStringList()
	if plan.Findings.IsUnknown() {
		plan.Findings = emptyStringList()
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *controlPlaneLaunchTemplateResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m controlPlaneLaunchTemplateModel
	c, ok := modelAndClient(ctx, req.State, &m, &resp.Diagnostics, r.ec2)
	if !ok {
		return
	}
	if _, err := c.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: m.ID.ValueStringPointer()}); err != nil && !isAWSNotFound(err) {
		resp.Diagnostics.AddError("Cannot delete the launch template", fmt.Sprintf("%s: %v", m.ID.ValueString(), err))
	}
}

// ImportState takes the launch template ID.
func (r *controlPlaneLaunchTemplateResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}
