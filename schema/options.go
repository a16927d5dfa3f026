package schema

import (
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
}

func defaultRegistryConfig() registryConfig {
	return registryConfig{client: &http.Client{Timeout: 10 * time.Second}}
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
