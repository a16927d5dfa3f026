package compaction

import (
	"cmp"
	"fmt"
	"slices"
)

// FileInfo describes one live data file, as the planner needs it.
type FileInfo struct {
	Path string
	// SpecID is the partition spec the file was written with.
	SpecID int32
	// Partition is a canonical rendering of the file's partition values
	// (equal values, equal string); files group by SpecID and Partition.
	Partition string
	SizeBytes int64
	Records   int64
	// Coarse marks a file of the table's coarse ingest spec
	// (iceberg.CoarseSpec): it is rewritten into the default spec whatever
	// its size.
	Coarse bool
	// Parent is, for a default-spec file of a table with a coarse spec,
	// its partition rendered in the coarse spec (the Partition of the
	// coarse files holding rows of the same currency); "" otherwise.
	Parent string
	// Fresh marks a file appended (by the ingest) since the compactor's
	// previous plan. With PlanOptions.Tiered a partition holding a fresh
	// file is merged size-tiered; one without is merged whole, so a
	// partition the stream no longer reaches ends up in one file while
	// others are still busy.
	Fresh bool

	addedBy int64 // the snapshot that added the file (Fresh is derived from it)
}

// PlanOptions tune Plan. Zero values take the defaults.
type PlanOptions struct {
	// TargetFileSize is the size output files aim at (default 128 MiB).
	TargetFileSize int64
	// SmallFileThreshold: files strictly below it are candidates for
	// rewriting (default TargetFileSize/2).
	SmallFileThreshold int64
	// MinInputFiles is the fewest files worth rewriting together
	// (default 2): a group of one file would only copy it.
	MinInputFiles int
	// Tiered plans for a table that data keeps arriving in: the small
	// files of a partition that has a Fresh file or takes new coarse rows
	// are merged only as far as tierPick allows (a file joins
	// a merge while it is at most TierRatio times the bytes merged with
	// it, or while the partition would otherwise keep more than
	// TierMaxFiles files), so a run reads about what arrived since the
	// last one instead of every partition's whole small output again.
	// Without it every small file of a partition is merged (the table is
	// quiet: the result is one file per partition).
	Tiered bool
	// TierWholeBelow: with Tiered, a partition whose small files (and its
	// share of new coarse rows) total at most this many bytes merges
	// whole, as on a quiet table: re-reading so little costs about what
	// opening one more file does, and the partition keeps one file
	// instead of up to TierMaxFiles. 0: DefaultTierWholeBelow; negative:
	// never.
	TierWholeBelow int64
}

// DefaultTierWholeBelow is PlanOptions.TierWholeBelow's default: 32 KiB,
// the size of a partition file of ~1,000 payment rows, which the flat reader
// decodes in about the time it takes to open a file of a few rows
// (BenchmarkReadDataFile).
const DefaultTierWholeBelow int64 = 32 << 10

// Size-tiered merging (PlanOptions.Tiered). With a 30 s interval the
// bytes a run rewrites per byte that arrived were, in a model of one
// partition (one new file per run): always merging 5.5 after 10 runs, 60
// after an hour, 1,440 after a day; tiered with these values 3.4, 7.0 and
// 12.6, with at most TierMaxFiles files per partition while data arrives.
const (
	TierRatio    = 4
	TierMaxFiles = 4
)

// tierPick chooses which of one partition's small files to merge into an
// output that already holds acc bytes (the partition's share of new coarse
// rows; 0 when the output is made of these files alone). Smallest first, a
// file is taken while it is at most TierRatio times the bytes taken so
// far, or while leaving it would leave the partition more than
// TierMaxFiles files (those not taken, plus the output). All are taken
// when they and acc total at most wholeBelow bytes.
func tierPick(files []FileInfo, acc, wholeBelow int64) (take, leave []FileInfo) {
	total := acc
	for _, f := range files {
		total += f.SizeBytes
	}
	if total <= wholeBelow {
		return files, nil
	}
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b FileInfo) int {
		return cmp.Or(cmp.Compare(a.SizeBytes, b.SizeBytes), cmp.Compare(a.Path, b.Path))
	})
	for i, f := range sorted {
		left := len(sorted) - i // not taken so far, f included
		if acc == 0 || f.SizeBytes <= TierRatio*acc || left+1 > TierMaxFiles {
			take = append(take, f)
			acc += f.SizeBytes
			continue
		}
		leave = append(leave, f)
	}
	return take, leave
}

// DefaultTargetFileSize is the default size compacted files aim at.
const DefaultTargetFileSize int64 = 128 << 20

func (o PlanOptions) withDefaults() PlanOptions {
	if o.TargetFileSize <= 0 {
		o.TargetFileSize = DefaultTargetFileSize
	}
	if o.SmallFileThreshold <= 0 {
		o.SmallFileThreshold = o.TargetFileSize / 2
	}
	if o.MinInputFiles < 2 {
		o.MinInputFiles = 2
	}
	if o.TierWholeBelow == 0 {
		o.TierWholeBelow = DefaultTierWholeBelow
	}
	return o
}

