package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	icecatalog "github.com/apache/iceberg-go/catalog"

	sredact "github.com/floe-io/floe/internal/redact"
)

// Name is the catalog name recorded in every row of the SQL catalog. All
// processes sharing a catalog database must use the same name.
const Name = "floe"

// ErrUnsupportedURI is returned by Open for a catalog URI whose scheme floe
// does not (yet) support.
var ErrUnsupportedURI = errors.New("unsupported catalog uri")

// Open returns an iceberg-go catalog for uri, storing new tables under
// warehouse.
//
// Supported URIs:
//   - sqlite:///abs/path/catalog.db  (absolute path)
//   - sqlite://relative/path.db       (relative to the working directory)
//   - sqlite::memory:                 (private in-memory catalog, for tests)
//   - postgres://user@host:port/db?sslmode=disable (SQL catalog on PostgreSQL;
//     the password belongs in PGPASSWORD or ~/.pgpass, not in the URI)
//   - http(s)://host:port[/path]      (Iceberg REST catalog; see doc.go for
//     the authentication and SigV4 properties)
//   - glue://[catalog-id][?region=R&endpoint=URL] (AWS Glue Data Catalog)
//
// warehouse is file:///abs/dir or a plain path (made absolute and created),
// or s3://bucket/prefix, whose bucket is checked before Open returns: a
// missing bucket is ErrBucketNotFound, a refusal ErrAccessDenied. For a REST
// catalog warehouse may be empty (the server decides) and is passed to the
// server as its "warehouse" property.
//
// props are catalog and FileIO properties (s3.endpoint, s3.region,
// s3.access-key-id, credential, token, ...; see doc.go); "warehouse" in
// props is overridden. Secrets in props never appear in errors.
//
// The returned catalog implements io.Closer; Close releases its connections.
func Open(ctx context.Context, uri, warehouse string, props map[string]string) (icecatalog.Catalog, error) {
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok || uri == "" {
		return nil, fmt.Errorf("%w %q: catalog.uri must look like sqlite:///abs/path/catalog.db, postgres://host/db, https://rest-catalog or glue://", ErrUnsupportedURI, redact(uri))
	}

	switch scheme = strings.ToLower(scheme); scheme {
	case "sqlite", "sqlite3", "postgres", "postgresql":
	case "http", "https":
		return openREST(ctx, uri, warehouse, props)
	case "glue":
		return openGlue(ctx, uri, warehouse, props)
	default:
		return nil, fmt.Errorf("%w %s: scheme %q is unknown; catalog.uri supports sqlite://, postgres://, http(s):// (REST) and glue://",
			ErrUnsupportedURI, redact(uri), scheme)
	}

	wh, err := prepareWarehouse(ctx, warehouse, props)
	if err != nil {
		return nil, err
	}
	if scheme == "postgres" || scheme == "postgresql" {
		return openPostgres(ctx, uri, wh, props)
	}

	return openSQLite(ctx, uri, wh, props)
}

// prepareWarehouse normalizes warehouse and, for S3, checks that its bucket
// exists and accepts writes.
func prepareWarehouse(ctx context.Context, warehouse string, props map[string]string) (string, error) {
	wh, err := normalizeWarehouse(warehouse)
	if err != nil {
		return "", err
	}
	if isS3(wh) {
		if err := CheckWarehouse(ctx, wh, props); err != nil {
			return "", err
		}
	}

	return wh, nil
}

// normalizeWarehouse turns a plain path or file:// URL into an absolute
// file:// URL whose directory exists; other schemes are returned unchanged.
func normalizeWarehouse(warehouse string) (string, error) {
	if warehouse == "" {
		return "", errors.New("catalog warehouse is empty: set it to file:///abs/dir, a directory path or s3://bucket/prefix")
	}

	path := warehouse
	if scheme, rest, ok := strings.Cut(warehouse, "://"); ok {
		if !strings.EqualFold(scheme, "file") {
			return strings.TrimSuffix(warehouse, "/"), nil
		}
		u, err := url.Parse(warehouse)
		if err != nil {
			return "", fmt.Errorf("catalog warehouse %q: %w", warehouse, err)
		}
		path = u.Path
		if u.Host != "" && u.Host != "localhost" {
			// file://relative/dir: treat host+path as a relative path.
			path = rest
		}
	}

	abs, err := filepath.Abs(filepath.FromSlash(path))
	if err != nil {
		return "", fmt.Errorf("catalog warehouse %q: %w", warehouse, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("catalog warehouse %q: create directory: %w", warehouse, err)
	}

	return "file://" + filepath.ToSlash(abs), nil
}

// redact hides a password and secret query parameters (tokens) in a URI so
// it can appear in an error.
func redact(uri string) string {
	// The password of the user info and secret-looking query parameters
	// go; the rest helps whoever reads the error. redact.URL never fails,
	// so a URI that does not parse (the likeliest to be in an error) is
	// redacted too.
	return sredact.URL(uri)
}
