// Command plains3 is the benches' plain S3 client: the naive baseline's
// upload ("etcdctl snapshot save, then upload the file") and the restore
// baseline's download, as a user would write them with the SDK's defaults
// (the transfer manager's part size, concurrency and checksums). It runs
// as its own process so its wall time, CPU and peak RSS are measured the
// same way as etcdguard's and etcdctl's.
//
//	plains3 put|get <endpoint> <bucket> <key> <file>
//
// Credentials and region come from the AWS_* environment.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: plains3 put|get <endpoint> <bucket> <key> <file>")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]); err != nil {
		fmt.Fprintln(os.Stderr, "plains3:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, verb, endpoint, bucket, key, path string) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	switch verb {
	case "put":
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = transfermanager.New(client).UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &bucket, Key: &key, Body: f})
		return err
	case "get":
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, out.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return fmt.Errorf("unknown verb %q", verb)
}
