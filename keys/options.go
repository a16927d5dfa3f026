package keys

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// KMSDecrypter is the part of the AWS KMS API floe uses: *kms.Client
// implements it. It is an option so a caller can share or instrument a
// client; tests use a real client against a KMS-compatible server.
type KMSDecrypter interface {
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Option configures [Load], [LoadKMSFile] and [NewReloader].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	region       string       // overrides the file's kms.region
	endpoint     string       // overrides the file's kms.endpoint
	awsConfig    *aws.Config  // instead of the default credential chain
	client       KMSDecrypter // instead of a client built from the above
	now          func() time.Time
	missInterval time.Duration // Reloader: least time between reloads on a miss
	missTimeout  time.Duration // Reloader: bound of a reload on a miss
	log          *slog.Logger
}

func newConfig(opts []Option) config {
	c := config{
		now:          time.Now,
		missInterval: 10 * time.Second,
		missTimeout:  10 * time.Second,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// WithRegion sets the AWS region of the KMS client, overriding the file's
// kms.region (and the region of the default AWS configuration).
func WithRegion(region string) Option {
	return optionFunc(func(c *config) { c.region = region })
}

// WithEndpoint sets the KMS endpoint URL (a VPC endpoint, or a local
// KMS-compatible server in tests), overriding the file's kms.endpoint.
func WithEndpoint(url string) Option {
	return optionFunc(func(c *config) { c.endpoint = url })
}

// WithAWSConfig makes the KMS client use cfg instead of the default
// configuration (environment, shared config files, IMDS/ECS/IRSA
// credentials). Region and endpoint from the file or the options above still
// apply on top of it.
func WithAWSConfig(cfg aws.Config) Option {
	return optionFunc(func(c *config) { c.awsConfig = &cfg })
}

// WithKMSClient makes the loader call d instead of building a client; the
// file's region and endpoint are then ignored.
func WithKMSClient(d KMSDecrypter) Option {
	return optionFunc(func(c *config) { c.client = d })
}

// WithClock sets the clock a [Reloader] rate-limits reloads on a miss with
// (default time.Now).
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// WithMissReloadInterval sets how often at most a [Reloader] re-reads the
// keyring because an event named a key id it does not hold (default 10s).
// Zero or less disables reloading on a miss.
func WithMissReloadInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.missInterval = d })
}

// WithMissReloadTimeout bounds a reload triggered by a miss inside
// [Reloader.Open], which has no context of its own (default 10s).
func WithMissReloadTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.missTimeout = d
		}
	})
}

// WithLogger makes a [Reloader] log each reload (trigger, key ids, error).
// Key bytes are never logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.log = l })
}
