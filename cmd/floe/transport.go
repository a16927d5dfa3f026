package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/floe-io/floe/schema"
)

// transportConfig holds Kafka and Schema Registry connection security.
// Passwords are never flags (a flag shows in process listings): they come
// from FLOE_KAFKA_SASL_PASSWORD / FLOE_REGISTRY_PASSWORD or from files.
type transportConfig struct {
	KafkaSecurityProtocol string
	KafkaSASLMechanism    string
	KafkaSASLUsername     string
	KafkaSASLPasswordFile string
	KafkaCAFile           string
	KafkaCertFile         string
	KafkaKeyFile          string

	RegistryUsername     string
	RegistryPasswordFile string
	RegistryCAFile       string
	RegistryCertFile     string
	RegistryKeyFile      string

	// Bearer and OAuth authentication of the registry.
	RegistryBearerTokenFile       string
	RegistryOAuthTokenURL         string
	RegistryOAuthClientID         string
	RegistryOAuthClientSecretFile string
	RegistryOAuthScope            string
}

func (t *transportConfig) options() []option {
	return []option{
		stringOpt("kafka-security-protocol", "plaintext, ssl, sasl_plaintext or sasl_ssl (default plaintext)", &t.KafkaSecurityProtocol),
		stringOpt("kafka-sasl-mechanism", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", &t.KafkaSASLMechanism),
		stringOpt("kafka-sasl-username", "SASL user", &t.KafkaSASLUsername),
		stringOpt("kafka-sasl-password-file", "file holding the SASL password (or env FLOE_KAFKA_SASL_PASSWORD)", &t.KafkaSASLPasswordFile),
		stringOpt("kafka-ca-file", "PEM CA bundle that signs the brokers' certificates", &t.KafkaCAFile),
		stringOpt("kafka-cert-file", "PEM client certificate (mutual TLS)", &t.KafkaCertFile),
		stringOpt("kafka-key-file", "PEM client key (mutual TLS)", &t.KafkaKeyFile),
		stringOpt("registry-username", "Schema Registry basic auth user", &t.RegistryUsername),
		stringOpt("registry-password-file", "file holding the registry password (or env FLOE_REGISTRY_PASSWORD)", &t.RegistryPasswordFile),
		stringOpt("registry-ca-file", "PEM CA bundle for an https registry", &t.RegistryCAFile),
		stringOpt("registry-cert-file", "PEM client certificate for the registry (mutual TLS)", &t.RegistryCertFile),
		stringOpt("registry-key-file", "PEM client key for the registry (mutual TLS)", &t.RegistryKeyFile),
		stringOpt("registry-bearer-token-file", "file holding a static bearer token for the registry (or env FLOE_REGISTRY_BEARER_TOKEN)", &t.RegistryBearerTokenFile),
		stringOpt("registry-oauth-token-url", "OAuth 2 token endpoint: the registry gets a client-credentials bearer token from it", &t.RegistryOAuthTokenURL),
		stringOpt("registry-oauth-client-id", "OAuth 2 client id (with --registry-oauth-token-url)", &t.RegistryOAuthClientID),
		stringOpt("registry-oauth-client-secret-file", "file holding the OAuth 2 client secret (or env FLOE_REGISTRY_OAUTH_CLIENT_SECRET)", &t.RegistryOAuthClientSecretFile),
		stringOpt("registry-oauth-scope", "OAuth 2 scopes, space separated (optional)", &t.RegistryOAuthScope),
	}
}

func (t *transportConfig) validate() error {
	var errs []error
	switch strings.ToLower(t.KafkaSecurityProtocol) {
	case "", "plaintext", "ssl", "sasl_plaintext", "sasl_ssl":
	default:
		errs = append(errs, fmt.Errorf("--kafka-security-protocol: want plaintext, ssl, sasl_plaintext or sasl_ssl, got %q", t.KafkaSecurityProtocol))
	}
	sasl := strings.HasPrefix(strings.ToLower(t.KafkaSecurityProtocol), "sasl")
	switch strings.ToUpper(t.KafkaSASLMechanism) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, fmt.Errorf("--kafka-sasl-mechanism: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", t.KafkaSASLMechanism))
	}
	if sasl && t.KafkaSASLUsername == "" {
		errs = append(errs, errors.New("--kafka-sasl-username is required with a sasl_* security protocol"))
	}
	if (t.KafkaCertFile == "") != (t.KafkaKeyFile == "") {
		errs = append(errs, errors.New("--kafka-cert-file and --kafka-key-file go together"))
	}
	if (t.RegistryCertFile == "") != (t.RegistryKeyFile == "") {
		errs = append(errs, errors.New("--registry-cert-file and --registry-key-file go together"))
	}
	errs = append(errs, t.validateRegistryAuth()...)
	for name, path := range map[string]string{
		"kafka-sasl-password-file": t.KafkaSASLPasswordFile, "kafka-ca-file": t.KafkaCAFile,
		"kafka-cert-file": t.KafkaCertFile, "kafka-key-file": t.KafkaKeyFile,
		"registry-password-file": t.RegistryPasswordFile, "registry-ca-file": t.RegistryCAFile,
		"registry-cert-file": t.RegistryCertFile, "registry-key-file": t.RegistryKeyFile,
		"registry-bearer-token-file": t.RegistryBearerTokenFile, "registry-oauth-client-secret-file": t.RegistryOAuthClientSecretFile,
	} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// secret reads a password from its file, else from the environment.
