package compaction

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	iceio "github.com/apache/iceberg-go/io"
)

// SetBeforeCommit installs a hook run before each rewrite commit attempt,
// so tests can land a concurrent commit exactly while a rewrite is in flight.
func SetBeforeCommit(o *Options, f func(attempt int)) { o.beforeCommit = f }

// UseIcebergGoReplace makes rewrites commit through iceberg-go's rewrite
// producer instead of floe's own replace snapshot.
func UseIcebergGoReplace(o *Options) { o.icebergGoReplace = true }

// ReadDataFile reads one data file as the rewrite does; with pqarrow set,
// through pqarrow only (readFlat off).
func ReadDataFile(ctx context.Context, fsys iceio.IO, path string, size int64, target *arrow.Schema, pqarrow bool) (arrow.RecordBatch, error) {
	pqarrowOnly = pqarrow
	defer func() { pqarrowOnly = false }()
	return readDataFile(ctx, fsys, path, size, target, memory.DefaultAllocator)
}

// ReadFlat reads one data file through readFlat alone (errNotFlat when it
// would leave the file to pqarrow).
func ReadFlat(fsys iceio.IO, path string, target *arrow.Schema) (arrow.RecordBatch, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	return readFlat(pf, target, memory.DefaultAllocator)
}

// SetSmallRead sets the size up to which data files are read into memory
// in one piece (larger ones through positioned reads); the returned
// function restores it.
func SetSmallRead(n int64) (restore func()) {
	old := smallRead
	smallRead = n
	return func() { smallRead = old }
}
