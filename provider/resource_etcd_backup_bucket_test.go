package provider

import (
	"testing"
)

func TestEtcdBackupBucketRetentionRefusedAtPlan(t *testing.T) {
	withoutAWSCredentials(t)
	planOnly(t, noCloudProvider+`
resource "k8sguard_etcd_backup_bucket" "b" {
  bucket         = "prod-etcd-backups"
  retention_days = 3
}
`, wrapped(`\[BUCKET_RETENTION_SHORT\] retention_days 3 keeps a snapshot undeletable for less than 7 days`))
}

func TestSameJSONIgnoresFormatting(t *testing.T) {
	if !sameJSON(`{"a": [1, {"b": "c"}]}`, "{\n  \"a\":[1,{\"b\":\"c\"}]\n}") {
		t.Fatal("same document, different whitespace, reported different")
	}
	if sameJSON(`{"a": 1}`, `{"a": 2}`) || sameJSON(`not json`, `not json`) {
		t.Fatal("different or invalid documents reported equal")
	}
}
