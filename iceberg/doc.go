// Package iceberg writes floe's batches into an Apache Iceberg table and
// commits them, with the Kafka offsets they cover, as one atomic snapshot.
//
// What enters: a Batch of Arrow record batches in the table's Arrow schema
// (Writer.ArrowSchema), the consumer group, the offsets the batch starts from
// (From) and the offsets after it (To). Commit takes ownership of the records
// and releases them.
//
// What leaves: Parquet data files under the table location, fanned out by the
// partition spec and written exactly once per batch, and one append snapshot
// whose summary carries
//
//	floe.offsets.<group> = {"<topic>":{"<partition>":<next offset>}}  (To)
//	floe.commit-id       = <uuid of the batch>
//
// The data files of a table whose columns are flat and primitive (the
// contract table's are) come from the lean Parquet writer (leanwrite.go,
// parquet.go, thrift.go): one file per partition, PLAIN values, RLE
// definition levels, one row group, encoders and buffers reused across
// files, Iceberg metrics built from the values it wrote. Any other table, or
// WithIcebergGoWriter(true), goes through iceberg-go's table.WriteRecords.
// The choice is made in one place per batch (datafiles.go,
// dataFileWriterFor), and LeanWriterReason reports it.
// Tests hold the two writers to the same rows, partitions, counts and
// bounds, and two independent readers (arrow-go, hyparquet) to the values.
//
// Every commit to a table goes through its Committer (committer.go), one per
// table per process, shared by the Writer, the compactor and (for its own
// table) the dead-letter sink: commits of one process take turns in arrival
// order, each transaction is pinned to the head it was staged on, a commit
// error is classified once (conflict: reload and stage again; unknown
// outcome: reload, look for the request's id, only then stage again), and
// the caller's Stage function derives its change from the table it is
// given.
//
// Writer.Offsets reads those summaries back (newest snapshot first), so the
// table, not the Kafka consumer group, is the source of truth on restart.
//
// Exactly once rests on three rules:
//
//   - Fencing: before every commit attempt the offsets recorded in the table
//     the attempt is based on must equal batch.From for every partition the
//     table knows; otherwise another writer already committed past this batch
//     and Commit fails with ErrFenced without committing.
//   - Compare and swap: every attempt asserts that the main branch still
//     points at the snapshot it was fenced against, so a commit never lands on
//     a table state that was not fenced.
//   - Unknown outcomes are resolved, never blindly retried: after a commit
//     error that is not a clean conflict the table is reloaded and searched
//     for floe.commit-id; only if absent is the commit retried (with the same
//     data files).
//
// A batch with no rows but offsets to advance (every record went to the
// dead-letter output) is committed as an empty append snapshot: no data
// files, same summary properties.
package iceberg

// Every file:// location is the literal path of its file (see
// internal/fileio); partition directories are escaped as Java Iceberg
// escapes them (PartitionSegment).
import _ "github.com/floe-io/floe/internal/fileio"
