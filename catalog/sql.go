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
	"time"

	iceberggo "github.com/apache/iceberg-go"
	icesql "github.com/apache/iceberg-go/catalog/sql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers database/sql driver "pgx"
	"github.com/uptrace/bun/driver/sqliteshim"
)

// sqlitePragmas lets several processes write the same catalog file: writers
// wait up to 10 s for the lock instead of failing with SQLITE_BUSY, and WAL
// lets readers proceed while one writer commits.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"

func openSQLite(ctx context.Context, uri, wh string, props map[string]string) (*sqlCatalog, error) {
	dsn, memory, err := sqliteDSN(uri)
	if err != nil {
		return nil, err
	}
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

	return newSQLCatalog(ctx, uri, db, icesql.SQLite, wh, props)
}

// openPostgres opens the SQL catalog on PostgreSQL through pgx. uri is any
// connection string pgx accepts (postgres://user@host:5432/db?sslmode=...);
// PGPASSWORD, PGPASSFILE and the other libpq variables apply.
func openPostgres(ctx context.Context, uri, wh string, props map[string]string) (*sqlCatalog, error) {
	db, err := sql.Open("pgx", uri)
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", redact(uri), err)
	}

	return newSQLCatalog(ctx, uri, db, icesql.Postgres, wh, props)
}

func newSQLCatalog(ctx context.Context, uri string, db *sql.DB, dialect icesql.SupportedDialect, wh string, props map[string]string) (*sqlCatalog, error) {
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", redact(uri), err)
	}

	p := make(iceberggo.Properties, len(props)+1)
	maps.Copy(p, props)
	p["warehouse"] = wh

	// NewCatalog creates the catalog's tables when they are missing. On
	// PostgreSQL, CREATE TABLE IF NOT EXISTS run by several processes at
	// once (sidecars starting together on a fresh database) can fail in
	// all but one with a duplicate type or key: the tables exist then, and
	// trying again finds them.
	var (
		cat *icesql.Catalog
		err error
	)
	for attempt := 1; ; attempt++ {
		cat, err = icesql.NewCatalog(Name, db, dialect, p)
		if err == nil || attempt == 5 || !createRace(err) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", redact(uri), err)
	}

	return &sqlCatalog{Catalog: cat, db: db, casUpdate: casStatement(dialect)}, nil
}

// createRace reports a PostgreSQL error of two sessions creating the same
// table at once: unique_violation (on pg_type) or duplicate_object /
// duplicate_table.
func createRace(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "23505", "42710", "42P07":
		return true
	}
	return false
}

// sqlCatalog owns the database handle behind an iceberg-go SQL catalog:
// icesql.NewCatalog leaves a caller-supplied handle open on Close.
type sqlCatalog struct {
	*icesql.Catalog
	db        *sql.DB
	casUpdate string // CommitTableOn's UPDATE

	metadataJSON metadataEncoders // CommitTableOn's metadata.json encoder

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
	_, rest, _ := strings.Cut(uri, ":")
	if rest == ":memory:" || rest == "//:memory:" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", false, fmt.Errorf("in-memory catalog name: %w", err)
		}

		return "file:floe-" + hex.EncodeToString(b[:]) + "?mode=memory&cache=shared&" + sqlitePragmas, true, nil
	}

	path, query, _ := strings.Cut(strings.TrimPrefix(rest, "//"), "?")
	if path == "" {
		return "", false, fmt.Errorf("%w %q: catalog.uri has no database path", ErrUnsupportedURI, redact(uri))
	}
	abs, err := filepath.Abs(filepath.FromSlash(path))
	if err != nil {
		return "", false, fmt.Errorf("catalog.uri %q: %w", redact(uri), err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", false, fmt.Errorf("catalog.uri %q: create directory: %w", redact(uri), err)
	}

	dsn = "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() + "?" + sqlitePragmas
	if query != "" {
		dsn += "&" + query
	}

	return dsn, false, nil
}
