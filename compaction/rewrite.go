package compaction

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/floe-io/floe/iceberg"
)

// markFresh sets Fresh on the files added by an append snapshot after
// sequence number seq (the ingest's; the compactor's own commits replace)
// and reports whether there was any: the compactor then plans Tiered,
// since data keeps arriving and merging every partition's whole output
// again each run would cost more with every run.
func markFresh(tbl *table.Table, files []FileInfo, seq int64) bool {
	fresh := make(map[int64]struct{})
	for _, s := range tbl.Metadata().Snapshots() {
		if s.SequenceNumber <= seq || s.Summary == nil || s.Summary.Operation != table.OpAppend {
			continue
		}
		if n, err := strconv.Atoi(s.Summary.Properties["added-data-files"]); err == nil && n > 0 {
			fresh[s.SnapshotID] = struct{}{}
		}
	}
	for i := range files {
		_, files[i].Fresh = fresh[files[i].addedBy]
	}
	return len(fresh) > 0
}

// staged is one group rewritten but not yet committed.
type staged struct {
	group  Group
	result table.CompactionGroupResult
}

// rewrite plans from the small live files (read incrementally from the
// manifests, see candidates), keeps the groups worth most within the
// run's bounds, rewrites them one at a time with floe's lean Parquet writer
// and commits a replace snapshot every CommitEveryFiles input files. A
// commit that meets a concurrent one is staged again on the new state;
// groups whose inputs a concurrent commit removed are given up (their
// outputs deleted) and left to a later run.
func (c *Compactor) rewrite(ctx context.Context, rep *Report) error {
	tbl, err := c.load(ctx)
	if err != nil {
		return err
	}
	if tbl.CurrentSnapshot() == nil {
		return nil
	}
	if c.cands == nil || c.cands.threshold != c.opts.SmallFileThreshold {
		c.cands = newCandidates(c.opts.SmallFileThreshold)
	}
	files, err := c.cands.refresh(ctx, tbl)
	if err != nil {
		return err
	}
	rep.ManifestsRead = c.cands.read
	popts := c.opts.planOptions()
	popts.Tiered = c.planned && markFresh(tbl, files, c.plannedSeq)
	c.planned, c.plannedSeq, rep.Tiered = true, tbl.Metadata().LastSequenceNumber(), popts.Tiered
	full := MakePlan(files, popts)
	plan, deferred := Bound(full, c.opts.MaxRunFiles, c.opts.MaxRunBytes)
	rep.Plan, rep.GroupsDeferred = plan, deferred
	if c.opts.DryRun || len(plan.Groups) == 0 {
		for _, g := range plan.Groups {
			rep.Groups = append(rep.Groups, GroupReport{
				Partition: g.Partition, FilesIn: len(g.Files), BytesIn: g.InputBytes,
				FilesOut: g.EstOutputFiles, Status: "planned",
			})
		}
		return nil
	}

	fs, err := tbl.FS(ctx)
	if err != nil {
		return fmt.Errorf("table io: %w", err)
	}
	target, err := iceberg.TableArrowSchema(tbl)
	if err != nil {
		return err
	}
	var (
		batch      []staged
		batchFiles int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		fresh, err := c.commitBatch(ctx, tbl, fs, batch, rep)
		batch, batchFiles = nil, 0
		if fresh != nil {
			tbl = fresh
		}
		return err
	}
	for _, g := range plan.Groups {
		if ctx.Err() != nil {
			break
		}
		if len(batch) == 0 {
			c.opts.stage("rewrite-write", "")
		}
		st, err := c.rewriteGroup(ctx, tbl, fs, g, target)
		if errors.Is(err, errSchema) || errors.Is(err, iceberg.ErrNotLean) {
			rep.GroupsSkipped++
			rep.Groups = append(rep.Groups, GroupReport{Partition: g.Partition, FilesIn: len(g.Files), BytesIn: g.InputBytes, Status: "skipped: " + err.Error()})
			continue
		}
		if err != nil {
			removeOutputs(fs, batch)
			return fmt.Errorf("rewrite group %s: %w", g.Partition, err)
		}
		batch = append(batch, st)
		batchFiles += len(g.Files)
		if batchFiles >= c.opts.CommitEveryFiles {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		removeOutputs(fs, batch)
		return ctx.Err()
	}
	return flush()
}

// rewriteGroup reads a group's files and writes their rows as new files,
// an output file each time the rows read reach half the memory limit.
func (c *Compactor) rewriteGroup(ctx context.Context, tbl *table.Table, fs iceio.IO, g Group, target *arrow.Schema) (staged, error) {
	st := staged{group: g, result: table.CompactionGroupResult{PartitionKey: g.Partition, BytesBefore: g.InputBytes}}
	md := tbl.Metadata()
	for _, f := range g.Files {
		df, err := c.cands.dataFile(md, f)
		if err != nil {
			return st, err
		}
		st.result.OldDataFiles = append(st.result.OldDataFiles, df)
	}
	mem := memory.DefaultAllocator
	var (
		recs []arrow.RecordBatch
		held int64
	)
	release := func() {
		for _, r := range recs {
			r.Release()
		}
		recs, held = nil, 0
	}
	defer release()
	write := func() error {
		if len(recs) == 0 {
			return nil
		}
		rec, err := concatRecords(recs, mem)
		release()
		if err != nil {
			return err
		}
		defer rec.Release()
		dfs, err := iceberg.WriteDataFiles(ctx, tbl, rec, uuid.NewString(), c.opts.TargetFileSize)
		if err != nil {
			return err
		}
		st.result.NewDataFiles = append(st.result.NewDataFiles, dfs...)
		for _, df := range dfs {
			st.result.BytesAfter += df.FileSizeBytes()
		}
		return nil
	}
	fail := func(err error) (staged, error) {
		release()
		removeOutputs(fs, []staged{st})
		st.result.NewDataFiles = nil
		return st, err
	}
	for _, f := range g.Files {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		rec, err := readDataFile(ctx, fs, f.Path, f.SizeBytes, target, mem)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", f.Path, err))
		}
		recs = append(recs, rec)
		held += recordBytes(rec)
		if held >= c.opts.MemoryLimit/2 {
			if err := write(); err != nil {
				return fail(err)
			}
		}
	}
	if err := write(); err != nil {
		return fail(err)
	}
	return st, nil
}

