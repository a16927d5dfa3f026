// Package scanread reads every row of an Iceberg table scan with memory that
// does not grow with the number of data files.
//
// iceberg-go v0.7.0 holds per-file state for the whole of a read:
//
//   - Scan.ToArrowRecords (and ReadTasks over many tasks) keeps, until its
//     iterator ends, a cache entry for every data file it has opened: the
//     parsed Parquet footer (parquetMetadataCache) and the file's projected
//     schema (preparedFileReadPlanCache), ~60 KB per one-row file of the
//     contract table;
//   - Scan.PlanFiles returns every task with the file's column statistics
//     decoded (~7 KB per file of the contract table).
//
// Over the 275,000 files of a 5-minute soak at 1,000 merchants that is the
// 15.6 GB the soak's read-back was OOM-killed at. Records instead streams
// the live data files of the scan's snapshot manifest by manifest (entries
// read without column statistics) and reads them through the scan's
// ReadTasks in chunks of at most chunk files, so the caches hold one chunk
// and are dropped between chunks.
package scanread

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// DefaultChunk is the number of data files read per ReadTasks call: ~16 MB
// of per-file cache for one-row files, and few enough calls that their
// setup does not show over hundreds of thousands of files.
const DefaultChunk = 256

// Stats describes a Records call.
type Stats struct {
	// Files is the number of live data files read.
	Files int
	// Chunks is the number of ReadTasks calls; MaxChunk the most files
	// in one.
	Chunks, MaxChunk int
	// Rows is the number of rows passed to fn.
	Rows int64
	// Planned is true when the snapshot has delete files and the scan
	// was planned whole (Scan.PlanFiles) to apply them, instead of
	// streamed: memory then grows with the number of files again.
	Planned bool
}

// LiveDataFiles calls fn with every live data file of snap (the entries of
// its data manifests that are not deleted), one manifest at a time, read
// without column statistics. Delete files are not data files: they are
// not passed to fn.
func LiveDataFiles(ctx context.Context, tbl *table.Table, snap *table.Snapshot, fn func(iceberggo.DataFile) error) error {
	return dataFiles(ctx, tbl, snap, false, fn)
}

// dataFiles is LiveDataFiles; with failOnDeletes, it returns errDeletes
// before calling fn if snap has delete manifests.
func dataFiles(ctx context.Context, tbl *table.Table, snap *table.Snapshot, failOnDeletes bool, fn func(iceberggo.DataFile) error) error {
	if snap == nil {
		return nil
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return err
	}
	manifests, err := snap.Manifests(fs)
	if err != nil {
		return fmt.Errorf("read the manifest list of snapshot %d: %w", snap.SnapshotID, err)
	}
	data := manifests[:0:0]
	for _, m := range manifests {
		if m.ManifestContent() == iceberggo.ManifestContentData {
			data = append(data, m)
		} else if failOnDeletes {
			return fmt.Errorf("%w: %s", errDeletes, m.FilePath())
		}
	}
	manifests = data
	for _, m := range manifests {
		for e, err := range iceberggo.EntriesWithProjection(fs, m, true, iceberggo.ManifestEntryProjection{}) {
			if err != nil {
				return fmt.Errorf("read manifest %s: %w", m.FilePath(), err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e.DataFile()); err != nil {
				return err
			}
		}
	}
	return nil
}

var errDeletes = errors.New("snapshot has delete files")

// Records calls fn with every record batch of every live data file of the
// scan's snapshot (the current one unless the scan names another), reading
// at most chunk files (DefaultChunk if chunk <= 0) per Scan.ReadTasks call,
// which applies the scan's projection and row filter. fn must not keep the
// batch past its return without retaining it; Records releases it.
//
// The files are not pruned by the scan's row filter (ReadTasks still
// applies it to the rows), and the tasks carry no row-lineage constants
// (_row_id, _last_updated_sequence_number are not for selection here). A
// snapshot with delete files is read through Scan.PlanFiles, which matches
// deletes to data files, and then in chunks (Stats.Planned).
func Records(ctx context.Context, tbl *table.Table, scan *table.Scan, chunk int, fn func(arrow.RecordBatch) error) (Stats, error) {
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	var st Stats
	tasks := make([]table.FileScanTask, 0, min(chunk, 1024))
	flush := func() error {
		if len(tasks) == 0 {
			return nil
		}
		st.Chunks++
		st.MaxChunk = max(st.MaxChunk, len(tasks))
		err := readTasks(ctx, scan, tasks, &st, fn)
		clear(tasks)
		tasks = tasks[:0]
		return err
	}
	err := dataFiles(ctx, tbl, scan.Snapshot(), true, func(df iceberggo.DataFile) error {
		st.Files++
		tasks = append(tasks, table.FileScanTask{File: df, Start: 0, Length: df.FileSizeBytes()})
		if len(tasks) < chunk {
			return nil
		}
		return flush()
	})
	if errors.Is(err, errDeletes) { // checked before any file is read
		return planned(ctx, scan, chunk, fn)
	}
	if err != nil {
		return st, err
	}
	return st, flush()
}

// planned reads a scan whose snapshot has delete files: planned whole,
// read in chunks.
func planned(ctx context.Context, scan *table.Scan, chunk int, fn func(arrow.RecordBatch) error) (Stats, error) {
	st := Stats{Planned: true}
	tasks, err := scan.PlanFiles(ctx)
	if err != nil {
		return st, fmt.Errorf("plan the scan: %w", err)
	}
	st.Files = len(tasks)
	for from := 0; from < len(tasks); from += chunk {
		part := tasks[from:min(from+chunk, len(tasks))]
		st.Chunks++
		st.MaxChunk = max(st.MaxChunk, len(part))
		if err := readTasks(ctx, scan, part, &st, fn); err != nil {
			return st, err
		}
		clear(part)
	}
	return st, nil
}

func readTasks(ctx context.Context, scan *table.Scan, tasks []table.FileScanTask, st *Stats, fn func(arrow.RecordBatch) error) error {
	_, recs, err := scan.ReadTasks(ctx, tasks)
	if err != nil {
		return fmt.Errorf("read %d data files: %w", len(tasks), err)
	}
	for rec, err := range recs {
		if err != nil {
			return err
		}
		st.Rows += rec.NumRows()
		err := fn(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}
