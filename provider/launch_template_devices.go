package provider

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Where the launch template's volumes go. The root device is the AMI's:
// /dev/xvda on Amazon Linux, /dev/sda1 on Ubuntu, RHEL and Windows. A
// mapping on any other name is a second, empty disk, and the root stays as
// the AMI has it — unencrypted unless its snapshot or the account is — so
// the root device is looked up, never assumed.

const defaultEtcdDevice = "/dev/sdf"

// imageRootDevice is the AMI's root device name (DescribeImages).
func imageRootDevice(ctx context.Context, c *ec2.Client, image string) (string, error) {
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{image}})
	if err != nil && !isAWSErrorCode(err, "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable") {
		if isAWSErrorCode(err, "InvalidAMIID.Malformed") {
			return "", fmt.Errorf("%s is not an AMI ID: %s", image, awsErrorMessage(err))
		}
		return "", fmt.Errorf("DescribeImages %s: %w", image, err)
	}
	if err != nil || len(out.Images) == 0 {
		return "", fmt.Errorf("AMI %s does not exist in this region, or this account cannot launch it (DescribeImages finds no such image)", image)
	}
	root := aws.ToString(out.Images[0].RootDeviceName)
	if root == "" {
		return "", fmt.Errorf("AMI %s has no root device name", image)
	}
	return root, nil
}

// placeDevices puts the root block on the AMI's root device unless the
// configuration names one (configured), and refuses names that would not
// do what their block says. image is for the messages.
func (m *controlPlaneLaunchTemplateModel) placeDevices(image, root string, configured bool, diags *diag.Diagnostics) {
	if v := m.RootVolume; v != nil {
		if !configured || v.DeviceName.IsNull() || v.DeviceName.IsUnknown() {
			v.DeviceName = types.StringValue(root)
		} else if got := v.DeviceName.ValueString(); got != root {
			diags.AddAttributeError(path.Root("root_volume").AtName("device_name"), "Not the AMI's root device", fmt.Sprintf(
				"device_name %q is not the root device of %s (%q): the block would add a second, empty volume and leave the root as "+
					"the AMI has it, unencrypted unless the AMI's snapshot or the account's default encryption is. Remove device_name "+
					"(it defaults to the AMI's root device) or set %q.", got, image, root, root))
		}
	}
	if v := m.EtcdVolume; v != nil && v.DeviceName.ValueString() == root {
		diags.AddAttributeError(path.Root("etcd_volume").AtName("device_name"), "etcd on the root device", fmt.Sprintf(
			"device_name %q is the root device of %s: etcd would share the root volume, and its I/O with the OS and logs, "+
				"instead of a volume of its own. Choose another device, such as %s.", root, image, defaultEtcdDevice))
	}
}

// planDevices is ModifyPlan's part: the root device from the AMI when the
// configuration leaves it out, unknown while the AMI is.
func (r *controlPlaneLaunchTemplateResource) planDevices(ctx context.Context, config configGetter, plan *controlPlaneLaunchTemplateModel, diags *diag.Diagnostics) {
	var configured types.String
	if plan.RootVolume != nil {
		diags.Append(config.GetAttribute(ctx, path.Root("root_volume").AtName("device_name"), &configured)...)
		if configured.IsNull() {
			plan.RootVolume.DeviceName = types.StringUnknown()
		}
	}
	if plan.ImageID.IsUnknown() || configured.IsUnknown() || !r.clients.awsKnown() || diags.HasError() {
		return
	}
	c, err := r.clients.AWS.EC2(ctx)
	if err == nil {
		var root string
		if root, err = imageRootDevice(ctx, c, plan.ImageID.ValueString()); err == nil {
			plan.placeDevices(plan.ImageID.ValueString(), root, !configured.IsNull(), diags)
			return
		}
	}
	diags.AddAttributeError(path.Root("image_id"), "Cannot look up the AMI's root device", err.Error())
}

// applyDevices is Create's and Update's part: the AMI's root device (for
// the root mapping, with or without a root block), settling what the plan
// could not know.
func (m *controlPlaneLaunchTemplateModel) applyDevices(ctx context.Context, c *ec2.Client, diags *diag.Diagnostics) (string, bool) {
	root, err := imageRootDevice(ctx, c, m.ImageID.ValueString())
	if err != nil {
		diags.AddAttributeError(path.Root("image_id"), "Cannot look up the AMI's root device", err.Error())
		return "", false
	}
	m.placeDevices(m.ImageID.ValueString(), root, m.RootVolume != nil && !m.RootVolume.DeviceName.IsUnknown(), diags)
	return root, !diags.HasError()
}

// rootMapping is the root device's mapping: the block's settings, or
// encryption and deletion with the instance alone (the AMI's size and type
// otherwise).
func (m *controlPlaneLaunchTemplateModel) rootMapping(root string) ec2types.LaunchTemplateBlockDeviceMappingRequest {
	if m.RootVolume != nil {
		return m.RootVolume.mapping()
	}
	return ec2types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: aws.String(root), Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{
		Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true),
	}}
}

// encryptionOnly: the mapping rootMapping writes without a root block.
func encryptionOnly(b ec2types.LaunchTemplateBlockDeviceMapping) bool {
	e := b.Ebs
	return e != nil && e.VolumeSize == nil && e.VolumeType == "" && e.Iops == nil && e.Throughput == nil && e.SnapshotId == nil
}

// readRootDevice is the root device Read compares against: the state's,
// else the AMI's, else (the AMI gone) the usual name the template maps.
func readRootDevice(ctx context.Context, c *ec2.Client, prior *volumeModel, image string, devices map[string]ec2types.LaunchTemplateBlockDeviceMapping) string {
	if prior != nil && !prior.DeviceName.IsNull() && !prior.DeviceName.IsUnknown() {
		return prior.DeviceName.ValueString()
	}
	if root, err := imageRootDevice(ctx, c, image); err == nil {
		return root
	}
	for _, d := range []string{"/dev/xvda", "/dev/sda1"} {
		if _, ok := devices[d]; ok {
			return d
		}
	}
	return ""
}

type configGetter interface {
	GetAttribute(context.Context, path.Path, any) diag.Diagnostics
}