// commitBatch commits the staged groups as one replace snapshot through the
// table's Committer, taking turns with the ingest's commits. Every attempt
// stages on the Committer's view of the table and first gives up the groups
// one of whose inputs is no longer live (another process rewrote it). It
// returns the table as the commit left it (nil when it could not tell).
func (c *Compactor) commitBatch(ctx context.Context, tbl *table.Table, fs iceio.IO, work []staged, rep *Report) (*table.Table, error) {
	runID := uuid.NewString()
	var dropped []staged // groups given up: a concurrent commit removed an input
	attempt := 0
	var live liveFiles // the small live files of the attempt's base
	// prepare refreshes the view on base, gives up the groups whose inputs
	// are gone and returns the snapshot's props.
	prepare := func(ctx context.Context, base *table.Table) (iceberggo.Properties, error) {
		attempt++
		if _, err := c.cands.refresh(ctx, base); err != nil {
			return nil, err
		}
		var keep []staged
		live = c.cands.liveSet()
		for _, w := range work {
			if live.all(w.group.Paths()) {
				keep = append(keep, w)
			} else {
				dropped = append(dropped, w)
			}
		}
		if work = keep; len(work) == 0 {
			return nil, iceberg.ErrNoChange
		}
		props, err := carryProps(base, "rewrite", runID)
		if err != nil {
			return nil, err
		}
		if c.opts.beforeCommit != nil {
			c.opts.beforeCommit(attempt)
		}
		c.opts.stage("rewrite-commit", runID)
		return props, nil
	}
	req := iceberg.CommitRequest{IDKey: RunIDKey, ID: runID}
	// Metadata files written by each attempt of floe's own replace
	// snapshot: those of attempts that cannot have landed are removed.
	var written [][]string
	if c.ownReplace(tbl, fs) {
		req.Raw = func(ctx context.Context, base *table.Table) ([]table.Update, error) {
			props, err := prepare(ctx, base)
			if err != nil {
				return nil, err
			}
			inputs := make(map[string]struct{})
			for _, w := range work {
				for _, p := range w.group.Paths() {
					inputs[p] = struct{}{}
				}
			}
			updates, files, err := buildReplace(ctx, base, work, inputs, live.manifests(inputs), props)
			if err != nil {
				return nil, err
			}
			written = append(written, files)
			return updates, nil
		}
	} else {
		req.Stage = func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
			props, err := prepare(ctx, base)
			if err != nil {
				return err
			}
			rw := tx.NewRewrite(props)
			for _, w := range work {
				rw.ApplyResult(w.result)
			}
			return rw.Commit(ctx)
		}
	}
	res, err := c.commit(ctx, req)
	if res.Unknown == 0 {
		for i, files := range written {
			if i == len(written)-1 && err == nil && res.Committed {
				break // the snapshot that landed
			}
			removeFiles(fs, files)
		}
	}
	// Files of groups that did not land are deleted unless an attempt's
	// outcome was unknown (a late landing may still reference them).
	giveUp := func(groups []staged) {
		if res.Unknown == 0 {
			removeOutputs(fs, groups)
		}
		for _, w := range groups {
			rep.GroupsGivenUp++
			rep.recordGroup(w, "given up")
		}
	}
	switch {
	case err == nil:
		giveUp(dropped)
		if res.Committed {
			rep.Commits++
			rep.RewriteSnapshotID = res.SnapshotID
			for _, w := range work {
				rep.recordGroup(w, "committed")
			}
		}
		return res.Table, nil
	case errors.Is(err, iceberg.ErrConflict):
		// Not an error: the table kept changing; the next run tries again.
		giveUp(append(dropped, work...))
		return res.Table, nil
	default:
		if res.Unknown == 0 && !errors.Is(err, iceberg.ErrUnknownOutcome) {
			removeOutputs(fs, append(dropped, work...))
		}
		return nil, fmt.Errorf("commit rewrite: %w", err)
	}
}

