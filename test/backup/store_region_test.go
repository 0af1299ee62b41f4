package backup_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/k8sguard/k8sguard/backup/store"
	"github.com/k8sguard/k8sguard/test/infra"
)

// A store.region that is not the server's, against the real versitygw
// (region us-east-1): it refuses the signature with 400
// AuthorizationHeaderMalformed, as MinIO and AWS do for a request signed
// for another region. Every operation's error leads with the region the
// server expects and the setting to change, and it is a
// misconfiguration (the agent does not retry it as an outage).
func TestS3StoreNamesTheRegionTheServerExpects(t *testing.T) {
	ctx := context.Background()
	s := infra.StartS3(t)
	st := store.NewS3(s.NewClientFor("eu-west-1"), s.Bucket, "etcd", store.Options{})
	what := "the S3 server of bucket " + s.Bucket + " takes requests signed for region us-east-1, not eu-west-1: set store.region (--store-region / ETCDGUARD_STORE_REGION) to us-east-1"
	for _, op := range []struct {
		name, lead, api string
		do              func() error
	}{
		{"put in one request", "put s3://" + s.Bucket + "/etcd/c/a.json", "PutObject",
			func() error { _, err := st.Put(ctx, "c/a.json", bytes.NewReader([]byte("{}"))); return err }},
		{"put streamed", "put s3://" + s.Bucket + "/etcd/c/a.db", "PutObject",
			func() error { _, err := st.Put(ctx, "c/a.db", strings.NewReader("snapshot")); return err }},
		// A HEAD's 400 has no body; the store asks again with a one-byte
		// GET, whose answer says why.
		{"stat", "stat s3://" + s.Bucket + "/etcd/c/a.db", "GetObject",
			func() error { _, err := st.Stat(ctx, "c/a.db"); return err }},
		{"get", "get s3://" + s.Bucket + "/etcd/c/a.db", "GetObject",
			func() error { _, err := st.Get(ctx, "c/a.db"); return err }},
		{"list", "list s3://" + s.Bucket + "/etcd/c/", "ListObjectsV2",
			func() error { _, err := st.List(ctx, "c/"); return err }},
		{"list a directory", "list s3://" + s.Bucket + "/etcd/c/", "ListObjectsV2",
			func() error { _, err := st.ListDir(ctx, "c/"); return err }},
		{"delete", "delete s3://" + s.Bucket + "/etcd/c/a.db", "DeleteObject",
			func() error { return st.Delete(ctx, "c/a.db") }},
	} {
		err := op.do()
		if err == nil {
			t.Fatalf("%s signed for eu-west-1: no error", op.name)
		}
		want := op.lead + ": " + what + ": operation error S3: " + op.api + ", https response error StatusCode: 400"
		if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), `AuthorizationHeaderMalformed: The authorization header is malformed; the region "eu-west-1" is wrong; expecting "us-east-1"`) {
			t.Errorf("%s signed for eu-west-1:\n got %s\nwant %s…AuthorizationHeaderMalformed…", op.name, err, want)
		}
		if got := store.Misconfigured(err); got != what {
			t.Errorf("%s: Misconfigured = %q, want %q", op.name, got, what)
		}
		if strings.Contains(err.Error(), s.SecretKey) {
			t.Errorf("%s: the secret key is in the error", op.name)
		}
	}
	// The right region still works: the error was the region, nothing else.
	if _, err := snapStore(s).Put(ctx, "c/a.json", bytes.NewReader([]byte("{}"))); err != nil {
		t.Fatal(err)
	}
}
