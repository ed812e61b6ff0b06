package release

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/debfleet/debfleet/internal/loopback"
)

// Defaults for Options' zero values.
const (
	DefaultMaxAttempts = 3
	DefaultMaxBackoff  = 2 * time.Second
	// DefaultPartSize is S3's smallest part: releases under it go in one
	// PUT and one GET. Larger ones are cut into about 8 parts (see
	// Options.PartSize).
	DefaultPartSize = 5 << 20
	// DefaultConcurrency is how many parts go up, and ranges come down,
	// at once: about the parts of a large release, so that each gets its
	// own connection (S3 serves roughly 90 MB/s per connection). Parts
	// are streamed from and to the file, so it costs no memory.
	DefaultConcurrency = 8
	// dialTimeout bounds connecting to an endpoint that drops packets
	// instead of refusing them.
	dialTimeout = 5 * time.Second
	// maxIdleConnsPerHost is how many idle connections to the endpoint
	// are kept: as many as the most requests any caller runs at once.
	maxIdleConnsPerHost = 64
	// defaultFetchAttempts and defaultIdleTimeout are Options'
	// FetchAttempts and IdleTimeout when zero.
	defaultFetchAttempts = 4
	defaultIdleTimeout   = 30 * time.Second
	defaultSplitBelow    = 128 << 20
	// abortTimeout is how long aborting a failed multipart upload may take,
	// on a fresh context so that a cancelled publish still cleans up.
	abortTimeout = 30 * time.Second
)

// HTTPDoer sends one HTTP request; *http.Client is one. A wrapper can count
// or trace the requests a Client makes.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Options configures a Client. The zero value talks to AWS with the SDK's
// default credential chain (environment, shared config and SSO, instance
// profile) and region.
type Options struct {
	// Endpoint is an S3-compatible endpoint URL such as
	// https://s3.example.com or http://127.0.0.1:7070. Empty means the
	// SDK's choice: AWS, or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (or the
	// shared config's endpoint_url) when set. Any custom endpoint is
	// addressed path-style (http://host/bucket/key).
	Endpoint string
	// AllowInsecureEndpoint lets the endpoint, given or from the
	// environment, be plain http:// to a host other than a loopback
	// address (127.0.0.0/8, ::1, localhost). Without it New refuses one
	// with ErrInsecureEndpoint: requests, session tokens, packages and
	// the fleet's records would cross the network unencrypted, open to
	// reading and to changes on the way.
	AllowInsecureEndpoint bool
	// Region to sign for; empty means the SDK's (AWS_REGION, shared
	// config), else us-east-1.
	Region string
	// Credentials overrides the default chain (tests use static ones).
	Credentials aws.CredentialsProvider
	// MaxAttempts bounds the attempts per request, the first included.
	MaxAttempts int
	// MaxBackoff caps the delay between two attempts.
	MaxBackoff time.Duration
	// PartSize is the smallest multipart part and the size from which
	// uploads go multipart (minimum 5 MiB): Publish cuts a larger release
	// into about 8 equal parts of at least PartSize. Fetch splits a
	// release of at least twice PartSize into ranges of at least
	// PartSize (see SplitBelow). Neither buffers a part: memory does not
	// depend on it.
	PartSize int64
	// Concurrency is the number of parts uploaded, and of ranges
	// fetched, at once.
	Concurrency int
	// FetchAttempts bounds the attempts at each range of a ranged
	// fetch, the first included (default 4): a range cut short is asked
	// again from where it stopped. Each attempt's request has its own
	// MaxAttempts.
	FetchAttempts int
	// SplitBelow is the rate, in bytes a second, under which a fetch of
	// several ranges into a file splits: when the first 2 MiB of the
	// first GET arrive at least this fast, one connection is enough
	// (a local server, a LAN) and it stays one GET. 0 means 128 MiB/s
	// (S3 serves roughly 90 MB/s per connection); a negative value
	// always splits.
	SplitBelow int64
	// IdleTimeout bounds how long a fetch waits for the next byte of a
	// response body before it gives that attempt up (default 30 s).
	IdleTimeout time.Duration
	// HTTPClient, when set, sends every request (benchmarks count them).
	HTTPClient HTTPDoer
	// Logger receives one line per release event; nil discards them.
	Logger *slog.Logger
}

