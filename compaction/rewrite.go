package compaction

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"net/url"
	"sort"
	"strings"

	iceberggo "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/floe-io/floe/internal/fileio"
)

// staged is one group rewritten but not yet committed.
type staged struct {
	group  Group
	result table.CompactionGroupResult
}

// rewrite plans the table's live files, rewrites each group and commits the
// results as one replace snapshot, re-committing on the new state after a
// conflict and giving up the groups whose inputs a concurrent commit removed.
func (c *Compactor) rewrite(ctx context.Context, rep *Report) error {
	tbl, err := c.load(ctx)
	if err != nil {
		return err
	}
	if tbl.CurrentSnapshot() == nil {
		return nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return fmt.Errorf("plan files: %w", err)
	}
	files, byPath := fileInfos(tbl, tasks)
	plan := MakePlan(files, c.opts.planOptions())
	rep.Plan = plan
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
	var work []staged
	for _, g := range plan.Groups {
		if reason := unwritableGroup(tbl, g, byPath); reason != "" {
			rep.Groups = append(rep.Groups, GroupReport{
				Partition: g.Partition, FilesIn: len(g.Files), BytesIn: g.InputBytes, Status: "skipped: " + reason,
			})
			continue
		}
		tg := table.CompactionTaskGroup{PartitionKey: g.Partition, TotalSizeBytes: g.InputBytes}
		for _, f := range g.Files {
			tg.Tasks = append(tg.Tasks, byPath[f.Path])
		}
		res, err := table.ExecuteCompactionGroup(ctx, tbl, tg, table.WithCompactionTargetFileSize(c.opts.TargetFileSize))
		if err != nil {
			removeOutputs(fs, append(work, staged{result: res}))
			return fmt.Errorf("rewrite group %s: %w", g.Partition, err)
		}
		work = append(work, staged{group: g, result: res})
	}

	runID := uuid.NewString()
	for attempt := 1; ; attempt++ {
		props, err := carryProps(tbl, "rewrite", runID)
		if err != nil {
			removeOutputs(fs, work)
			return err
		}
		if c.opts.beforeCommit != nil {
			c.opts.beforeCommit(attempt)
		}
		committed, err := commitPinned(ctx, tbl, func(tx *table.Transaction) error {
			rw := tx.NewRewrite(props)
			for _, w := range work {
				rw.ApplyResult(w.result)
			}
			return rw.Commit(ctx)
		})
		landed := err == nil
		if err != nil {
			var fresh *table.Table
			fresh, landed, err = c.resolve(ctx, err, runID)
			if err != nil {
				if errors.Is(err, errNotCommitted) {
					removeOutputs(fs, work)
				}
				return fmt.Errorf("commit rewrite: %w", err)
			}
			if landed {
				committed = fresh
			} else {
				tbl = fresh
			}
		}
		if landed {
			rep.RewriteSnapshotID = committed.CurrentSnapshot().SnapshotID
			for _, w := range work {
				rep.recordGroup(w, "committed")
			}
			return nil
		}

		// Conflict: keep the groups whose inputs are all still live.
		live, err := livePaths(ctx, tbl)
		if err != nil {
			removeOutputs(fs, work)
			return err
		}
		var keep, drop []staged
		for _, w := range work {
			if allLive(w.result.OldDataFiles, live) {
				keep = append(keep, w)
			} else {
				drop = append(drop, w)
			}
		}
		if attempt >= c.opts.MaxAttempts {
			drop, keep = append(drop, keep...), nil
		}
		removeOutputs(fs, drop)
		for _, w := range drop {
			rep.GroupsGivenUp++
			rep.recordGroup(w, "given up")
		}
		if len(keep) == 0 {
			return nil
		}
		work = keep
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

// fileInfos describes the data files of tasks for the planner. Files with
// delete files attached are left out: floe writes none, and rewriting them
// would need the deletes handled too.
func fileInfos(tbl *table.Table, tasks []table.FileScanTask) ([]FileInfo, map[string]table.FileScanTask) {
	md := tbl.Metadata()
	byPath := make(map[string]table.FileScanTask, len(tasks))
	out := make([]FileInfo, 0, len(tasks))
	for _, t := range tasks {
		if len(t.DeleteFiles)+len(t.EqualityDeleteFiles)+len(t.DeletionVectorFiles) > 0 {
			continue
		}
		df := t.File
		byPath[df.FilePath()] = t
		out = append(out, FileInfo{
			Path:      df.FilePath(),
			SpecID:    df.SpecID(),
			Partition: partitionKey(md.PartitionSpecByID(int(df.SpecID())), df),
			SizeBytes: df.FileSizeBytes(),
			Records:   df.Count(),
		})
	}
	return out, byPath
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

func livePaths(ctx context.Context, tbl *table.Table) (map[string]struct{}, error) {
	live := make(map[string]struct{})
	if tbl.CurrentSnapshot() == nil {
		return live, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan files: %w", err)
	}
	for _, t := range tasks {
		live[t.File.FilePath()] = struct{}{}
	}
	return live, nil
}

func allLive(files []iceberggo.DataFile, live map[string]struct{}) bool {
	for _, f := range files {
		if _, ok := live[f.FilePath()]; !ok {
			return false
		}
	}
	return true
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

// maxLocalNameBytes is the longest file name common local file systems
// accept.
const maxLocalNameBytes = 255

// unwritableGroup says why iceberg-go's writer, which compaction rewrites
// with, cannot write group g's partition, or "". It names a partition
// directory "name=value" escaped with url.QueryEscape and no length
// limit, so on a local warehouse a long value (floe's own writer cuts and
// hashes those: iceberg.PartitionSegment) gives a file name the file
// system refuses; the group is left as it is rather than failing the run.
func unwritableGroup(tbl *table.Table, g Group, byPath map[string]table.FileScanTask) string {
	if len(g.Files) == 0 {
		return ""
	}
	if _, local := fileio.LocalPath(tbl.Location()); !local {
		return ""
	}
	task, ok := byPath[g.Files[0].Path]
	if !ok {
		return ""
	}
	spec := tbl.Metadata().PartitionSpecByID(int(task.File.SpecID()))
	if spec == nil {
		return ""
	}
	vals := task.File.Partition()
	for _, f := range spec.Fields() {
		v := "null"
		if x, ok := vals[f.FieldID]; ok && x != nil {
			v = fmt.Sprint(x)
		}
		if n := len(url.QueryEscape(f.Name)) + 1 + len(url.QueryEscape(v)); n > maxLocalNameBytes {
			return fmt.Sprintf("partition directory of %s would be %d bytes, over the file system's %d", f.Name, n, maxLocalNameBytes)
		}
	}
	return ""
}