func (r *Report) recordGroup(w staged, status string) {
	g := GroupReport{
		Partition: w.group.Partition, FilesIn: len(w.result.OldDataFiles), BytesIn: w.result.BytesBefore,
		FilesOut: len(w.result.NewDataFiles), BytesOut: w.result.BytesAfter, Status: status,
	}
	r.Groups = append(r.Groups, g)
	if status == "committed" {
		r.FilesRewritten += g.FilesIn
		r.BytesRewritten += g.BytesIn
		r.FilesWritten += g.FilesOut
		r.BytesWritten += g.BytesOut
	}
}

// ownReplace says whether replace snapshots are built by floe itself
// (buildReplace): on format version 2 tables with writable storage, unless
// the options ask for iceberg-go's producer. Others (v1, v3 with row
// lineage) go through iceberg-go's rewrite.
func (c *Compactor) ownReplace(tbl *table.Table, fs iceio.IO) bool {
	if c.opts.icebergGoReplace {
		return false
	}
	if _, ok := fs.(iceio.WriteFileIO); !ok {
		return false
	}
	return tbl.Metadata().Version() == 2
}

// partitionKey renders df's partition as "name=value/name=value" in spec order.
func partitionKey(spec *iceberggo.PartitionSpec, df iceberggo.DataFile) string {
	vals := df.Partition()
	if spec == nil {
		keys := make([]int, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%d=%v", k, vals[k])
		}
		return strings.Join(parts, "/")
	}
	var parts []string
	for _, f := range spec.Fields() {
		v, ok := vals[f.FieldID]
		if !ok || v == nil {
			parts = append(parts, f.Name+"=null")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%v", f.Name, v))
	}
	return strings.Join(parts, "/")
}

// removeOutputs deletes the files written for groups that will not be
// committed. Failures are ignored: orphan cleanup removes what is left.
func removeOutputs(fs iceio.IO, work []staged) {
	for _, w := range work {
		for _, df := range w.result.NewDataFiles {
			if err := fs.Remove(df.FilePath()); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				continue
			}
		}
	}
}
