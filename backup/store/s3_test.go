package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// wrongRegionS3 stands in for AWS S3 asked for a bucket in another
// region than the request's: every request is answered 301 Moved
// Permanently, with x-amz-bucket-region naming the bucket's region when
// bucketRegion is set. A HEAD gets no body, anything else S3's
// PermanentRedirect document, as AWS sends them. Neither S3 server the
// tests run (versitygw, moto) answers this way, hence the stand-in.
func wrongRegionS3(t *testing.T, bucketRegion string) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen = append(seen, r.Method)
		mu.Unlock()
		bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		h := w.Header()
		h.Set("x-amz-request-id", "K8SGUARDREQ")
		h.Set("x-amz-id-2", "K8SGUARDHOST")
		h.Set("Server", "AmazonS3")
		h.Set("Content-Type", "application/xml")
		if bucketRegion != "" {
			h.Set("x-amz-bucket-region", bucketRegion)
		}
		w.WriteHeader(http.StatusMovedPermanently)
		if r.Method == http.MethodHead {
			return
		}
		endpoint := bucket + ".s3.amazonaws.com"
		if bucketRegion != "" {
			endpoint = bucket + ".s3." + bucketRegion + ".amazonaws.com"
		}
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Endpoint>%s</Endpoint><Bucket>%s</Bucket><RequestId>K8SGUARDREQ</RequestId><HostId>K8SGUARDHOST</HostId></Error>`, endpoint, bucket)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

// A store.region that is not the bucket's: AWS answers 301 (a HEAD with
// no body at all), which the SDK reads as "MovedPermanently: Moved
// Permanently". Every request names the bucket's region and the setting
// that fixes it, and it is a misconfiguration (no retry fixes it). A fake
// server: no S3 server that runs here answers a wrong region this way.
func TestStoreFakeWrongRegionRedirectIsNamed(t *testing.T) {
	ctx := context.Background()
	const sdk = "https response error StatusCode: 301, RequestID: K8SGUARDREQ, HostID: K8SGUARDHOST, api error "
	for _, c := range []struct {
		bucketRegion string
		what         string
	}{
		{"eu-central-1", "the bucket k8sguard-backups is in region eu-central-1, not us-east-1: set store.region (--store-region / ETCDGUARD_STORE_REGION) to eu-central-1"},
		{"", "the bucket k8sguard-backups is in another region, not us-east-1: set store.region (--store-region / ETCDGUARD_STORE_REGION) to the bucket's region"},
		// The configured region, redirected all the same: the request
		// went to another region's endpoint (store.endpoint).
		{"us-east-1", "the bucket k8sguard-backups is in region us-east-1, as configured, but the request went to another region's endpoint: check store.endpoint (--store-endpoint / ETCDGUARD_STORE_ENDPOINT)"},
	} {
		srv, seen := wrongRegionS3(t, c.bucketRegion)
		client := s3.New(s3.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String(srv.URL),
			UsePathStyle: true,
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "AKIDK8SGUARD", SecretAccessKey: "secret-k8sguard"}, nil
			}),
		})
		s := NewS3(client, "k8sguard-backups", "etcd", Options{})
		redirect := "PermanentRedirect: The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint."
		for _, op := range []struct {
			name string
			do   func() error
			want string
		}{
			{"stat", func() error { _, err := s.Stat(ctx, "c/a.db"); return err },
				"stat s3://k8sguard-backups/etcd/c/a.db: " + c.what + ": operation error S3: HeadObject, " + sdk + "MovedPermanently: Moved Permanently"},
			{"list", func() error { _, err := s.List(ctx, "c/"); return err },
				"list s3://k8sguard-backups/etcd/c/: " + c.what + ": operation error S3: ListObjectsV2, " + sdk + redirect},
			{"put in one request", func() error { _, err := s.Put(ctx, "c/a.json", bytes.NewReader([]byte("{}"))); return err },
				"put s3://k8sguard-backups/etcd/c/a.json: " + c.what + ": operation error S3: PutObject, " + sdk + redirect},
			{"put streamed", func() error { _, err := s.Put(ctx, "c/a.db", strings.NewReader("snapshot")); return err },
				"put s3://k8sguard-backups/etcd/c/a.db: " + c.what + ": operation error S3: PutObject, " + sdk + redirect},
			{"get", func() error { _, err := s.Get(ctx, "c/a.db"); return err },
				"get s3://k8sguard-backups/etcd/c/a.db: " + c.what + ": operation error S3: GetObject, " + sdk + redirect},
		} {
			*seen = nil
			err := op.do()
			if err == nil {
				t.Fatalf("%s in the wrong region (bucket in %q): no error", op.name, c.bucketRegion)
			}
			if err.Error() != op.want {
				t.Errorf("%s in the wrong region (bucket in %q):\n got %s\nwant %s", op.name, c.bucketRegion, err, op.want)
			}
			if got := Misconfigured(err); got != c.what {
				t.Errorf("%s: Misconfigured = %q, want %q", op.name, got, c.what)
			}
			if got := Describe(err); got != err.Error() {
				t.Errorf("%s: Describe repeats what the error says: %s", op.name, got)
			}
			if strings.Contains(err.Error(), "secret-k8sguard") || strings.Contains(err.Error(), "AKIDK8SGUARD") {
				t.Errorf("%s: the credentials are in the error: %s", op.name, err)
			}
			if len(*seen) != 1 {
				t.Errorf("%s: %d requests (%v), want 1: a redirect is neither retried nor explained by another request", op.name, len(*seen), *seen)
			}
		}
		// A redirect the store did not explain is a misconfiguration too.
		_, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("k8sguard-backups"), Key: aws.String("etcd/c/a.db")})
		if got, want := Misconfigured(err), "the bucket is in another region (set store.region)"; got != want {
			t.Errorf("a bare HEAD's 301 (%v): Misconfigured = %q, want %q", err, got, want)
		}
	}
}

// The region a server expects, read from the message of its 400
// AuthorizationHeaderMalformed as each server words it (the real
// versitygw's is also checked end to end in test/backup); a message
// malformed for another reason names none.
func TestExpectingRegionReadsEachServersWording(t *testing.T) {
	for msg, want := range map[string]string{
		// AWS S3, its global endpoint asked for a bucket elsewhere
		"The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'": "eu-west-1",
		// MinIO
		"The authorization header is malformed; the region is wrong; expecting 'us-west-2'.": "us-west-2",
		// versitygw v1.8.0 (s3err/sigv4.go: IncorrectRegion)
		`The authorization header is malformed; the region "eu-west-1" is wrong; expecting "us-east-1"`: "us-east-1",
		// versitygw, malformed for another reason
		`The authorization header is malformed; incorrect service "ec2". This endpoint belongs to "s3".`: "",
		"The authorization header is malformed; missing Credential.":                                     "",
	} {
		got := ""
		if m := expectingRegion.FindStringSubmatch(msg); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("%q: expecting %q, want %q", msg, got, want)
		}
	}
}
