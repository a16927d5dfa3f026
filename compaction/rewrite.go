package compaction

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"sort"
	"strings"

	iceberggo "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/floe-io/floe/iceberg"
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
	var dropped []staged // groups given up: a concurrent commit removed an input
	attempt := 0
	res, err := c.commit(ctx, iceberg.CommitRequest{
		IDKey: RunIDKey, ID: runID,
		Stage: func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
			attempt++
			if attempt > 1 {
				// After a conflict: keep the groups whose inputs are all
				// still live.
				live, err := livePaths(ctx, base)
				if err != nil {
					return err
				}
				var keep []staged
				for _, w := range work {
					if allLive(w.result.OldDataFiles, live) {
						keep = append(keep, w)
					} else {
						dropped = append(dropped, w)
					}
				}
				if work = keep; len(work) == 0 {
					return iceberg.ErrNoChange
				}
			}
			props, err := carryProps(base, "rewrite", runID)
			if err != nil {
				return err
			}
			if c.opts.beforeCommit != nil {
				c.opts.beforeCommit(attempt)
			}
			rw := tx.NewRewrite(props)
			for _, w := range work {
				rw.ApplyResult(w.result)
			}
			return rw.Commit(ctx)
		},
	})
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
			rep.RewriteSnapshotID = res.SnapshotID
			for _, w := range work {
				rep.recordGroup(w, "committed")
			}
		}
		return nil
	case errors.Is(err, iceberg.ErrConflict):
		// Not an error: the table kept changing; the next run tries again.
		giveUp(append(dropped, work...))
		return nil
	default:
		if res.Unknown == 0 && !errors.Is(err, iceberg.ErrUnknownOutcome) {
			removeOutputs(fs, append(dropped, work...))
		}
		return fmt.Errorf("commit rewrite: %w", err)
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
