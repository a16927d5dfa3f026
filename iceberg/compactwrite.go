package iceberg

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// ErrNotLean means a table's data files cannot be written by floe's lean
// writer (see Writer.LeanWriterReason); the error says why.
var ErrNotLean = errors.New("table not writable by the lean writer")

// WriteDataFiles writes rec's rows as Parquet data files of tbl with floe's
// lean writer: one file per partition (split in two, recursively, when one
// would exceed targetSize; 0 means the table's
// write.target-file-size-bytes), on one goroutine. rec must have the
// table's Arrow schema (TableArrowSchema). The files are named after
// writeID, a UUID (a new one if empty), and located by the table's location
// provider, as ingest's are. It does not release rec; on error the files it
// wrote are removed. The compactor writes its output files with it.
func WriteDataFiles(ctx context.Context, tbl *table.Table, rec arrow.RecordBatch, writeID string, targetSize int64) ([]iceberggo.DataFile, error) {
	if rec.NumRows() == 0 {
		return nil, nil
	}
	plan, why := planLean(tbl, rec.Schema())
	if plan == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotLean, why)
	}
	if targetSize > 0 {
		plan.target = targetSize
	}
	if _, err := uuid.Parse(writeID); err != nil {
		writeID = uuid.NewString()
	}
	return writeLean(ctx, tbl, plan, rec, writeID, 0, 1)
}

// TableArrowSchema is tbl's current schema as Arrow with field ids in the
// field metadata: the schema WriteDataFiles and Batch.Records take.
func TableArrowSchema(tbl *table.Table) (*arrow.Schema, error) {
	return table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
}
