package aws_test

import (
	"context"
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

const launchTemplateFixture = "test/aws/testdata/launch_template"

func TestControlPlaneLaunchTemplateLifecycle_Moto(t *testing.T) {
	testControlPlaneLaunchTemplateLifecycle(t, fixture.Moto(t))
}

func TestControlPlaneLaunchTemplateLifecycle_RealAWS(t *testing.T) {
	testControlPlaneLaunchTemplateLifecycle(t, fixture.RealAWS(t))
}

// create → read back hardened → update (new default version) → drift
// repaired → import → destroy.
func testControlPlaneLaunchTemplateLifecycle(t *testing.T, tg *fixture.Target) {
	ctx := context.Background()
	name := fixture.Unique("k8sguard-cp")
	img := controlPlaneImage(t, tg)
	opts := tg.Terraform(t, launchTemplateFixture, map[string]any{"name": name, "instance_type": "m6i.large", "image_id": img.id})
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, context.Background(), opts)
	id := terraform.OutputContext(t, context.Background(), opts, "id")
	if v := terraform.OutputContext(t, context.Background(), opts, "latest_version"); v != "1" {
		t.Fatalf("latest_version = %s after create, want 1", v)
	}
	d := defaultVersion(t, tg, id)
	assertHardened(t, d, img.root, true)
	if d.InstanceType != "m6i.large" || aws.ToString(d.ImageId) != img.id {
		t.Errorf("instance type %s image %s", d.InstanceType, aws.ToString(d.ImageId))
	}
	if ud, _ := base64.StdEncoding.DecodeString(aws.ToString(d.UserData)); string(ud) != "#!/bin/sh\necho bootstrap etcd\n" {
		t.Errorf("user data %q: the provider must base64-encode the plain text", ud)
	}
	t.Logf("created %s (%s): IMDSv2 required, hop limit 1, volumes encrypted, no public IP", id, name)
	infra.ExpectNoChanges(t, opts, "right after create")

	opts.Vars["instance_type"] = "m6i.xlarge"
	terraform.ApplyContext(t, context.Background(), opts)
	if v := terraform.OutputContext(t, context.Background(), opts, "latest_version"); v != "2" {
		t.Fatalf("latest_version = %s after changing the instance type, want 2", v)
	}
	if d := defaultVersion(t, tg, id); d.InstanceType != "m6i.xlarge" {
		t.Fatalf("default version runs %s, want the new m6i.xlarge", d.InstanceType)
	}
	t.Logf("instance type change made version 2 the default")

	// Someone makes an unhardened version the default behind Terraform's back.
	v, err := tg.EC2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: aws.String(id),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
			InstanceType: "m6i.xlarge", ImageId: aws.String(img.id),
			MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateOptional},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	drifted := strconv.FormatInt(aws.ToInt64(v.LaunchTemplateVersion.VersionNumber), 10)
	if _, err := tg.EC2.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(id), DefaultVersion: aws.String(drifted)}); err != nil {
		t.Fatal(err)
	}
	plan := infra.Unwrap(terraform.PlanContext(t, context.Background(), opts))
	if !contains(plan, "IMDSv2 is not required") {
		t.Fatalf("plan does not show the lost IMDSv2 hardening:\n%s", plan)
	}
	terraform.ApplyContext(t, context.Background(), opts)
	assertHardened(t, defaultVersion(t, tg, id), img.root, true)
	t.Logf("drift (version %s without IMDSv2 made default) shown in plan and repaired by apply", drifted)
	infra.ExpectNoChanges(t, opts, "after repairing drift")

	importInto(t, opts, "k8sguard_control_plane_launch_template.masters", id)
	infra.ExpectNoChanges(t, opts, "after import")

	terraform.DestroyContext(t, context.Background(), opts)
	out, err := tg.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{id}})
	if err == nil && len(out.LaunchTemplates) > 0 {
		t.Fatalf("launch template %s still exists after destroy", id)
	}
}

func TestControlPlaneLaunchTemplateRefusedAtPlan_Moto(t *testing.T) {
	testControlPlaneLaunchTemplateRefusedAtPlan(t, fixture.Moto(t))
}

func TestControlPlaneLaunchTemplateRefusedAtPlan_RealAWS(t *testing.T) {
	testControlPlaneLaunchTemplateRefusedAtPlan(t, fixture.RealAWS(t))
}

