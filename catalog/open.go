package catalog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	icesql "github.com/apache/iceberg-go/catalog/sql"
	"github.com/uptrace/bun/driver/sqliteshim"
)

// Name is the catalog name recorded in every row of the SQL catalog. All
// processes sharing a catalog database must use the same name.
const Name = "floe"

// sqlitePragmas lets several processes write the same catalog file: writers
// wait up to 10 s for the lock instead of failing with SQLITE_BUSY, and WAL
// lets readers proceed while one writer commits.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"

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
//
// The parent directory of a SQLite file is created if missing. warehouse is
// file:///abs/dir or a plain path (made absolute and created); any other
// scheme (s3://...) is passed to iceberg-go unchanged. props are extra catalog
// properties (for example s3.endpoint); "warehouse" in props is overridden.
//
// The returned catalog implements io.Closer; Close releases the database.
func Open(ctx context.Context, uri, warehouse string, props map[string]string) (icecatalog.Catalog, error) {
	wh, err := normalizeWarehouse(warehouse)
	if err != nil {
		return nil, err
	}

	dsn, memory, err := sqliteDSN(uri)
	if err != nil {
		return nil, err
	}

	p := make(iceberggo.Properties, len(props)+1)
	maps.Copy(p, props)
	p["warehouse"] = wh

	db, err := sql.Open(sqliteshim.ShimName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", redact(uri), err)
	}
	if memory {
		// Every connection to a named shared-cache memory database sees the
		// same data, but shared-cache locking reports SQLITE_LOCKED rather
		// than waiting; one connection keeps the in-process catalog simple.
		db.SetMaxOpenConns(1)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", redact(uri), err)
	}

	cat, err := icesql.NewCatalog(Name, db, icesql.SQLite, p)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", redact(uri), err)
	}

	return &sqlCatalog{Catalog: cat, db: db}, nil
}

// sqlCatalog owns the database handle behind an iceberg-go SQL catalog:
// icesql.NewCatalog leaves a caller-supplied handle open on Close.
type sqlCatalog struct {
	*icesql.Catalog
	db *sql.DB

	closeOnce sync.Once
	closeErr  error
}

// Close releases the catalog and its database connections. It is safe to
// call more than once.
func (c *sqlCatalog) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = errors.Join(c.Catalog.Close(), c.db.Close())
	})

	return c.closeErr
}

// sqliteDSN maps a floe catalog URI to a modernc SQLite DSN. memory reports an
// in-memory database.
func sqliteDSN(uri string) (dsn string, memory bool, err error) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || uri == "" {
		return "", false, fmt.Errorf("%w %q: catalog.uri must look like sqlite:///abs/path/catalog.db", ErrUnsupportedURI, uri)
	}

	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
	case "postgres", "postgresql":
		return "", false, fmt.Errorf("%w %s: PostgreSQL catalogs are not supported yet; set catalog.uri to sqlite:///abs/path/catalog.db",
			ErrUnsupportedURI, redact(uri))
	default:
		return "", false, fmt.Errorf("%w %s: scheme %q is unknown; catalog.uri supports sqlite:///abs/path.db, sqlite://relative/path.db and sqlite::memory:",
			ErrUnsupportedURI, redact(uri), scheme)
	}

	if rest == ":memory:" || rest == "//:memory:" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", false, fmt.Errorf("in-memory catalog name: %w", err)
		}

		return "file:floe-" + hex.EncodeToString(b[:]) + "?mode=memory&cache=shared&" + sqlitePragmas, true, nil
	}

	path, query, _ := strings.Cut(strings.TrimPrefix(rest, "//"), "?")
	if path == "" {
		return "", false, fmt.Errorf("%w %q: catalog.uri has no database path", ErrUnsupportedURI, uri)
	}
	abs, err := filepath.Abs(filepath.FromSlash(path))
	if err != nil {
		return "", false, fmt.Errorf("catalog.uri %q: %w", uri, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", false, fmt.Errorf("catalog.uri %q: create directory: %w", uri, err)
	}

	dsn = "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() + "?" + sqlitePragmas
	if query != "" {
		dsn += "&" + query
	}

	return dsn, false, nil
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

// redact hides a password in a URI so it can appear in an error.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}

	return u.Redacted()
}
