package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
	"github.com/k8sguard/k8sguard/test/infra"
)

// A bucket of that name that already exists (another team's, or one made by
// hand) is not adopted and rewritten: create fails and leaves it as it was.
func TestEtcdBackupBucketAlreadyExists_Moto(t *testing.T) {
	ctx := context.Background()
	tg := fixture.Moto(t)
	bucket := fixture.Unique("k8sguard-etcd")
	if _, err := tg.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = tg.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}) })
	opts := tg.Terraform(t, backupBucketFixture, map[string]any{"bucket": bucket})
	terraform.InitContext(t, ctx, opts)
	_, err := terraform.ApplyContextE(t, ctx, opts)
	if err == nil {
		terraform.DestroyContext(t, ctx, opts)
		t.Fatalf("apply adopted the existing bucket %s", bucket)
	}
	if !strings.Contains(infra.Unwrap(err.Error()), "already exists") {
		t.Errorf("apply error does not say the bucket exists: %v", err)
	}
	if _, err := tg.S3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)}); err == nil {
		t.Errorf("the existing bucket %s was given k8sguard's policy", bucket)
	}
}
