package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Upload defaults, measured (make bench, heap profile): the transfer
// manager keeps Concurrency+1 part buffers, plus the first part it reads
// with io.ReadAll, and those are most of the agent's live heap. S3's
// smallest part (5 MiB; 8 GiB, etcd's hard limit, is 1,639 parts, far
// below the 10,000 cap) with one part in flight while the next is read
// keeps the upload overlapped with the read in 10 MiB of pool: at 6 MiB
// and two in flight (18 MiB) peak RSS was 80 MiB against 61 now, for the
// same wall time into a local gateway. Over a slow link a second part in
// flight can be worth its memory: store.Options.Concurrency.
const (
	DefaultPartSize    = 5 << 20
	DefaultConcurrency = 1
)

// AbortTimeout bounds the abort of a failed or cancelled multipart upload.
// It is most of what a stop (SIGTERM) may wait for: systemd kills the agent
// TimeoutStopSec (30s) after it, and a store that hangs must not make the
// agent overrun that. An abort that does not get through leaves a
// multipart upload, never an object; cleanup aborts it once it is older
// than snapshot.CommitGrace.
const AbortTimeout = 10 * time.Second

// S3 is a Store in an S3 bucket under a key prefix. Put streams through
// the SDK's transfer manager, which reads an io.Reader of unknown length
// into a fixed pool of Concurrency+1 part buffers and uploads parts while
// the next one is read: memory stays bounded whatever the snapshot size,
// and an interrupted upload is aborted (or, if the process is killed, left
// as a multipart upload that CleanupIncomplete aborts; it is never an
// object).
type S3 struct {
	client   *s3.Client
	uploader *transfermanager.Client
	bucket   string
	prefix   string // "" or "a/b/" (with the trailing slash)
	opts     Options
}

func openS3(ctx context.Context, u *url.URL, opts Options) (Store, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("store url %s: no bucket (s3://bucket/prefix)", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("store url %s: credentials do not belong in the URL; use the AWS environment, profile or instance role", u.Redacted())
	}
	var loadOpts []func(*awsconfig.LoadOptions) error
	if opts.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(opts.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 store %s: aws configuration: %w", u.Redacted(), err)
	}
	if cfg.Region == "" && opts.Endpoint != "" {
		// S3-compatible gateways ignore the region but requests must be
		// signed for one.
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// A multipart object's checksum is a checksum of part checksums,
		// which the SDK cannot check on a whole-object GET; it says so on
		// stderr ("Skipped validation of multipart checksum") on every
		// read, which alarms operators for nothing: etcdguard checks the
		// object's sha256 against its manifest itself.
		o.DisableLogOutputChecksumValidationSkipped = true
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
			o.UsePathStyle = true
		}
	})
	return NewS3(client, u.Host, strings.TrimPrefix(u.Path, "/"), opts), nil
}

// NewS3 returns an S3 store on an existing client.
func NewS3(client *s3.Client, bucket, prefix string, opts Options) *S3 {
	if opts.PartSize <= 0 {
		opts.PartSize = DefaultPartSize
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	uploader := transfermanager.New(partClient{client}, func(o *transfermanager.Options) {
		o.PartSizeBytes = opts.PartSize
		// The first part is read with io.ReadAll up to this threshold;
		// keeping it at one part keeps that allocation to one part too.
		o.MultipartUploadThreshold = opts.PartSize
		o.Concurrency = opts.Concurrency
		// Abort a failed upload with a fresh context, so a cancelled
		// snapshot (SIGTERM) still removes its parts.
		o.FailTimeout = AbortTimeout
	})
	return &S3{client: client, uploader: uploader, bucket: bucket, prefix: prefix, opts: opts}
}

// partClient is the client the transfer manager uploads with. Its parts
// are sent with an unsigned payload: the SDK otherwise hashes every part
// with sha256 for the signature whenever the endpoint is plain HTTP (an
// S3-compatible gateway), a third pass over bytes etcdguard already hashes
// once for the manifest. What guards the data is unchanged: each part
// still carries the transfer manager's CRC32, which the store checks
// before it accepts the part; the headers are still signed; and the
// object's sha256 is in the manifest, a single signed PutObject (payload
// hash included, as the SDK does by default), checked by restore, verify
// and drill. Over HTTPS the SDK sends parts unsigned with a trailing
// checksum anyway; nothing changes there.
type partClient struct{ *s3.Client }

func (c partClient) UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return c.Client.UploadPart(ctx, in, append(opts, unsignedPayload)...)
}