// Group is a set of files of one partition to rewrite together.
type Group struct {
	SpecID    int32
	Partition string
	Files     []FileInfo
	// InputBytes is the sum of the files' sizes.
	InputBytes int64
	// EstOutputFiles is the number of files the rewrite should produce.
	EstOutputFiles int
	// Coarse marks a group of coarse-spec files (and small default-spec
	// files of the same coarse partition merged in), rewritten into the
	// default spec. EstOutputFiles is then a lower bound: the default
	// partitions of the merged-in files.
	Coarse bool
}

// Paths returns the group's file paths.
func (g Group) Paths() []string {
	out := make([]string, len(g.Files))
	for i, f := range g.Files {
		out[i] = f.Path
	}
	return out
}

// Plan is what a rewrite would do.
type Plan struct {
	Groups []Group
	// InputFiles and InputBytes sum over Groups.
	InputFiles int
	InputBytes int64
	// EstOutputFiles sums Group.EstOutputFiles.
	EstOutputFiles int
	// Partitions counts distinct partitions among the files planned from.
	Partitions int
	// SkippedSmallFiles are small files left alone (alone in their partition
	// or in a bin below MinInputFiles).
	SkippedSmallFiles int
}

// String summarizes p on one line.
func (p Plan) String() string {
	return fmt.Sprintf("%d groups, %d files (%d bytes) in, ~%d files out, %d small files skipped",
		len(p.Groups), p.InputFiles, p.InputBytes, p.EstOutputFiles, p.SkippedSmallFiles)
}

// MakePlan decides which files to rewrite together. It is pure: the same
// files and options give the same plan, in a deterministic order.
//
// Files group by (SpecID, Partition). In each partition the small files
// (below SmallFileThreshold) are bin-packed, largest first, into bins of at
// most TargetFileSize bytes (first fit decreasing); each bin with at least
// MinInputFiles files is a Group. Files at or above the threshold are never
// rewritten. Groups are ordered by spec, partition, then bin.
//
// Files of a coarse ingest spec (FileInfo.Coarse) are the exception: they
// are always rewritten, alone or not, whatever their size, in groups of
// their own (Group.Coarse, first in the plan) that also take the small
// default-spec files of the same coarse partition (FileInfo.Parent) within
// the target size.
//
// With Tiered, only the small files tierPick chooses in each partition
// that has a Fresh file, or takes new coarse rows, are planned; the others
// are left for a later run (SkippedSmallFiles).
func MakePlan(files []FileInfo, opts PlanOptions) Plan {
	opts = opts.withDefaults()

	type key struct {
		spec int32
		part string
	}
	// Coarse files group by their partition (currency) and are bin-packed
	// into groups of at most the target size. The first group of a
	// currency also takes the small default-spec files of that currency
	// while it stays within the target size, whole default partitions at
	// a time (with Tiered, the files tierPick chooses of each), smallest
	// first: their rewrite then leaves one file per (currency, merchant)
	// partition (with Tiered, a few). Partitions that do not fit are
	// planned as usual below (and get the coarse group's output beside
	// them).
	coarse := make(map[key][]FileInfo)
	parents := make(map[string]key)
	for _, f := range files {
		if f.Coarse {
			k := key{f.SpecID, f.Partition}
			coarse[k] = append(coarse[k], f)
			parents[f.Partition] = k
		}
	}
	// Small default-spec files of a currency with coarse files, by
	// currency, then by their own partition.
	mergeable := make(map[key]map[string][]FileInfo)
	byPart := make(map[key][]FileInfo)
	for _, f := range files {
		if f.Coarse {
			continue
		}
		if k, ok := parents[f.Parent]; ok && f.Parent != "" && f.SizeBytes < opts.SmallFileThreshold {
			if mergeable[k] == nil {
				mergeable[k] = map[string][]FileInfo{}
			}
			mergeable[k][f.Partition] = append(mergeable[k][f.Partition], f)
			continue
		}
		k := key{f.SpecID, f.Partition}
		byPart[k] = append(byPart[k], f)
	}

	ckeys := make([]key, 0, len(coarse))
	for k := range coarse {
		ckeys = append(ckeys, k)
	}
	slices.SortFunc(ckeys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.spec, b.spec), cmp.Compare(a.part, b.part))
	})
	var (
		coarseGroups []Group
		plan         Plan
	)
	for _, k := range ckeys {
		for i, bin := range binPack(coarse[k], opts.TargetFileSize) {
			g := Group{SpecID: k.spec, Partition: k.part, Files: bin, Coarse: true}
			for _, f := range g.Files {
				g.InputBytes += f.SizeBytes
			}
			outs := 0
			if i == 0 {
				type part struct {
					name  string
					files []FileInfo
					bytes int64
				}
				var parts []part
				// The new rows of one default partition, roughly: the
				// bin's coarse bytes shared by the partitions it has.
				share := g.InputBytes / int64(max(1, len(mergeable[k])))
				for name, fs := range mergeable[k] {
					if opts.Tiered {
						var left []FileInfo
						fs, left = tierPick(fs, max(1, share), opts.TierWholeBelow)
						plan.SkippedSmallFiles += len(left)
						if len(fs) == 0 {
							continue
						}
					}
					p := part{name: name, files: fs}
					for _, f := range fs {
						p.bytes += f.SizeBytes
					}
					slices.SortFunc(p.files, func(a, b FileInfo) int { return cmp.Compare(a.Path, b.Path) })
					parts = append(parts, p)
				}
				slices.SortFunc(parts, func(a, b part) int {
					return cmp.Or(cmp.Compare(a.bytes, b.bytes), cmp.Compare(a.name, b.name))
				})
				for _, p := range parts {
					if g.InputBytes+p.bytes > opts.TargetFileSize {
						for _, f := range p.files {
							pk := key{f.SpecID, f.Partition}
							byPart[pk] = append(byPart[pk], f)
						}
						continue
					}
					g.Files = append(g.Files, p.files...)
					g.InputBytes += p.bytes
					outs++
				}
			}
			g.EstOutputFiles = max(1, outs)
			coarseGroups = append(coarseGroups, g)
		}
	}

	keys := make([]key, 0, len(byPart))
	for k := range byPart {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.spec, b.spec), cmp.Compare(a.part, b.part))
	})
	plan.Partitions = len(keys) + len(ckeys)
	for _, g := range coarseGroups {
		plan.Groups = append(plan.Groups, g)
		plan.InputFiles += len(g.Files)
		plan.InputBytes += g.InputBytes
		plan.EstOutputFiles += g.EstOutputFiles
	}
	for _, k := range keys {
		var small []FileInfo
		for _, f := range byPart[k] {
			if f.SizeBytes < opts.SmallFileThreshold {
				small = append(small, f)
			}
		}
		if opts.Tiered && slices.ContainsFunc(small, func(f FileInfo) bool { return f.Fresh }) {
			var left []FileInfo
			small, left = tierPick(small, 0, opts.TierWholeBelow)
			if len(small) < opts.MinInputFiles {
				small, left = nil, append(left, small...)
			}
			plan.SkippedSmallFiles += len(left)
		}
		for _, bin := range binPack(small, opts.TargetFileSize) {
			if len(bin) < opts.MinInputFiles {
				plan.SkippedSmallFiles += len(bin)
				continue
			}
			g := Group{SpecID: k.spec, Partition: k.part, Files: bin}
			for _, f := range bin {
				g.InputBytes += f.SizeBytes
			}
			g.EstOutputFiles = int(max(1, (g.InputBytes+opts.TargetFileSize-1)/opts.TargetFileSize))
			plan.Groups = append(plan.Groups, g)
			plan.InputFiles += len(bin)
			plan.InputBytes += g.InputBytes
			plan.EstOutputFiles += g.EstOutputFiles
		}
	}
	return plan
}

