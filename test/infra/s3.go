package infra

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 is a versitygw (POSIX backend, versioning on) with one fresh bucket.
type S3 struct {
	Endpoint  string // http://127.0.0.1:<port>
	Region    string
	AccessKey string
	SecretKey string
	Bucket    string
	Client    *s3.Client
	RootDir   string // the POSIX backend: buckets are directories here
	Process   *Process
}

// S3Options tune StartS3.
type S3Options struct {
	// ObjectLock creates the bucket with Object Lock enabled.
	ObjectLock bool
	// Dir is where the gateway keeps its buckets (default a fresh
	// temporary directory). Benchmarks that measure what a backup costs
	// etcd put it on tmpfs: a real bucket is across the network, not on
	// etcd's disk.
	Dir string
}

// StartS3 starts versitygw and creates a versioned bucket.
func StartS3(t TB) *S3 { return StartS3With(t, S3Options{}) }

// StartS3With starts versitygw with options.
func StartS3With(t TB, opts S3Options) *S3 {
	t.Helper()
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	root := filepath.Join(dir, "root")
	versions := filepath.Join(dir, "versions")
	for _, d := range []string{root, versions} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatalf("s3 dir: %v", err)
		}
	}
	s := &S3{
		Region:    "us-east-1",
		AccessKey: "k8sguard" + randomHex(t, 4),
		SecretKey: randomHex(t, 20),
		Bucket:    "etcd-backups-" + randomHex(t, 4),
		RootDir:   root,
	}
	s.Process = startOnFreePorts(t, "versitygw", func() (*Process, error) {
		addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		s.Endpoint = "http://" + addr
		p := start(t, "versitygw", dir, Tool(t, "versitygw"),
			[]string{"--port", addr, "--health", "/health", "posix", "--versioning-dir", versions, root},
			[]string{"ROOT_ACCESS_KEY=" + s.AccessKey, "ROOT_SECRET_KEY=" + s.SecretKey})
		return p, waitReady(p, "versitygw", 30*time.Second, func() error { return httpOK(s.Endpoint + "/health") })
	})

	s.Client = s.NewClient()
	ctx := context.Background()
	if _, err := s.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.Bucket, ObjectLockEnabledForBucket: aws.Bool(opts.ObjectLock)}); err != nil {
		t.Fatalf("create bucket %s: %v", s.Bucket, err)
	}
	if !opts.ObjectLock { // Object Lock turns versioning on by itself
		if _, err := s.Client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  &s.Bucket,
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		}); err != nil {
			t.Fatalf("enable versioning on %s: %v", s.Bucket, err)
		}
	}
	return s
}

// NewClient returns an S3 client for the gateway (path style, static keys).
func (s *S3) NewClient() *s3.Client { return s.NewClientFor(s.Region) }

// NewClientFor returns a client like NewClient's that signs its requests
// for region, which the gateway refuses unless it is its own.
func (s *S3) NewClientFor(region string) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// Env returns the AWS_* variables a child process (etcdguard, terraform)
// needs to reach the gateway.
func (s *S3) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Stop stops the gateway; its files stay.
func (s *S3) Stop() { s.Process.Stop() }
