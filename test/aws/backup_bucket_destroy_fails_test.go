package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
)

// A forced destroy that cannot delete a version (a legal hold here; a
// COMPLIANCE retention the same) fails, and leaves the bucket it keeps
// with every protection: its TLS-only, encrypted-uploads-only policy too.
func TestEtcdBackupBucketFailedDestroyKeepsPolicy_Moto(t *testing.T) {
	ctx := context.Background()
	tg := fixture.Moto(t)
	bucket := fixture.Unique("k8sguard-etcd")
	name := aws.String(bucket)
	opts := tg.Terraform(t, backupBucketFixture, map[string]any{"bucket": bucket, "force_destroy": true})
	terraform.InitContext(t, ctx, opts)
	terraform.ApplyContext(t, ctx, opts)
	// moto enforces the TLS-only policy on this plain-HTTP endpoint: write
	// the snapshot without it, then let apply put it back.
	if _, err := tg.S3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: name}); err != nil {
		t.Fatal(err)
	}
	put, err := tg.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: name, Key: aws.String("prod/snapshot-1.db"), Body: strings.NewReader("etcd snapshot"),
		ServerSideEncryption: s3types.ServerSideEncryptionAes256, ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatalf("put a snapshot: %v", err)
	}
	if _, err := tg.S3.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: name, Key: aws.String("prod/snapshot-1.db"), VersionId: put.VersionId,
		LegalHold: &s3types.ObjectLockLegalHold{Status: s3types.ObjectLockLegalHoldStatusOn}, ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatalf("put a legal hold on the snapshot: %v", err)
	}
	terraform.ApplyContext(t, ctx, opts)
	assertLockedDown(t, tg, bucket)
	defer func() {
		_, _ = tg.S3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: name})
		_, _ = tg.S3.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: name, Key: aws.String("prod/snapshot-1.db"), VersionId: put.VersionId,
			LegalHold: &s3types.ObjectLockLegalHold{Status: s3types.ObjectLockLegalHoldStatusOff}, ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
		terraform.DestroyContext(t, ctx, opts)
	}()
	if _, err := terraform.DestroyContextE(t, ctx, opts); err == nil {
		t.Fatalf("destroy deleted a bucket holding a version under legal hold")
	}
	if _, err := tg.S3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: name}); err != nil {
		t.Errorf("after the failed destroy the bucket %s has no policy: %v", bucket, err)
	}
}
