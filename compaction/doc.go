// Package compaction keeps floe's tables fast to read and cheap to commit to
// while ingestion goes on: it bin-packs small data files into files near a
// target size, expires old snapshots without losing the offsets exactly-once
// recovery resumes from, deletes orphan files (in its first run, then once
// per OrphansEvery) and merges small manifests.
//
// Data enters as a catalog and a table identifier. The compactor keeps an
// incremental view of the table's small files (candidates: only the
// manifests new since its previous run are read), plans with the pure
// function MakePlan (which files go together; no I/O; size-tiered in the
// partitions that got data since the previous run, whole elsewhere),
// bounds each run (MaxRunFiles, MaxRunBytes; the groups that remove the
// most files first), reads the inputs (readFlat for flat primitive
// columns, pqarrow otherwise), rewrites each group with floe's data-file
// writer
// (iceberg.WriteDataFiles, holding at most MemoryLimit of rows) and commits
// a "replace" snapshot every CommitEveryFiles input files, built by floe
// itself on format-version-2 tables (replace.go: only the manifests holding
// an input are read and rewritten, the others are carried unread; other
// versions go through iceberg-go's rewrite). Nothing leaves it
// but new snapshots in the table and a Report.
//
// Never fighting the ingest: the compactor commits through the table's
// iceberg.Committer. Given the ingest Writer's (Options.Committer), the two
// take turns inside the process and never conflict with each other. Every
// commit is pinned to the snapshot it was staged on; when another process's
// commit lands first, the compactor stages again at once on the reloaded
// table, keeps the groups whose input files are all
// still live, and commits the same output files on the new state; a group
// whose inputs are gone is given up (its output files deleted) and tried on
// a later run. The ingest side (iceberg.Writer) meets at most a clean
// conflict it already retries, never an error of the compactor's making.
//
// Offsets: each snapshot the compactor commits carries, for every consumer
// group found in the table, the merged offsets as of the snapshot it was
// based on (floe.offsets.<group>, unchanged values). A Writer's fence
// therefore sees exactly the offsets it saw before, and expiring every
// snapshot older than a compactor snapshot loses nothing. Before expiring,
// the compactor checks that the snapshots it keeps still yield every group's
// offsets and, when they would not, first commits an empty checkpoint
// snapshot carrying them.
package compaction
