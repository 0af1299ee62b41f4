package aws_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// A guarded value that comes from another resource's output is unknown at
// plan, so the plan passes; the rules must then run at apply on the final
// value, refuse it naming the rule, and create nothing in AWS. For each AWS
// resource, on moto (the Kubernetes ones: test/kubernetes/unknown_at_plan_test.go).
func TestRulesRunAtApplyOnValuesUnknownAtPlan_Moto(t *testing.T) {
	tg := fixture.Moto(t)
	ctx := context.Background()
	cluster := fixture.Unique("prod")
	subnets := tg.Network(t, "10.30.0.0/16", "10.30.0.0/25", "10.30.0.128/25")
	tg.Cluster(t, cluster, subnets)

	for _, c := range []struct {
		resource, rule string
		absent         func(name string) error // nil when nothing was created
	}{
		{"control_plane_launch_template", "INSTANCE_T2", func(name string) error {
			out, err := tg.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{name}})
			var apiErr smithy.APIError
			switch {
			case errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidLaunchTemplateName.NotFoundException":
				return nil
			case err != nil:
				return err
			case len(out.LaunchTemplates) > 0:
				return fmt.Errorf("launch template %s exists (%s)", name, aws.ToString(out.LaunchTemplates[0].LaunchTemplateId))
			}
			return nil
		}},
		{"etcd_backup_bucket", "BUCKET_RETENTION_SHORT", func(name string) error {
			out, err := tg.S3.ListBuckets(ctx, &s3.ListBucketsInput{})
			if err != nil {
				return err
			}
			for _, b := range out.Buckets {
				if aws.ToString(b.Name) == name {
					return fmt.Errorf("bucket %s exists", name)
				}
			}
			return nil
		}},
		{"node_pool", "POOL_EXCEEDS_POD_RANGE", func(name string) error {
			out, err := tg.EKS.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String(cluster)})
			if err != nil {
				return err
			}
			if len(out.Nodegroups) > 0 {
				return fmt.Errorf("cluster %s has node groups %v", cluster, out.Nodegroups)
			}
			lts, err := tg.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
			if err != nil {
				return err
			}
			// This test's moto holds no launch template unless a refused
			// resource created one (the pool's own, or the subtest above).
			if len(lts.LaunchTemplates) > 0 {
				return fmt.Errorf("launch template %s exists", aws.ToString(lts.LaunchTemplates[0].LaunchTemplateName))
			}
			return nil
		}},
	} {
		t.Run(c.resource, func(t *testing.T) {
			name := fixture.Unique("unknown-at-plan")
			// No destroy: only terraform_data is in the state, and
			// terraform's destroy would plan the refused resource again.
			opts := tg.Terraform(t, "test/aws/testdata/unknown_at_plan", map[string]any{
				"resource": c.resource, "name": name, "cluster_name": cluster, "subnet_ids": subnets,
			})
			refused := infra.ExpectApplyRefused(t, opts, c.rule)
			if err := c.absent(name); err != nil {
				t.Fatalf("after the refused apply: %v", err)
			}
			t.Logf("k8sguard_%s: plan passed with the value unknown, apply refused it: %q; nothing in AWS (moto)", c.resource, refused)
		})
	}
}
