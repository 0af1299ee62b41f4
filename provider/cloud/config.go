// Package cloud builds AWS clients from the provider's aws block, lazily, with
// per-service endpoint overrides for moto or S3-compatible stores, and maps
// their answers onto the guard's plain inputs (InstanceNetwork).
package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
)

// Services are the endpoint keys the aws block accepts.
var Services = []string{"ec2", "eks", "s3", "sts"}

// Config mirrors the provider's aws block. Empty means unset.
type Config struct {
	Region         string
	Profile        string
	Endpoints      map[string]string
	S3UsePathStyle bool
	// Version is added to every request's User-Agent as k8sguard/<version>,
	// so CloudTrail names the provider and its release.
	Version string
	// Unknown names the attributes Terraform has not decided yet (another
	// resource's output, during plan). Such a configuration builds no
	// client: read as unset, the SDK's defaults (AWS_REGION, the default
	// profile, the real endpoints) would fill in for them.
	Unknown []string
}

// ErrNotKnownYet is returned for a configuration with Unknown attributes.
var ErrNotKnownYet = errors.New("the provider's aws configuration is not known yet")

// ValidateEndpoint returns why an endpoint override is unusable, or nil.
func ValidateEndpoint(service, raw string) error {
	known := false
	for _, s := range Services {
		known = known || s == service
	}
	if !known {
		return fmt.Errorf("unknown service %q: endpoints accepts %v", service, Services)
	}
	if err := ValidateEndpointURL(raw); err != nil {
		return fmt.Errorf("%s: %w", service, err)
	}
	return nil
}

// ValidateEndpointURL requires a URL with scheme and host: the SDK takes
// "127.0.0.1:5000" without complaint and then fails far from the cause.
func ValidateEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("endpoint %q needs a scheme and host, for example http://127.0.0.1:5000", raw)
	}
	return nil
}

// Validate checks every endpoint override.
func (c Config) Validate() error {
	keys := make([]string, 0, len(c.Endpoints))
	for k := range c.Endpoints {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := ValidateEndpoint(k, c.Endpoints[k]); err != nil {
			return err
		}
	}
	return nil
}

// Lazy loads the AWS configuration (default credential chain) on first use.
type Lazy struct {
	cfg  Config
	once sync.Once
	aws  aws.Config
	err  error
}

// NewLazy returns a Lazy for cfg; nothing is loaded until a client is asked for.
func NewLazy(cfg Config) *Lazy { return &Lazy{cfg: cfg} }

// AWS returns the loaded SDK configuration.
func (l *Lazy) AWS(ctx context.Context) (aws.Config, error) {
	if len(l.cfg.Unknown) > 0 {
		return aws.Config{}, fmt.Errorf("%w (aws.%s: another resource's output, known at apply). "+
			"k8sguard does not fall back to the SDK's defaults meanwhile: they may name another account or endpoint", ErrNotKnownYet, strings.Join(l.cfg.Unknown, ", aws."))
	}
	l.once.Do(func() {
		var opts []func(*config.LoadOptions) error
		if l.cfg.Region != "" {
			opts = append(opts, config.WithRegion(l.cfg.Region))
		}
		if l.cfg.Profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(l.cfg.Profile))
		}
		if l.cfg.Version != "" {
			opts = append(opts, config.WithAPIOptions([]func(*middleware.Stack) error{
				awsmiddleware.AddUserAgentKeyValue("k8sguard", l.cfg.Version),
			}))
		}
		l.aws, l.err = config.LoadDefaultConfig(ctx, opts...)
		if l.err != nil {
			l.err = fmt.Errorf("loading AWS configuration: %w", l.err)
			return
		}
		if l.aws.Region == "" {
			l.err = fmt.Errorf("no AWS region: set aws.region in the provider block or AWS_REGION")
		}
	})
	return l.aws, l.err
}

// Known reports whether the configuration is decided (see Config.Unknown).
func (l *Lazy) Known() bool { return len(l.cfg.Unknown) == 0 }

func (l *Lazy) endpoint(service string) *string {
	if e, ok := l.cfg.Endpoints[service]; ok && e != "" {
		return aws.String(e)
	}
	return nil
}

// EC2 returns an EC2 client.
func (l *Lazy) EC2(ctx context.Context) (*ec2.Client, error) {
	c, err := l.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return ec2.NewFromConfig(c, func(o *ec2.Options) { o.BaseEndpoint = l.endpoint("ec2") }), nil
}

// EKS returns an EKS client.
func (l *Lazy) EKS(ctx context.Context) (*eks.Client, error) {
	c, err := l.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return eks.NewFromConfig(c, func(o *eks.Options) { o.BaseEndpoint = l.endpoint("eks") }), nil
}

// S3 returns an S3 client; path style when asked for or when an endpoint is
// overridden (S3-compatible stores rarely serve virtual-hosted buckets).
func (l *Lazy) S3(ctx context.Context) (*s3.Client, error) {
	c, err := l.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(c, func(o *s3.Options) {
		o.BaseEndpoint = l.endpoint("s3")
		o.UsePathStyle = l.cfg.S3UsePathStyle || o.BaseEndpoint != nil
	}), nil
}

// STS returns an STS client.
func (l *Lazy) STS(ctx context.Context) (*sts.Client, error) {
	c, err := l.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return sts.NewFromConfig(c, func(o *sts.Options) { o.BaseEndpoint = l.endpoint("sts") }), nil
}
