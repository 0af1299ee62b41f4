package aws_test

import (
	"context"
	"encoding/base64"
	"github.com/k8sguard/k8sguard/test/infra"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
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
	opts := tg.Terraform(t, launchTemplateFixture, map[string]any{"name": name, "instance_type": "m6i.large"})
	defer terraform.DestroyContext(t, context.Background(), opts)
	terraform.InitAndApplyContext(t, context.Background(), opts)
	id := terraform.OutputContext(t, context.Background(), opts, "id")
	if v := terraform.OutputContext(t, context.Background(), opts, "latest_version"); v != "1" {
		t.Fatalf("latest_version = %s after create, want 1", v)
	}
	d := defaultVersion(t, tg, id)
	assertHardened(t, d)
	if d.InstanceType != "m6i.large" || aws.ToString(d.ImageId) != "ami-12c6146b" {
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
			InstanceType: "m6i.xlarge", ImageId: aws.String("ami-12c6146b"),
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
	assertHardened(t, defaultVersion(t, tg, id))
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

func defaultVersion(t *testing.T, tg *fixture.Target, id string) *ec2types.ResponseLaunchTemplateData {
	t.Helper()
	out, err := tg.EC2.DescribeLaunchTemplateVersions(context.Background(), &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"$Default"}})
	if err != nil || len(out.LaunchTemplateVersions) != 1 {
		t.Fatalf("default version of %s: %v", id, err)
	}
	return out.LaunchTemplateVersions[0].LaunchTemplateData
}

func assertHardened(t *testing.T, d *ec2types.ResponseLaunchTemplateData) {
	t.Helper()
	if o := d.MetadataOptions; o == nil || o.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired || aws.ToInt32(o.HttpPutResponseHopLimit) != 1 {
		t.Errorf("metadata options %+v: want IMDSv2 required with hop limit 1", d.MetadataOptions)
	}
	if len(d.BlockDeviceMappings) != 2 {
		t.Errorf("%d block devices, want root and etcd", len(d.BlockDeviceMappings))
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
