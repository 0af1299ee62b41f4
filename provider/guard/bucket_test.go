package guard

import (
	"encoding/json"
	"strings"
	"testing"
)

const deleteStory = " Prevents: etcdctl del -r wiped the cluster's registry, no recent backup (Zalando incident 4)."

func TestCheckBackupBucket(t *testing.T) {
	cases := []struct {
		name string
		b    BackupBucket
		want []string
	}{
		{name: "a week locked, a month of versions", b: BackupBucket{RetentionDays: 7, NoncurrentDays: 30}},
		{
			name: "retention too short",
			b:    BackupBucket{RetentionDays: 1, NoncurrentDays: 30},
			want: []string{"retention_days: [BUCKET_RETENTION_SHORT] retention_days 1 keeps a snapshot undeletable for less than 7 days: " +
				"a bad delete noticed after a weekend finds the backups gone too. Use 7 or more." + deleteStory},
		},
		{
			name: "noncurrent versions expire before their lock",
			b:    BackupBucket{RetentionDays: 14, NoncurrentDays: 7},
			want: []string{"noncurrent_days: [BUCKET_NONCURRENT_SHORTER_THAN_RETENTION] noncurrent_days 7 is shorter than retention_days 14: " +
				"S3 cannot expire locked versions, so they stay 14 days anyway. Set noncurrent_days to at least retention_days." + deleteStory},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expectDiagnosticTexts(t, CheckBackupBucket(c.b), c.want) })
	}
	if fs := CheckBackupBucket(BackupBucket{RetentionDays: 14, NoncurrentDays: 7}); HasErrors(fs) {
		t.Fatal("a noncurrent_days shorter than retention is a warning, not an error")
	}
}

type statement struct {
	Sid       string
	Effect    string
	Action    any
	Resource  any
	Condition map[string]map[string]string
}

func parsePolicy(t *testing.T, doc string) []statement {
	t.Helper()
	var p struct {
		Version   string
		Statement []statement
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("policy is not JSON: %v\n%s", err, doc)
	}
	if p.Version != "2012-10-17" {
		t.Fatalf("policy version %q", p.Version)
	}
	return p.Statement
}

func actions(s statement) []string {
	switch a := s.Action.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

func TestAgentPolicyIsLeastPrivilege(t *testing.T) {
	b := BackupBucket{Name: "prod-etcd-backups", AgentPrefix: "prod/"}
	stmts := parsePolicy(t, b.AgentPolicy())
	var all []string
	for _, s := range stmts {
		if s.Effect != "Allow" {
			t.Errorf("statement %s: effect %s", s.Sid, s.Effect)
		}
		all = append(all, actions(s)...)
		switch s.Sid {
		case "ListSnapshots":
			if s.Resource != "arn:aws:s3:::prod-etcd-backups" || s.Condition["StringLike"]["s3:prefix"] != "prod/*" {
				t.Errorf("listing is not limited to the prefix: %+v", s)
			}
		case "ReadWriteSnapshots":
			if s.Resource != "arn:aws:s3:::prod-etcd-backups/prod/*" {
				t.Errorf("object access is not limited to the prefix: %v", s.Resource)
			}
		default:
			t.Errorf("unexpected statement %s", s.Sid)
		}
	}
	got := strings.Join(all, ",")
	if got != "s3:ListBucket,s3:PutObject,s3:GetObject,s3:DeleteObject,s3:AbortMultipartUpload" {
		t.Errorf("agent actions = %s", got)
	}
	for _, forbidden := range []string{"DeleteObjectVersion", "BypassGovernanceRetention", "PutBucket", "DeleteBucket", "PutObjectRetention", "PutLifecycle", "*"} {
		if strings.Contains(got, forbidden) {
			t.Errorf("agent policy grants %s", forbidden)
		}
	}
}

func TestBucketPolicyDeniesPlainTextAndUnencryptedUploads(t *testing.T) {
	for _, b := range []BackupBucket{{Name: "b1"}, {Name: "b2", KMSKeyID: "arn:aws:kms:us-east-1:123456789012:key/k"}} {
		stmts := parsePolicy(t, b.BucketPolicy())
		bySid := map[string]statement{}
		for _, s := range stmts {
			if s.Effect != "Deny" {
				t.Errorf("%s: bucket policy statement %s allows something", b.Name, s.Sid)
			}
			bySid[s.Sid] = s
		}
		if c := bySid["DenyInsecureTransport"].Condition["Bool"]["aws:SecureTransport"]; c != "false" {
			t.Errorf("%s: no TLS-only statement", b.Name)
		}
		if c := bySid["DenyUnencryptedUploads"].Condition["Null"]["s3:x-amz-server-side-encryption"]; c != "true" {
			t.Errorf("%s: uploads without encryption header not denied", b.Name)
		}
		if c := bySid["DenyWrongEncryption"].Condition["StringNotEqualsIfExists"]["s3:x-amz-server-side-encryption"]; c != b.SSEAlgorithm() {
			t.Errorf("%s: wrong-encryption statement wants %q, bucket uses %q", b.Name, c, b.SSEAlgorithm())
		}
	}
}

// With SSE-KMS every upload needs a data key and every read (and the
// completion of a multipart upload) needs Decrypt on the bucket's key
// (AWS: "Why can't I upload a large file to Amazon S3 with encryption
// using an AWS KMS key?"): without them etcdguard's uploads are denied.
func TestAgentPolicyMayUseTheBucketsKMSKey(t *testing.T) {
	for _, c := range []struct{ key, resource string }{
		{"arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"alias/etcd-backups", "*"},
		{"", ""},
	} {
		b := BackupBucket{Name: "prod-etcd-backups", KMSKeyID: c.key}
		var kms *statement
		for _, s := range parsePolicy(t, b.AgentPolicy()) {
			if s.Sid == "UseBackupKeyThroughS3" {
				kms = &s
			}
		}
		switch {
		case c.key == "" && kms != nil:
			t.Errorf("SSE-S3 bucket: the agent policy grants KMS: %+v", kms)
		case c.key == "":
		case kms == nil:
			t.Errorf("key %q: no KMS statement", c.key)
		case strings.Join(actions(*kms), ",") != "kms:GenerateDataKey,kms:Decrypt" || kms.Resource != c.resource ||
			kms.Condition["StringLike"]["kms:ViaService"] != "s3.*.amazonaws.com":
			t.Errorf("key %q: KMS statement %+v", c.key, kms)
		}
	}
}