func testControlPlaneLaunchTemplateRefusedAtPlan(t *testing.T, tg *fixture.Target) {
	opts := tg.Terraform(t, launchTemplateFixture, map[string]any{"name": fixture.Unique("k8sguard-cp"), "instance_type": "m6i.large"})
	terraform.InitContext(t, context.Background(), opts)
	cases := []struct {
		name string
		vars map[string]any
		want string
	}{
		{"T2", map[string]any{"instance_type": "t2.large"}, `\[INSTANCE_T2\] t2\.large is a T2 instance`},
		{"T2 even with burstable allowed", map[string]any{"instance_type": "t2.large", "allow_burstable": true}, `\[INSTANCE_T2\] t2\.large is a T2 instance`},
		{"T2 cannot be waived", map[string]any{"instance_type": "t2.large", "waivers": map[string]string{"INSTANCE_T2": "cheap"}}, `\[WAIVER_INVALID\] waiver for INSTANCE_T2: this rule cannot be waived`},
		{"burstable", map[string]any{"instance_type": "t3.large"}, `\[INSTANCE_BURSTABLE\] t3\.large is burstable`},
		{"unknown type", map[string]any{"instance_type": "m6i.huge"}, `\[INSTANCE_UNKNOWN_TYPE\] instance type m6i\.huge does not exist in this region`},
		{"slow etcd volume", map[string]any{"etcd_volume_type": "st1", "etcd_iops": nil}, `\[ETCD_VOLUME_SLOW\] etcd volume type st1 is a magnetic/HDD volume`},
		{"gp3 below 3000 IOPS", map[string]any{"etcd_iops": 1000}, `\[ETCD_VOLUME_SLOW\] etcd volume gp3 of 100 GiB gets 1000 IOPS, below 3000`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("refused: %s", infra.ExpectPlanError(t, withVars(opts, c.vars), c.want+`[^.]*\.`))
		})
	}
	t.Run("burstable allowed by the provider", func(t *testing.T) {
		o := withVars(opts, map[string]any{"instance_type": "t3.large", "allow_burstable": true})
		if _, err := infra.PlanE(t, context.Background(), o); err != nil {
			t.Fatalf("t3.large with allow_burstable_control_plane = true was refused: %v", err)
		}
	})
}

// The root volume goes on the AMI's root device, whatever it is called, and
// is encrypted with or without a root_volume block; an AMI with another
// root device name moves it. Moto's AMI list has both names: Ubuntu's
// /dev/sda1 and Amazon Linux's /dev/xvda.
func TestControlPlaneLaunchTemplateRootDevice_Moto(t *testing.T) {
	tg := fixture.Moto(t)
	opts := tg.Terraform(t, launchTemplateFixture, map[string]any{"name": fixture.Unique("k8sguard-cp"), "instance_type": "m6i.large", "root_volume": false})
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, context.Background(), opts)
	id := terraform.OutputContext(t, context.Background(), opts, "id")
	assertHardened(t, defaultVersion(t, tg, id), "/dev/sda1", false)
	infra.ExpectNoChanges(t, opts, "without a root_volume block")
	t.Logf("no root_volume block: %s maps /dev/sda1 (Ubuntu's root) with encryption only", id)

	opts.Vars["root_volume"] = true
	terraform.ApplyContext(t, context.Background(), opts)
	assertHardened(t, defaultVersion(t, tg, id), "/dev/sda1", true)
	infra.ExpectNoChanges(t, opts, "after adding a root_volume block")

	opts.Vars["image_id"] = "ami-760aaa0f" // Amazon Linux: root device /dev/xvda
	terraform.ApplyContext(t, context.Background(), opts)
	assertHardened(t, defaultVersion(t, tg, id), "/dev/xvda", true)
	infra.ExpectNoChanges(t, opts, "after moving to Amazon Linux")
	t.Logf("the root block followed the AMI from /dev/sda1 to /dev/xvda")

	importInto(t, opts, "k8sguard_control_plane_launch_template.masters", id)
	infra.ExpectNoChanges(t, opts, "after import")
	opts.Vars["root_volume"] = false
	importInto(t, opts, "k8sguard_control_plane_launch_template.masters", id)
	terraform.ApplyContext(t, context.Background(), opts)
	assertHardened(t, defaultVersion(t, tg, id), "/dev/xvda", false)
	infra.ExpectNoChanges(t, opts, "after import without a root_volume block")

	// A template an older provider wrote without the root mapping: drift.
	v, err := tg.EC2.CreateLaunchTemplateVersion(context.Background(), &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: aws.String(id), SourceVersion: aws.String("$Default"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
			InstanceType: "m6i.large", ImageId: aws.String("ami-760aaa0f"),
			MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(1)},
			BlockDeviceMappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{
				DeviceName: aws.String("/dev/sdf"), Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{Encrypted: aws.Bool(true), VolumeSize: aws.Int32(100), VolumeType: "gp3", Iops: aws.Int32(6000), Throughput: aws.Int32(250)},
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.EC2.ModifyLaunchTemplate(context.Background(), &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(id),
		DefaultVersion: aws.String(strconv.FormatInt(aws.ToInt64(v.LaunchTemplateVersion.VersionNumber), 10))}); err != nil {
		t.Fatal(err)
	}
	if plan := infra.Unwrap(terraform.PlanContext(t, context.Background(), opts)); !contains(plan, "the root device /dev/xvda is not mapped, so the template does not encrypt the root volume") {
		t.Fatalf("plan does not show the unencrypted root:\n%s", plan)
	}
	terraform.ApplyContext(t, context.Background(), opts)
	assertHardened(t, defaultVersion(t, tg, id), "/dev/xvda", false)
	t.Logf("a default version without the root mapping is drift, repaired by apply")
}