func secret(file, env string, getenv func(string) string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		v := strings.TrimRight(string(b), "\r\n")
		secrets.Add(v)
		return v, nil
	}
	secrets.Add(getenv(env))
	return getenv(env), nil
}

// kafkaProps are the librdkafka properties for the security settings.
func (t *transportConfig) kafkaProps(getenv func(string) string) (map[string]string, error) {
	p := map[string]string{}
	if t.KafkaSecurityProtocol != "" {
		p["security.protocol"] = strings.ToLower(t.KafkaSecurityProtocol)
	}
	if t.KafkaSASLMechanism != "" {
		p["sasl.mechanism"] = strings.ToUpper(t.KafkaSASLMechanism)
	}
	if t.KafkaSASLUsername != "" {
		pw, err := secret(t.KafkaSASLPasswordFile, "FLOE_KAFKA_SASL_PASSWORD", getenv)
		if err != nil {
			return nil, fmt.Errorf("--kafka-sasl-password-file: %w", err)
		}
		p["sasl.username"] = t.KafkaSASLUsername
		if pw != "" {
			p["sasl.password"] = pw
		}
	}
	if t.KafkaCAFile != "" {
		p["ssl.ca.location"] = t.KafkaCAFile
	}
	if t.KafkaCertFile != "" {
		p["ssl.certificate.location"], p["ssl.key.location"] = t.KafkaCertFile, t.KafkaKeyFile
		if pw := getenv("FLOE_KAFKA_KEY_PASSWORD"); pw != "" {
			secrets.Add(pw)
			p["ssl.key.password"] = pw
		}
	}
	return p, nil
}

// validateRegistryAuth refuses more than one way to authenticate to the
// registry, and an incomplete OAuth configuration.
func (t *transportConfig) validateRegistryAuth() []error {
	var errs []error
	oauth := t.RegistryOAuthTokenURL != "" || t.RegistryOAuthClientID != "" || t.RegistryOAuthClientSecretFile != "" || t.RegistryOAuthScope != ""
	var ways []string
	if t.RegistryUsername != "" {
		ways = append(ways, "--registry-username")
	}
	if t.RegistryBearerTokenFile != "" {
		ways = append(ways, "--registry-bearer-token-file")
	}
	if oauth {
		ways = append(ways, "--registry-oauth-*")
	}
	if len(ways) > 1 {
		errs = append(errs, fmt.Errorf("%s: choose one way to authenticate to the registry", strings.Join(ways, ", ")))
	}
	if oauth && (t.RegistryOAuthTokenURL == "" || t.RegistryOAuthClientID == "") {
		errs = append(errs, errors.New("--registry-oauth-token-url and --registry-oauth-client-id go together"))
	}
	if u := t.RegistryOAuthTokenURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		errs = append(errs, errors.New("--registry-oauth-token-url: must start with https:// or http://"))
	}
	return errs
}

// registryOptions are the registry client's auth and TLS options.
func (t *transportConfig) registryOptions(getenv func(string) string) ([]schema.RegistryOption, error) {
	var opts []schema.RegistryOption
	switch {
	case t.RegistryOAuthTokenURL != "":
		secretValue, err := secret(t.RegistryOAuthClientSecretFile, "FLOE_REGISTRY_OAUTH_CLIENT_SECRET", getenv)
		if err != nil {
			return nil, fmt.Errorf("--registry-oauth-client-secret-file: %w", err)
		}
		cc := &clientcredentials.Config{
			ClientID: t.RegistryOAuthClientID, ClientSecret: secretValue,
			TokenURL: t.RegistryOAuthTokenURL, Scopes: strings.Fields(t.RegistryOAuthScope),
		}
		// Tokens are cached and refreshed shortly before they expire.
		ts := cc.TokenSource(context.Background())
		opts = append(opts, schema.WithTokenSource(func(context.Context) (string, error) {
			tok, err := ts.Token()
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}))
	case t.RegistryBearerTokenFile != "" || getenv("FLOE_REGISTRY_BEARER_TOKEN") != "":
		tok, err := secret(t.RegistryBearerTokenFile, "FLOE_REGISTRY_BEARER_TOKEN", getenv)
		if err != nil {
			return nil, fmt.Errorf("--registry-bearer-token-file: %w", err)
		}
		if tok == "" {
			return nil, errors.New("--registry-bearer-token-file: the file is empty")
		}
		opts = append(opts, schema.WithBearerToken(tok))
	}
	if t.RegistryUsername != "" {
		pw, err := secret(t.RegistryPasswordFile, "FLOE_REGISTRY_PASSWORD", getenv)
		if err != nil {
			return nil, fmt.Errorf("--registry-password-file: %w", err)
		}
		opts = append(opts, schema.WithBasicAuth(t.RegistryUsername, pw))
	}
	if t.RegistryCAFile == "" && t.RegistryCertFile == "" {
		return opts, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.RegistryCAFile != "" {
		pem, err := os.ReadFile(t.RegistryCAFile)
		if err != nil {
			return nil, fmt.Errorf("--registry-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--registry-ca-file %s: no PEM certificate in it", t.RegistryCAFile)
		}
		tc.RootCAs = pool
	}
	if t.RegistryCertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.RegistryCertFile, t.RegistryKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--registry-cert-file/--registry-key-file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return append(opts, schema.WithHTTPClient(&http.Client{Transport: tr})), nil
}
