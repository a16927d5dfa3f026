package schema

import (
	"context"
	"net/http"
	"time"
)

// RegistryOption configures a Registry.
type RegistryOption interface {
	apply(*registryConfig)
}

type registryConfig struct {
	client   *http.Client
	user     string
	password string
	auth     bool
	bearer   string
	token    func(ctx context.Context) (string, error)
	retries  int
	backoff  time.Duration
}

// Default retry policy of a Registry: DefaultRegistryRetries more attempts
// after a retryable failure, waiting DefaultRegistryBackoff, then twice as
// long each time (with jitter, at most 5 s).
const (
	DefaultRegistryRetries = 2
	DefaultRegistryBackoff = 200 * time.Millisecond
)

func defaultRegistryConfig() registryConfig {
	return registryConfig{
		client:  &http.Client{Timeout: 10 * time.Second},
		retries: DefaultRegistryRetries,
		backoff: DefaultRegistryBackoff,
	}
}

type optionFunc func(*registryConfig)

func (f optionFunc) apply(c *registryConfig) { f(c) }

// WithHTTPClient sets the HTTP client (transport, TLS, timeout). The default
// is a client with a 10 s timeout; requests also honour their context.
func WithHTTPClient(c *http.Client) RegistryOption {
	return optionFunc(func(cfg *registryConfig) {
		if c != nil {
			cfg.client = c
		}
	})
}

// WithBasicAuth sends HTTP basic authentication with every request. The
// credentials never appear in errors. Credentials in the base URL's userinfo
// are used the same way when this option is absent.
func WithBasicAuth(user, password string) RegistryOption {
	return optionFunc(func(cfg *registryConfig) {
		cfg.user, cfg.password, cfg.auth = user, password, true
	})
}

// WithBearerToken sends "Authorization: Bearer <token>" with every request
// (a static token, e.g. an API key of a managed registry). It replaces basic
// authentication. The token never appears in errors.
func WithBearerToken(token string) RegistryOption {
	return optionFunc(func(cfg *registryConfig) { cfg.bearer, cfg.token = token, nil })
}

// WithTokenSource asks token for the bearer token before every request
// (OAuth: the function caches and refreshes its token, as an
// oauth2.TokenSource does). An error of token fails the request as
// retryable (ErrRegistryUnavailable). It replaces WithBearerToken and basic
// authentication.
func WithTokenSource(token func(ctx context.Context) (string, error)) RegistryOption {
	return optionFunc(func(cfg *registryConfig) { cfg.token, cfg.bearer = token, "" })
}

// WithRetries sets how many times a request that failed in a retryable way
// (connection error, timeout, HTTP 5xx, 408, 429, unreadable answer) is
// tried again, and the first wait (doubled each time, with jitter, at most
// 5 s). WithRetries(0, 0) turns retries off. Unknown ids, other 4xx answers
// and the context's end are never retried.
func WithRetries(n int, backoff time.Duration) RegistryOption {
	return optionFunc(func(cfg *registryConfig) {
		cfg.retries, cfg.backoff = max(n, 0), max(backoff, 0)
	})
}