// Client reads and writes release channels. It is safe for concurrent use.
type Client struct {
	aws         aws.Config
	s3          *s3.Client
	endpoint    string
	log         *slog.Logger
	partSize    int64
	concurrency int
	attempts    int
	idle        time.Duration
	splitBelow  int64
}

// New returns a Client. It resolves configuration and credentials lazily:
// missing credentials show up as ErrNoCredentials on the first request. A
// plain http:// endpoint off loopback is refused with ErrInsecureEndpoint
// unless o.AllowInsecureEndpoint.
func New(ctx context.Context, o Options) (*Client, error) {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < minPartSize {
		return nil, fmt.Errorf("part size %d: S3 needs at least 5 MiB", o.PartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.FetchAttempts <= 0 {
		o.FetchAttempts = defaultFetchAttempts
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.SplitBelow == 0 {
		o.SplitBelow = defaultSplitBelow
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("endpoint %q: want a URL such as https://s3.example.com", o.Endpoint)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := loadConfig(ctx, o)
	if err != nil {
		return nil, err
	}
	c := &Client{aws: cfg, log: o.Logger, partSize: o.PartSize, concurrency: o.Concurrency,
		attempts: o.FetchAttempts, idle: o.IdleTimeout, splitBelow: o.SplitBelow}
	c.s3 = s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		// Set here rather than in LoadDefaultConfig, which would try to
		// add AWS_CA_BUNDLE to it and fail on a plain HTTPDoer.
		if o.HTTPClient != nil {
			so.HTTPClient = o.HTTPClient
		}
		// S3-compatible servers rarely have wildcard DNS for
		// virtual-hosted buckets.
		if so.BaseEndpoint != nil {
			so.UsePathStyle = true
			c.endpoint = *so.BaseEndpoint
		}
	})
	if !o.AllowInsecureEndpoint && loopback.PlainHTTPOff(c.endpoint) {
		from := ""
		if o.Endpoint == "" {
			from = " (from AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the shared config)"
		}
		return nil, fmt.Errorf("endpoint %s%s: %w: requests, session tokens and packages would travel unencrypted; use https://, or allow it explicitly",
			c.endpoint, from, ErrInsecureEndpoint)
	}
	return c, nil
}

// loadConfig resolves the SDK configuration for o: our dial timeout,
// retryer and checksum policy, o's region and credentials, and the
// credentials marked so that their absence is told apart.
func loadConfig(ctx context.Context, o Options) (aws.Config, error) {
	loadOpts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = dialTimeout
		}).WithTransportOptions(func(t *http.Transport) {
			// Readers of many small records (pkgdeb status: one GET
			// per host, fleet.DefaultReaders at once) keep their
			// connections; the SDK's default of 10 idle ones would
			// open (and over TLS, handshake) most GETs anew.
			t.MaxIdleConnsPerHost = maxIdleConnsPerHost
		})),
		// Off by default: the SDK cannot validate multipart (composite)
		// checksums and would only print a warning. Fetch asks for the
		// checksum and verifies full-object and composite ones itself,
		// hashing every byte once.
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithLogger(logging.Nop{}),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = o.MaxBackoff
				so.RateLimiter = ratelimit.None
			})
		}),
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}
	if o.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Credentials != nil {
		cfg.Credentials = markedCredentials{cfg.Credentials}
	}
	return cfg, nil
}

// endpointName names the endpoint in error messages.
func (c *Client) endpointName() string {
	if c.endpoint == "" {
		return "AWS S3"
	}
	return c.endpoint
}

// S3 returns the underlying SDK client, for what this package does not
// wrap (tests, status objects).
func (c *Client) S3() *s3.Client { return c.s3 }

// AWSConfig returns the SDK configuration the S3 client was made from:
// credentials, region, retryer and HTTP client, without the S3 endpoint
// (Options.Endpoint applies to S3 only). Clients of other AWS services
// built from it share the agent's credentials and region.
func (c *Client) AWSConfig() aws.Config { return c.aws.Copy() }