// binPack packs files into bins of at most capacity bytes, first fit
// decreasing. A file larger than capacity gets a bin of its own.
func binPack(files []FileInfo, capacity int64) [][]FileInfo {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b FileInfo) int {
		return cmp.Or(cmp.Compare(b.SizeBytes, a.SizeBytes), cmp.Compare(a.Path, b.Path))
	})
	var (
		bins [][]FileInfo
		used []int64
	)
	for _, f := range sorted {
		placed := false
		for i := range bins {
			if used[i]+f.SizeBytes <= capacity {
				bins[i] = append(bins[i], f)
				used[i] += f.SizeBytes
				placed = true
				break
			}
		}
		if !placed {
			bins = append(bins, []FileInfo{f})
			used = append(used, f.SizeBytes)
		}
	}
	return bins
}

// Bound keeps the groups of p worth most, within maxFiles input files and
// maxBytes input bytes, and returns them with the number of groups left
// for a later run. Coarse groups come first (their files are not in the
// table's layout yet); then a group's worth is the files it removes (input
// files minus output files); ties go to more input bytes, then partition
// order.
// The first group is always kept, even when it alone exceeds a bound, so
// that every run makes progress. Totals are recomputed.
func Bound(p Plan, maxFiles int, maxBytes int64) (Plan, int) {
	groups := slices.Clone(p.Groups)
	slices.SortStableFunc(groups, func(a, b Group) int {
		if a.Coarse != b.Coarse {
			if a.Coarse {
				return -1
			}
			return 1
		}
		wa, wb := len(a.Files)-a.EstOutputFiles, len(b.Files)-b.EstOutputFiles
		return cmp.Or(cmp.Compare(wb, wa), cmp.Compare(b.InputBytes, a.InputBytes),
			cmp.Compare(a.SpecID, b.SpecID), cmp.Compare(a.Partition, b.Partition))
	})
	out := Plan{Partitions: p.Partitions, SkippedSmallFiles: p.SkippedSmallFiles}
	deferred := 0
	for _, g := range groups {
		if len(out.Groups) > 0 && (out.InputFiles+len(g.Files) > maxFiles || out.InputBytes+g.InputBytes > maxBytes) {
			deferred++
			continue
		}
		out.Groups = append(out.Groups, g)
		out.InputFiles += len(g.Files)
		out.InputBytes += g.InputBytes
		out.EstOutputFiles += g.EstOutputFiles
	}
	return out, deferred
}