func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		// Set before the finalize step, where the checksum middleware and
		// the signer look for it and, finding it, skip their own sha256.
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("etcdguardUnsignedPartPayload",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				return next.HandleInitialize(v4.SetPayloadHash(ctx, "UNSIGNED-PAYLOAD"), in)
			}), middleware.After)
	})
}

func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }

func (s *S3) key(k string) string { return s.prefix + k }

// countingReader counts what the uploader consumed.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Put streams r into key as one object (multipart above one part). A
// body already in memory that fits in one part (a delta segment, a
// manifest) goes up in one PutObject, read where it is: the transfer
// manager would copy it into a part buffer first.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if br, ok := r.(*bytes.Reader); ok && br.Len() <= int(s.opts.PartSize) {
		return s.putOne(ctx, key, br)
	}
	cr := &countingReader{r: r}
	in := &transfermanager.UploadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(key)),
		Body:   cr,
	}
	alg, kmsKey := s.sse()
	in.ServerSideEncryption, in.SSEKMSKeyID = tmtypes.ServerSideEncryption(alg), kmsKey
	if _, err := s.uploader.UploadObject(ctx, in); err != nil {
		return cr.n, fmt.Errorf("put %s%s: %w", s, key, s.wrongRegion(err))
	}
	return cr.n, nil
}

func (s *S3) putOne(ctx context.Context, key string, br *bytes.Reader) (int64, error) {
	n := int64(br.Len())
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.key(key)),
		Body:          br,
		ContentLength: aws.Int64(n),
		// A checksum header on every PutObject, as the transfer manager
		// sends on its path: S3 refuses a PutObject without Content-MD5 or
		// a checksum into a bucket with Object Lock retention, which is how
		// k8sguard_etcd_backup_bucket is made (400
		// MissingUploadObjectWithObjectLockHeaders).
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	alg, kmsKey := s.sse()
	in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryption(alg), kmsKey
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return 0, fmt.Errorf("put %s%s: %w", s, key, s.wrongRegion(err))
	}
	return n, nil
}

// sse is the server-side encryption every upload asks for: the algorithm
// ("" for the bucket's default, "AES256" or "aws:kms") and the KMS key
// (nil: the bucket's or AWS's default key).
func (s *S3) sse() (string, *string) {
	if s.opts.SSE == "aws:kms" && s.opts.KMSKeyID != "" {
		return s.opts.SSE, aws.String(s.opts.KMSKeyID)
	}
	if s.opts.SSE == "AES256" || s.opts.SSE == "aws:kms" {
		return s.opts.SSE, nil
	}
	return "", nil
}

func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key))})
	if err != nil {
		return nil, fmt.Errorf("get %s%s: %w", s, key, notFound(s.wrongRegion(err)))
	}
	return out.Body, nil
}

func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key))})
	if err != nil {
		return Object{}, fmt.Errorf("stat %s%s: %w", s, key, notFound(s.wrongRegion(s.explainHead(ctx, key, err))))
	}
	return Object{Key: key, Size: aws.ToInt64(out.ContentLength), LastModified: aws.ToTime(out.LastModified)}, nil
}

// explainHead gives a refused HEAD its reason. S3 answers a HEAD with a
// status and no body, so all the SDK can say is "BadRequest: Bad Request"
// or "Forbidden": an invalid session token, an unknown access key or a
// denied KMS key read the same. A one-byte GET of the same key carries S3's
// error code; when that names a reason a configuration causes, it is the
// error returned.
func (s *S3) explainHead(ctx context.Context, key string, err error) error {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || (re.HTTPStatusCode() != 400 && re.HTTPStatusCode() != 403) || Explain(err) != "" {
		return err
	}
	out, gerr := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key)), Range: aws.String("bytes=0-0")})
	if gerr == nil {
		out.Body.Close()
		return err
	}
	if Explain(gerr) == "" {
		return err
	}
	return gerr
}

