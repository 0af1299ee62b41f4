package guard

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Rule IDs of the etcd backup bucket family.
const (
	RuleBucketRetentionShort  = "BUCKET_RETENTION_SHORT"
	RuleBucketNoncurrentShort = "BUCKET_NONCURRENT_SHORTER_THAN_RETENTION"
)

var storyEtcdDelete = Story{
	Name: "etcdctl del -r wiped the cluster's registry, no recent backup (Zalando incident 4)",
	// Zalando's talk "Running Kubernetes in Production: A Million Ways to
	// Crash Your Cluster" (DevOpsCon Munich 2018), the slides.
	URL: "https://www.slideshare.net/try_except_/running-kubernetes-in-production-a-million-ways-to-crash-your-cluster-devopscon-munich-2018",
}

// MinRetentionDays is how long a snapshot must stay undeletable: a week
// covers a loss noticed after a weekend, plus the time to restore.
const MinRetentionDays = 7

var _ = register(
	Rule{
		ID: RuleBucketRetentionShort, Family: "bucket", Severity: Error, Waivable: true,
		Checks: fmt.Sprintf("Object Lock keeps snapshots at least %d days", MinRetentionDays),
		Story:  storyEtcdDelete,
	},
	Rule{
		ID: RuleBucketNoncurrentShort, Family: "bucket", Severity: Warning, Waivable: false,
		Checks: "noncurrent versions are not set to expire before their Object Lock retention ends (S3 would keep them anyway)",
		Story:  storyEtcdDelete,
	},
)

// Object Lock modes.
const (
	LockGovernance = "GOVERNANCE"
	LockCompliance = "COMPLIANCE"
)

// BackupBucket is a k8sguard_etcd_backup_bucket's shape.
type BackupBucket struct {
	Name           string
	LockMode       string
	RetentionDays  int64
	NoncurrentDays int64
	KMSKeyID       string // empty: SSE-S3
	AgentPrefix    string
}

// CheckBackupBucket runs the bucket rules.
func CheckBackupBucket(b BackupBucket) []Finding {
	var fs []Finding
	if b.RetentionDays < MinRetentionDays {
		fs = append(fs, finding(RuleBucketRetentionShort, Path{"retention_days"},
			"retention_days %d keeps a snapshot undeletable for less than %d days: a bad delete noticed after a weekend finds the backups gone too. Use %d or more.",
			b.RetentionDays, MinRetentionDays, MinRetentionDays))
	}
	if b.NoncurrentDays < b.RetentionDays {
		fs = append(fs, finding(RuleBucketNoncurrentShort, Path{"noncurrent_days"},
			"noncurrent_days %d is shorter than retention_days %d: S3 cannot expire locked versions, so they stay %d days anyway. Set noncurrent_days to at least retention_days.",
			b.NoncurrentDays, b.RetentionDays, b.RetentionDays))
	}
	return fs
}

// SSEAlgorithm is the default encryption the bucket uses.
func (b BackupBucket) SSEAlgorithm() string {
	if b.KMSKeyID != "" {
		return "aws:kms"
	}
	return "AES256"
}

// ARN is the bucket's ARN.
func (b BackupBucket) ARN() string { return "arn:aws:s3:::" + b.Name }

type policyDocument struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal any                          `json:"Principal,omitempty"`
	Action    any                          `json:"Action"`
	Resource  any                          `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

func renderPolicy(d policyDocument) string {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic("guard: policy document: " + err.Error()) // static shapes: cannot fail
	}
	return string(b)
}

// BucketPolicy is the bucket policy: no request without TLS, no upload
// without the bucket's server-side encryption header. Uploaders (etcdguard)
// must send x-amz-server-side-encryption.
func (b BackupBucket) BucketPolicy() string {
	objects := b.ARN() + "/*"
	return renderPolicy(policyDocument{Version: "2012-10-17", Statement: []policyStatement{
		{
			Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*",
			Resource:  []string{b.ARN(), objects},
			Condition: map[string]map[string]string{"Bool": {"aws:SecureTransport": "false"}},
		},
		{
			Sid: "DenyUnencryptedUploads", Effect: "Deny", Principal: "*", Action: "s3:PutObject",
			Resource:  objects,
			Condition: map[string]map[string]string{"Null": {"s3:x-amz-server-side-encryption": "true"}},
		},
		{
			Sid: "DenyWrongEncryption", Effect: "Deny", Principal: "*", Action: "s3:PutObject",
			Resource:  objects,
			Condition: map[string]map[string]string{"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": b.SSEAlgorithm()}},
		},
	}})
}

// AgentActions are everything the backup agent may do. DeleteObject on a
// versioned, locked bucket only adds a delete marker, so retention pruning
// works while the versions survive; DeleteObjectVersion,
// BypassGovernanceRetention and every bucket-level write are absent on
// purpose. AbortMultipartUpload cleans up a failed streaming upload.
var AgentActions = []string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}

// AgentKMSActions are what SSE-KMS needs of the agent on the bucket's key:
// a data key for every upload (multipart too) and decryption to read a
// snapshot back or complete a multipart upload.
var AgentKMSActions = []string{"kms:GenerateDataKey", "kms:Decrypt"}

// AgentPolicy is the least-privilege IAM policy document for etcdguard:
// object access under its prefix, listing limited to that prefix, and with
// SSE-KMS the use of the key through S3 only. A key given by ARN is named;
// a key ID or alias cannot be (IAM names keys by ARN), so the statement
// then allows any key, used through S3 only.
func (b BackupBucket) AgentPolicy() string {
	prefix := strings.TrimPrefix(b.AgentPrefix, "/")
	stmts := []policyStatement{
		{
			Sid: "ListSnapshots", Effect: "Allow", Action: "s3:ListBucket",
			Resource:  b.ARN(),
			Condition: map[string]map[string]string{"StringLike": {"s3:prefix": prefix + "*"}},
		},
		{
			Sid: "ReadWriteSnapshots", Effect: "Allow", Action: AgentActions,
			Resource: b.ARN() + "/" + prefix + "*",
		},
	}
	if b.KMSKeyID != "" {
		key := "*"
		if strings.HasPrefix(b.KMSKeyID, "arn:") && strings.Contains(b.KMSKeyID, ":key/") {
			key = b.KMSKeyID
		}
		stmts = append(stmts, policyStatement{
			Sid: "UseBackupKeyThroughS3", Effect: "Allow", Action: AgentKMSActions, Resource: key,
			Condition: map[string]map[string]string{"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
		})
	}
	return renderPolicy(policyDocument{Version: "2012-10-17", Statement: stmts})
}
