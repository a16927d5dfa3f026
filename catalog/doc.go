// Package catalog turns floe's catalog configuration into an iceberg-go
// catalog and makes sure the landing table exists.
//
// What enters: a catalog URI (sqlite:///abs/path.db, sqlite://relative.db,
// sqlite::memory:), a warehouse location (file:///abs/dir or a plain path,
// created if missing; other schemes such as s3:// are passed through to
// iceberg-go, whose S3 file IO the binary must enable with a blank import of
// github.com/apache/iceberg-go/io/gocloud/s3), extra catalog properties (for
// example s3.endpoint), and the table identifier, schema and partition spec
// from package schema.
//
// What leaves: an iceberg-go catalog.Catalog (which also implements io.Closer;
// call Close when done) and a loaded *table.Table, created on first use with
// Iceberg format version 2 and zstd-compressed Parquet.
//
// Several processes may open the same SQLite catalog file: the connection
// string sets a busy timeout and WAL journaling so concurrent writers wait
// instead of failing with SQLITE_BUSY.
package catalog