// The device names that would not do what their block says, and an AMI
// that does not exist, fail the plan.
func TestControlPlaneLaunchTemplateDevicesRefusedAtPlan_Moto(t *testing.T) {
	tg := fixture.Moto(t)
	opts := tg.Terraform(t, launchTemplateFixture, map[string]any{"name": fixture.Unique("k8sguard-cp"), "instance_type": "m6i.large"})
	terraform.InitContext(t, context.Background(), opts)
	for _, c := range []struct {
		name string
		vars map[string]any
		want string
	}{
		{"root block on Amazon Linux's name for an Ubuntu AMI", map[string]any{"root_device_name": "/dev/xvda"},
			`device_name "/dev/xvda" is not the root device of ami-785db401 \("/dev/sda1"\): the block would add a second, empty volume`},
		{"etcd on the root device", map[string]any{"etcd_device_name": "/dev/sda1"},
			`device_name "/dev/sda1" is the root device of ami-785db401: etcd would share the root volume`},
		{"AMI that does not exist", map[string]any{"image_id": "ami-0123456789abcdef0"},
			`AMI ami-0123456789abcdef0 does not exist in this region, or this account cannot launch it`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("refused: %s", infra.ExpectPlanError(t, withVars(opts, c.vars), c.want+`[^.]*\.`))
		})
	}
	if _, err := infra.PlanE(t, context.Background(), withVars(opts, map[string]any{"root_device_name": "/dev/sda1"})); err != nil {
		t.Fatalf("the AMI's own root device, named, was refused: %v", err)
	}
}

type amiUnderTest struct{ id, root string }

// controlPlaneImage is moto's Ubuntu AMI, or on real AWS the one
// K8SGUARD_AWS_AMI names (its root device looked up).
func controlPlaneImage(t *testing.T, tg *fixture.Target) amiUnderTest {
	t.Helper()
	env := tg.RequireEnv(t, "K8SGUARD_AWS_AMI")
	if tg.Name == "moto" {
		return amiUnderTest{"ami-785db401", "/dev/sda1"}
	}
	out, err := tg.EC2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{env["K8SGUARD_AWS_AMI"]}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("K8SGUARD_AWS_AMI=%s: %v", env["K8SGUARD_AWS_AMI"], err)
	}
	return amiUnderTest{env["K8SGUARD_AWS_AMI"], aws.ToString(out.Images[0].RootDeviceName)}
}

func defaultVersion(t *testing.T, tg *fixture.Target, id string) *ec2types.ResponseLaunchTemplateData {
	t.Helper()
	out, err := tg.EC2.DescribeLaunchTemplateVersions(context.Background(), &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"$Default"}})
	if err != nil || len(out.LaunchTemplateVersions) != 1 {
		t.Fatalf("default version of %s: %v", id, err)
	}
	return out.LaunchTemplateVersions[0].LaunchTemplateData
}

// assertHardened: IMDSv2, no public IP, and exactly two volumes, both
// encrypted: the root on root (50 GiB from the block, or encryption only
// without one) and etcd's on /dev/sdf.
func assertHardened(t *testing.T, d *ec2types.ResponseLaunchTemplateData, root string, rootBlock bool) {
	t.Helper()
	if o := d.MetadataOptions; o == nil || o.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired || aws.ToInt32(o.HttpPutResponseHopLimit) != 1 {
		t.Errorf("metadata options %+v: want IMDSv2 required with hop limit 1", d.MetadataOptions)
	}
	devices := map[string]*ec2types.LaunchTemplateEbsBlockDevice{}
	for _, b := range d.BlockDeviceMappings {
		devices[aws.ToString(b.DeviceName)] = b.Ebs
	}
	if r, etcd := devices[root], devices["/dev/sdf"]; len(devices) != 2 || r == nil || etcd == nil {
		t.Errorf("block devices %v, want the root on %s and etcd's on /dev/sdf", slices.Sorted(maps.Keys(devices)), root)
	} else if rootBlock && aws.ToInt32(r.VolumeSize) != 50 || !rootBlock && (r.VolumeSize != nil || r.VolumeType != "" || !aws.ToBool(r.DeleteOnTermination)) {
		t.Errorf("root volume %s: size %d type %q, want the block's 50 GiB (block %v) or the AMI's settings", root, aws.ToInt32(r.VolumeSize), r.VolumeType, rootBlock)
	}
	for _, b := range d.BlockDeviceMappings {
		if b.Ebs == nil || !aws.ToBool(b.Ebs.Encrypted) {
			t.Errorf("volume %s not encrypted", aws.ToString(b.DeviceName))
		}
		if aws.ToString(b.DeviceName) == "/dev/sdf" && (b.Ebs.VolumeType != "gp3" || aws.ToInt32(b.Ebs.Iops) != 6000) {
			t.Errorf("etcd volume %s %d IOPS, want gp3 6000", b.Ebs.VolumeType, aws.ToInt32(b.Ebs.Iops))
		}
	}
	if len(d.NetworkInterfaces) != 1 || aws.ToBool(d.NetworkInterfaces[0].AssociatePublicIpAddress) {
		t.Errorf("network interfaces %+v: want one without a public IP", d.NetworkInterfaces)
	}
}
