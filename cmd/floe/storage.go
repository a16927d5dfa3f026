package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	icecatalog "github.com/apache/iceberg-go/catalog"

	"github.com/floe-io/floe/catalog"
)

// Environment variables that carry secrets. They are read only from the
// environment (never from flags or the YAML file, which end up in shell
// history and repositories) and never logged. Each has a *-file option.
const (
	envS3SecretAccessKey = "FLOE_S3_SECRET_ACCESS_KEY"
	envCatalogToken      = "FLOE_CATALOG_TOKEN"
	envCatalogCredential = "FLOE_CATALOG_CREDENTIAL"
)

// storageConfig holds the object storage and remote catalog settings of
// `floe run`, beyond --catalog and --warehouse. Empty means "not set":
// credentials then come from the AWS standard chain (AWS_ACCESS_KEY_ID,
// AWS_PROFILE, IMDS, IRSA, ...), the endpoint and region from AWS itself.
type storageConfig struct {
	S3Endpoint            string
	S3Region              string
	S3AccessKeyID         string
	S3SecretAccessKeyFile string
	S3VirtualHosted       bool // bucket.host addressing even with an endpoint

	CatalogTokenFile      string
	CatalogCredentialFile string
	CatalogOAuth2URI      string
	CatalogScope          string
	CatalogPrefix         string
	CatalogSigV4          bool // signs REST requests with AWS SigV4
	CatalogSigningRegion  string
	CatalogSigningName    string
}

func (s *storageConfig) options() []option {
	key := stringOpt("s3-access-key-id", "S3 access key id; its secret comes from --s3-secret-access-key-file or "+envS3SecretAccessKey+" (default: the AWS credential chain)", &s.S3AccessKeyID)
	key.secret = true
	return []option{
		stringOpt("s3-endpoint", "S3 endpoint URL for S3-compatible stores (MinIO); implies path-style addressing", &s.S3Endpoint),
		stringOpt("s3-region", "S3 region (default: AWS_REGION or the AWS config, else us-east-1)", &s.S3Region),
		key,
		stringOpt("s3-secret-access-key-file", "file holding the S3 secret access key", &s.S3SecretAccessKeyFile),
		boolOpt("s3-virtual-hosted", "virtual-hosted addressing (bucket.host) even with --s3-endpoint", &s.S3VirtualHosted),
		stringOpt("catalog-token-file", "REST catalog: file holding a bearer token (or "+envCatalogToken+")", &s.CatalogTokenFile),
		stringOpt("catalog-credential-file", "REST catalog: file holding OAuth2 client credentials id:secret (or "+envCatalogCredential+")", &s.CatalogCredentialFile),
		stringOpt("catalog-oauth2-uri", "REST catalog: OAuth2 token endpoint (default <catalog>/v1/oauth/tokens)", &s.CatalogOAuth2URI),
		stringOpt("catalog-scope", "REST catalog: OAuth2 scope", &s.CatalogScope),
		stringOpt("catalog-prefix", "REST catalog: path prefix after /v1", &s.CatalogPrefix),
		boolOpt("catalog-sigv4", "REST catalog: sign requests with AWS SigV4", &s.CatalogSigV4),
		stringOpt("catalog-signing-region", "REST catalog: SigV4 region", &s.CatalogSigningRegion),
		stringOpt("catalog-signing-name", "REST catalog: SigV4 service name (default execute-api)", &s.CatalogSigningName),
	}
}

func (s *storageConfig) validate() error {
	var errs []error
	for name, p := range map[string]string{
		"s3-secret-access-key-file": s.S3SecretAccessKeyFile,
		"catalog-token-file":        s.CatalogTokenFile, "catalog-credential-file": s.CatalogCredentialFile,
	} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", name, err))
			}
		}
	}
	for name, v := range map[string]string{"s3-endpoint": s.S3Endpoint, "catalog-oauth2-uri": s.CatalogOAuth2URI} {
		if v != "" {
			errs = append(errs, checkHTTPURL(name, v))
		}
	}
	return errors.Join(errs...)
}

// props turns the settings into catalog and FileIO properties, reading
// secrets from their files or the environment. Secrets are never part of a
// returned error.
func (s *storageConfig) props(getenv func(string) string) (map[string]string, error) {
	p := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			p[k] = v
		}
	}
	set(catalog.PropS3Endpoint, s.S3Endpoint)
	set(catalog.PropS3Region, s.S3Region)
	if s.S3VirtualHosted {
		set(catalog.PropS3ForceVirtualAddressing, "true")
	}
	set("oauth2-server-uri", s.CatalogOAuth2URI)
	set("scope", s.CatalogScope)
	set("prefix", s.CatalogPrefix)
	if s.CatalogSigV4 {
		set("rest.sigv4-enabled", "true")
	}
	set("rest.signing-region", s.CatalogSigningRegion)
	set("rest.signing-name", s.CatalogSigningName)

	var errs []error
	secret, err := secretFrom(getenv, envS3SecretAccessKey, "s3-secret-access-key-file", s.S3SecretAccessKeyFile)
	errs = append(errs, err)
	switch {
	case s.S3AccessKeyID != "" && secret == "":
		errs = append(errs, fmt.Errorf("--s3-access-key-id needs a secret: --s3-secret-access-key-file or %s", envS3SecretAccessKey))
	case s.S3AccessKeyID == "" && secret != "":
		errs = append(errs, fmt.Errorf("an S3 secret access key is set but --s3-access-key-id is not"))
	case s.S3AccessKeyID != "":
		p[catalog.PropS3AccessKeyID], p[catalog.PropS3SecretAccessKey] = s.S3AccessKeyID, secret
	}
	token, err := secretFrom(getenv, envCatalogToken, "catalog-token-file", s.CatalogTokenFile)
	errs = append(errs, err)
	set("token", token)
	cred, err := secretFrom(getenv, envCatalogCredential, "catalog-credential-file", s.CatalogCredentialFile)
	errs = append(errs, err)
	if cred != "" && !strings.Contains(cred, ":") {
		errs = append(errs, fmt.Errorf("the REST catalog credential must be client_id:client_secret"))
	}
	set("credential", cred)

	return p, errors.Join(errs...)
}

// secretFrom reads a secret from file (trimmed), else from the environment
// variable env. Both set is an error: which one wins would be a surprise.
func secretFrom(getenv func(string) string, env, flagName, file string) (string, error) {
	fromEnv := getenv(env)
	secrets.Add(fromEnv)
	if file == "" {
		return fromEnv, nil
	}
	if fromEnv != "" {
		return "", fmt.Errorf("--%s and %s are both set; use one", flagName, env)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flagName, err)
	}
	v := strings.TrimSpace(string(b))
	secrets.Add(v)
	if v == "" {
		return "", fmt.Errorf("--%s: %s is empty", flagName, file)
	}
	return v, nil
}

// openCatalog opens the catalog of floe compact and floe doctor with these
// storage settings. Bad settings are a usageError; the returned function
// closes the catalog.
func (s *storageConfig) openCatalog(ctx context.Context, getenv func(string) string, uri, warehouse string) (icecatalog.Catalog, func(), error) {
	props, err := s.props(getenv)
	if err != nil {
		return nil, nil, usageError{err}
	}
	cat, err := catalog.Open(ctx, uri, warehouse, props)
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: %w", err)
	}
	closeCat := func() {}
	if cl, ok := cat.(io.Closer); ok {
		closeCat = func() { _ = cl.Close() }
	}
	return cat, closeCat, nil
}
