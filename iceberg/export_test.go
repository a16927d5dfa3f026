package iceberg

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
)

// WriteFilesOnly writes recs as data files without committing them (for
// benchmarks). It returns the number of files and bytes written.
func (w *Writer) WriteFilesOnly(ctx context.Context, recs []arrow.RecordBatch) (files int, bytes int64, err error) {
	dfs, err := w.writeFiles(ctx, w.Table(), "", newRecordSet(recs))
	for _, df := range dfs {
		bytes += df.FileSizeBytes()
	}

	return len(dfs), bytes, err
}
