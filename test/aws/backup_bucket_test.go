package aws_test

import (
	"context"
	"encoding/json"
	"github.com/k8sguard/k8sguard/test/infra"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/k8sguard/k8sguard/test/aws/fixture"
)

const backupBucketFixture = "test/aws/testdata/backup_bucket"

func TestEtcdBackupBucket_Moto(t *testing.T) { testEtcdBackupBucket(t, fixture.Moto(t)) }

func TestEtcdBackupBucket_RealAWS(t *testing.T) { testEtcdBackupBucket(t, fixture.RealAWS(t)) }

// create locked down → drift (policy, public access block and lifecycle
// removed, versioning of a snapshot written) shown and repaired → import →
// destroy refused while snapshots exist → force_destroy → gone.
func testEtcdBackupBucket(t *testing.T, tg *fixture.Target) {
	ctx := context.Background()
	bucket := fixture.Unique("k8sguard-etcd")
	opts := tg.Terraform(t, backupBucketFixture, map[string]any{"bucket": bucket})
	terraform.InitContext(t, context.Background(), opts)

	t.Run("retention below a week is refused", func(t *testing.T) {
		t.Logf("refused: %s", infra.ExpectPlanError(t, withVars(opts, map[string]any{"retention_days": 1}), `\[BUCKET_RETENTION_SHORT\] retention_days 1 keeps a snapshot undeletable for less than 7 days`))
	})

	defer func() {
		if !t.Failed() {
			return // the test destroyed it
		}
		// Leave no bucket behind, whatever step failed.
		opts.Vars["force_destroy"] = true
		_, _ = terraform.ApplyContextE(t, context.Background(), opts)
		terraform.DestroyContext(t, context.Background(), opts)
	}()
	terraform.ApplyContext(t, context.Background(), opts)
	assertLockedDown(t, tg, bucket)
	var policy struct{ Statement []struct{ Action any } }
	if err := json.Unmarshal([]byte(terraform.OutputContext(t, context.Background(), opts, "agent_policy_json")), &policy); err != nil || len(policy.Statement) != 2 {
		t.Fatalf("agent_policy_json: %v %+v", err, policy)
	}
	t.Logf("created %s: Object Lock GOVERNANCE 7 days, versioning, SSE, public access blocked, TLS-only policy, lifecycle", bucket)
	infra.ExpectNoChanges(t, opts, "right after create")

	// Drift: someone strips the protections, then a snapshot lands.
	name := aws.String(bucket)
	for what, err := range map[string]error{
		"policy":              second(tg.S3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: name})),
		"public access block": second(tg.S3.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: name})),
		"lifecycle":           second(tg.S3.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: name})),
	} {
		if err != nil {
			t.Fatalf("remove the %s: %v", what, err)
		}
	}
	if _, err := tg.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: name, Key: aws.String("prod/snapshot-1.db"), Body: strings.NewReader("etcd snapshot"),
		ServerSideEncryption: s3types.ServerSideEncryptionAes256, ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatalf("put a snapshot: %v", err)
	}
	plan := infra.Unwrap(terraform.PlanContext(t, context.Background(), opts))
	for _, want := range []string{"the bucket policy (TLS only, encrypted uploads only) is missing", "the public access block is missing", "the lifecycle (noncurrent expiry, multipart abort) is missing"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan does not show drift %q:\n%s", want, plan)
		}
	}
	terraform.ApplyContext(t, context.Background(), opts)
	assertLockedDown(t, tg, bucket)
	infra.ExpectNoChanges(t, opts, "after repairing drift")
	t.Logf("drift (policy, public access block, lifecycle deleted) shown in plan and repaired by apply")

	// A lifecycle rule added beside k8sguard's expires snapshots behind
	// etcdguard's retention, and no bucket policy stops it.
	if _, err := tg.S3.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: name,
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{
			{ID: aws.String("k8sguard-etcd-backups"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
				NoncurrentVersionExpiration:    &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(30)},
				AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)}},
			{ID: aws.String("cleanup"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
				Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}},
		}}}); err != nil {
		t.Fatalf("add a lifecycle rule: %v", err)
	}
	if plan := infra.Unwrap(terraform.PlanContext(t, context.Background(), opts)); !strings.Contains(plan, `a lifecycle rule \"cleanup\" was added: it can expire snapshots behind etcdguard's retention`) {
		t.Errorf("plan does not show the added lifecycle rule:\n%s", plan)
	}
	terraform.ApplyContext(t, context.Background(), opts)
	assertLockedDown(t, tg, bucket)
	infra.ExpectNoChanges(t, opts, "after removing the added lifecycle rule")

	importInto(t, opts, "k8sguard_etcd_backup_bucket.backups", bucket)
	infra.ExpectNoChanges(t, opts, "after import")

	_, err := terraform.DestroyContextE(t, context.Background(), opts)
	if err == nil || !strings.Contains(infra.Unwrap(err.Error()), "bucket "+bucket+" holds 1 object versions") {
		t.Fatalf("destroy of a bucket holding a snapshot: err = %v, want a refusal naming the bucket", err)
	}
	t.Logf("destroy refused: bucket holds a snapshot and force_destroy is false")

	opts.Vars["force_destroy"] = true
	terraform.ApplyContext(t, context.Background(), opts)
	terraform.DestroyContext(t, context.Background(), opts)
	if _, err := tg.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: name}); err == nil {
		t.Fatalf("bucket %s still exists after a forced destroy", bucket)
	}
	t.Logf("force_destroy = true: locked versions deleted (governance bypass) and the bucket removed")
}

func second[T any](_ T, err error) error { return err }

func assertLockedDown(t *testing.T, tg *fixture.Target, bucket string) {
	t.Helper()
	ctx := context.Background()
	name := aws.String(bucket)
	if v, err := tg.S3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: name}); err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
		t.Errorf("versioning: %v %v", v, err)
	}
	if l, err := tg.S3.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: name}); err != nil ||
		l.ObjectLockConfiguration.Rule.DefaultRetention.Mode != s3types.ObjectLockRetentionModeGovernance || aws.ToInt32(l.ObjectLockConfiguration.Rule.DefaultRetention.Days) != 7 {
		t.Errorf("object lock: %v", err)
	}
	if e, err := tg.S3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: name}); err != nil ||
		e.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAes256 {
		t.Errorf("encryption: %v", err)
	}
	if p, err := tg.S3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: name}); err != nil || !aws.ToBool(p.PublicAccessBlockConfiguration.RestrictPublicBuckets) {
		t.Errorf("public access block: %v", err)
	}
	if p, err := tg.S3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: name}); err != nil || !strings.Contains(aws.ToString(p.Policy), "aws:SecureTransport") {
		t.Errorf("bucket policy: %v", err)
	}
	if l, err := tg.S3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: name}); err != nil || len(l.Rules) != 1 ||
		aws.ToInt32(l.Rules[0].AbortIncompleteMultipartUpload.DaysAfterInitiation) != 1 || aws.ToInt32(l.Rules[0].NoncurrentVersionExpiration.NoncurrentDays) != 30 {
		t.Errorf("lifecycle: %v", err)
	}
}