// regionError is a request refused for its region: S3 redirected it (301
// Moved Permanently: the bucket is in another region than the one the
// request was signed for and sent to), or the server refused a signature
// for another region than its own (400 AuthorizationHeaderMalformed, as
// S3-compatible servers answer). what names the region the store wants,
// when it said it, and the setting to change; it leads the error's text,
// since S3's own text does not say it (a HEAD's 301 has no body:
// "MovedPermanently: Moved Permanently").
type regionError struct {
	what string
	err  error
}

func (e *regionError) Error() string { return e.what + ": " + e.err.Error() }
func (e *regionError) Unwrap() error { return e.err }

// regionName is what a region's name looks like (us-east-1,
// us-gov-west-1); a header that is something else is not repeated.
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+$`)

// expectingRegion finds the region a store refusing a request's region
// expects, in its AuthorizationHeaderMalformed message: AWS and MinIO
// write "the region 'eu-west-1' is wrong; expecting 'us-east-1'",
// versitygw quotes with ".
var expectingRegion = regexp.MustCompile(`is wrong; expecting ['"]([^'"]+)['"]`)

// wrongRegion gives a request refused for its region its reason. S3 names
// the bucket's region in the header x-amz-bucket-region of a 301 (on a
// HEAD too, whose answer has no body), which is then the region to set; a
// server that refuses a signature's region names the one it expects in
// the message of its 400 AuthorizationHeaderMalformed.
func (s *S3) wrongRegion(err error) error {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	const setting = "store.region (--store-region / ETCDGUARD_STORE_REGION)"
	configured, notConfigured := s.client.Options().Region, ""
	if configured != "" {
		notConfigured = ", not " + configured
	}
	var what string
	switch re.HTTPStatusCode() {
	case http.StatusMovedPermanently:
		switch region := re.Response.Header.Get("x-amz-bucket-region"); {
		case !regionName.MatchString(region):
			what = fmt.Sprintf("the bucket %s is in another region%s: set %s to the bucket's region", s.bucket, notConfigured, setting)
		case region == configured:
			// The region is right, so the request went to another region's
			// endpoint: store.endpoint names one.
			what = fmt.Sprintf("the bucket %s is in region %s, as configured, but the request went to another region's endpoint: check store.endpoint (--store-endpoint / ETCDGUARD_STORE_ENDPOINT)", s.bucket, region)
		default:
			what = fmt.Sprintf("the bucket %s is in region %s%s: set %s to %s", s.bucket, region, notConfigured, setting, region)
		}
	case http.StatusBadRequest:
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "AuthorizationHeaderMalformed" {
			return err
		}
		m := expectingRegion.FindStringSubmatch(api.ErrorMessage())
		if m == nil || !regionName.MatchString(m[1]) || m[1] == configured {
			return err // malformed for another reason: S3's own text says which
		}
		what = fmt.Sprintf("the S3 server of bucket %s takes requests signed for region %s%s: set %s to %s", s.bucket, m[1], notConfigured, setting, m[1])
	default:
		return err
	}
	return &regionError{what: what, err: err}
}

func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	return s.list(ctx, prefix, nil)
}

// ListDir lists with the delimiter "/": S3 answers the deeper keys as
// common prefixes, one per directory, which are left out.
func (s *S3) ListDir(ctx context.Context, dir string) ([]Object, error) {
	return s.list(ctx, dir, aws.String("/"))
}

func (s *S3) list(ctx context.Context, prefix string, delimiter *string) ([]Object, error) {
	var out []Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.key(prefix)), Delimiter: delimiter})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s%s: %w", s, prefix, s.wrongRegion(err))
		}
		for _, o := range page.Contents {
			out = append(out, Object{
				Key:          strings.TrimPrefix(aws.ToString(o.Key), s.prefix),
				Size:         aws.ToInt64(o.Size),
				LastModified: aws.ToTime(o.LastModified),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes key. On a versioned bucket this adds a delete marker; an
// Object Lock refusal comes back as an error for the caller to retry later.
func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key))})
	if err != nil && !errors.Is(notFound(err), ErrNotFound) {
		return fmt.Errorf("delete %s%s: %w", s, key, s.wrongRegion(err))
	}
	return nil
}

// CleanupIncomplete aborts multipart uploads under the prefix started
// before olderThan: what a killed etcdguard left behind.
func (s *S3) CleanupIncomplete(ctx context.Context, olderThan time.Time) (int, error) {
	n := 0
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix)}
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("list multipart uploads in %s: %w", s, s.wrongRegion(err))
		}
		for _, u := range page.Uploads {
			if u.Initiated != nil && !u.Initiated.Before(olderThan) {
				continue
			}
			if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.bucket), Key: u.Key, UploadId: u.UploadId,
			}); err != nil && !errors.Is(notFound(err), ErrNotFound) {
				return n, fmt.Errorf("abort multipart upload %s of %s: %w", aws.ToString(u.UploadId), aws.ToString(u.Key), s.wrongRegion(err))
			}
			n++
		}
		if !aws.ToBool(page.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

// misconfigured are S3's answers that waiting does not change: the bucket
// or the credentials are wrong, and someone has to fix the configuration.
var misconfigured = map[string]string{
	"NoSuchBucket":                 "the bucket does not exist",
	"InvalidBucketName":            "the bucket name is invalid",
	"InvalidAccessKeyId":           "the access key is not known to the store",
	"SignatureDoesNotMatch":        "the secret key does not match the access key",
	"PermanentRedirect":            "the bucket is in another region (set store.region)",
	"AuthorizationHeaderMalformed": "the request's region is not the bucket's (set store.region)",
}

// deniedCodes are S3's refusals of the credentials' rights, which a retry
// may outlast (a role just attached), so they are described, not fatal.
var deniedCodes = map[string]string{
	"AccessDenied":         "access was denied (the credentials' policy, the bucket policy or the KMS key)",
	"AllAccessDisabled":    "all access to the bucket is disabled",
	"InvalidToken":         "the session token is invalid",
	"ExpiredToken":         "the credentials have expired",
	"KMS.AccessDenied":     "the KMS key refused the credentials",
	"RequestTimeTooSkewed": "this machine's clock is too far from the store's",
}

// Explain says in words what S3's answer in err means, for the first line
// of an error a person reads ("" when it is not one of the answers a
// configuration causes).
func Explain(err error) string {
	if what := Misconfigured(err); what != "" {
		return what
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return deniedCodes[api.ErrorCode()]
	}
	return ""
}

// Describe is err's text for a person: when S3 refused for a reason a
// configuration causes, led by what that means (S3's own text leads with
// request IDs), unless the text says so already.
func Describe(err error) string {
	if what := Explain(err); what != "" && !strings.Contains(err.Error(), what) {
		return fmt.Sprintf("the store answered that %s: %v", what, err)
	}
	return err.Error()
}

// Misconfigured says what is wrong when err is one of S3's answers that
// no retry fixes (a missing bucket, unknown credentials, the wrong
// region), or "" for anything else, such as the store being unreachable.
func Misconfigured(err error) string {
	var region *regionError
	if errors.As(err, &region) {
		return region.what
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		if what := misconfigured[api.ErrorCode()]; what != "" {
			return what
		}
	}
	// A redirect the store did not explain, such as a HEAD's (no body, so
	// no PermanentRedirect code: "MovedPermanently").
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusMovedPermanently {
		return misconfigured["PermanentRedirect"]
	}
	return ""
}

// notFound maps S3's missing-object errors onto ErrNotFound.
func notFound(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsu *types.NoSuchUpload
	var api smithy.APIError
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsu) ||
		(errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey")) {
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
	return err
}
