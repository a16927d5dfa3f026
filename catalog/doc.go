// Package catalog turns floe's catalog configuration into an iceberg-go
// catalog and makes sure the landing table exists.
//
// What enters: a catalog URI, a warehouse location, extra catalog and FileIO
// properties, and the table identifier, schema and partition spec from
// package schema.
//
// Catalog URIs:
//
//   - sqlite:///abs/path.db, sqlite://relative.db, sqlite::memory: — the
//     iceberg-go SQL catalog on SQLite (pure Go). Several processes may
//     share a file: the connection sets a busy timeout and WAL journaling.
//   - postgres://user@host:5432/db?sslmode=require — the same SQL catalog
//     on PostgreSQL through pgx. Put the password in PGPASSWORD or a
//     PGPASSFILE, not in the URI.
//   - http(s)://host[:port][/path] — an Iceberg REST catalog. Properties:
//     credential (OAuth2 client credentials "id:secret"), token (a bearer
//     token), oauth2-server-uri (token endpoint; default
//     <uri>/v1/oauth/tokens), scope, prefix (path prefix after /v1),
//     rest.sigv4-enabled=true with rest.signing-region and
//     rest.signing-name (AWS SigV4, e.g. for Glue's or S3 Tables' REST
//     endpoints; credentials from the AWS standard chain). The warehouse,
//     if set, is sent to the server as its "warehouse" property.
//   - glue://[catalog-id][?region=R&endpoint=URL] — the AWS Glue Data
//     Catalog; properties glue.region, glue.endpoint, glue.id,
//     glue.max-retries, glue.retry-mode; credentials from the AWS standard
//     chain.
//
// Warehouses: file:///abs/dir or a plain path (created if missing), or
// s3://bucket/prefix. For S3 the FileIO reads s3.endpoint (with an endpoint,
// path-style addressing is used unless s3.force-virtual-addressing=true),
// s3.region, and either s3.access-key-id + s3.secret-access-key (+
// s3.session-token) or the AWS standard credential chain. Before a catalog is
// returned, CheckWarehouse verifies that the bucket exists (ErrBucketNotFound
// otherwise; floe never creates buckets) and that a probe object can be
// written and deleted (ErrAccessDenied on 401/403).
//
// What leaves: an iceberg-go catalog.Catalog (which also implements io.Closer;
// call Close when done) and a loaded *table.Table, created on first use with
// Iceberg format version 2 and zstd-compressed Parquet. The SQL catalogs also
// offer CommitTableOn: a commit made on table metadata the caller holds,
// without loading the table (iceberg/Committer uses it for every commit).
//
// Secrets (passwords in URIs, query strings, keys in props) never appear in
// returned errors.
package catalog

// Tables opened through this package read and write a file:// location at
// its literal path (see internal/fileio), as Spark, Trino and Java Iceberg
// resolve it.
import _ "github.com/floe-io/floe/internal/fileio"
