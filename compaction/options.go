package compaction

import (
	"errors"
	"fmt"
	"time"

	"github.com/floe-io/floe/iceberg"
)

// Defaults of Options (documented in the README, "Compaction and maintenance").
const (
	// The expiry defaults apply to tables without history.expire.*
	// properties; catalog.DefaultTableProperties sets the same values on the
	// tables floe creates.
	DefaultExpireKeepLast   = 100
	DefaultExpireOlderThan  = 10 * time.Minute
	DefaultOrphanOlderThan  = 24 * time.Hour
	DefaultOrphansEvery     = time.Hour
	DefaultManifestMergeMin = 32
	DefaultMaxAttempts      = 10
	// DefaultMaxRunFiles and DefaultMaxRunBytes bound one run's rewrite.
	DefaultMaxRunFiles       = 100_000
	DefaultMaxRunBytes int64 = 2 << 30
	// DefaultCommitEveryFiles: input files per replace commit.
	DefaultCommitEveryFiles = 20_000
	// DefaultMemoryLimit bounds the decoded rows compaction holds at once.
	DefaultMemoryLimit int64 = 256 << 20

	// MinOrphanOlderThan is the smallest orphan safety window accepted: a
	// commit in flight must never lose the files it has written.
	MinOrphanOlderThan = time.Hour
)

// Options configure a Compactor. Zero values take the defaults; New reports
// every invalid value at once.
type Options struct {
	// TargetFileSize is the size compacted files aim at (default 128 MiB).
	TargetFileSize int64
	// SmallFileThreshold: files below it are rewritten (default TargetFileSize/2).
	SmallFileThreshold int64
	// MinInputFiles is the fewest files rewritten together (default 2).
	MinInputFiles int

	// ExpireKeepLast snapshots of the main branch are always kept. Zero:
	// the table's history.expire.min-snapshots-to-keep, else
	// DefaultExpireKeepLast.
	ExpireKeepLast int
	// ExpireOlderThan: older snapshots beyond the last ExpireKeepLast are
	// expired. Zero: the table's history.expire.max-snapshot-age-ms, else
	// DefaultExpireOlderThan.
	ExpireOlderThan time.Duration
	// OrphanOlderThan: unreferenced files younger than this are never
	// deleted (default 24h, at least MinOrphanOlderThan).
	OrphanOlderThan time.Duration
	// OrphansEvery: orphan removal runs in a compactor's first run and
	// then at most once per this interval (default 1h). It lists the table
	// location and reads every manifest of every snapshot kept, so running
	// it every compaction interval costs the most of any step on a table
	// with a steady stream (10% of floe run's CPU in a coarse soak at a 30 s
	// interval) while freeing nothing sooner than the safety window allows:
	// an orphan waits at most OrphanOlderThan + OrphansEvery.
	OrphansEvery time.Duration
	// ManifestMergeMin: manifests are merged when the current snapshot has
	// more than this many (default 32).
	ManifestMergeMin int
	// MaxAttempts bounds the catalog attempts of each commit (default 10).
	MaxAttempts int

	// MaxRunFiles and MaxRunBytes bound the input of one run's rewrite
	// (default 100,000 files, 2 GiB): the groups worth most (most files
	// removed per file written) go first, the rest wait for the next run.
	MaxRunFiles int
	MaxRunBytes int64
	// CommitEveryFiles: the rewrite commits a replace snapshot each time
	// this many input files are rewritten (default 20,000), so a run's work
	// lands as it goes instead of at the end. Each replace commit rewrites
	// every manifest holding one of its inputs (and reads no other), which
	// for ingest's manifests (one per commit, every partition in each) is
	// those written since the inputs were: smaller batches land sooner but
	// cost that rewrite more often.
	CommitEveryFiles int
	// MemoryLimit bounds the decoded (Arrow) rows the rewrite holds at once
	// (default 256 MiB): half for the rows read, half for their
	// concatenation. An output file is written each time the rows read
	// reach half of it, so a partition holding more than that becomes
	// several files of about MemoryLimit/2 decoded each (smaller than
	// TargetFileSize when the limit is low): less memory costs more, smaller
	// files for large partitions. It does not bound what reading the
	// manifests takes (about 200 bytes per small live file).
	MemoryLimit int64
	// OnStage, when set, is called as the rewrite enters each stage:
	// "rewrite-write" (output files of a batch of groups) and
	// "rewrite-commit" (each catalog attempt), with the run's commit id.
	// floe logs it at debug level; crash tests kill inside a stage.
	OnStage func(stage, id string)

	// Skip* turn single steps off; each run does rewrite, expire, orphans,
	// manifests in that order.
	SkipRewrite, SkipExpire, SkipOrphans, SkipManifests bool
	// DryRun plans every step and changes nothing.
	DryRun bool

	// Now replaces time.Now (tests).
	Now func() time.Time

	// Committer, when set, is the table's Committer shared with the other
	// users of the table in this process (the ingest Writer), so their
	// commits take turns instead of conflicting. It must be for the
	// Compactor's table. Nil: the Compactor creates its own.
	Committer *iceberg.Committer

	// beforeCommit, when set, runs before each catalog commit attempt of a
	// rewrite (tests inject concurrent commits through export_test.go).
	beforeCommit func(attempt int)
	// icebergGoReplace commits rewrites through iceberg-go's rewrite
	// producer instead of floe's own replace snapshot (tests compare them).
	icebergGoReplace bool
}

// expiryMargin makes the compactor's prediction of which snapshots
// ExpireSnapshots keeps conservative: iceberg-go reads its own clock a
// moment later, so the compactor assumes that much more time has passed.
const expiryMargin = time.Minute

func (o *Options) ensureDefaults() {
	if o.TargetFileSize == 0 {
		o.TargetFileSize = DefaultTargetFileSize
	}
	if o.SmallFileThreshold == 0 {
		o.SmallFileThreshold = o.TargetFileSize / 2
	}
	if o.MinInputFiles == 0 {
		o.MinInputFiles = 2
	}
	if o.ExpireKeepLast == 0 {
		o.ExpireKeepLast = DefaultExpireKeepLast
	}
	if o.ExpireOlderThan == 0 {
		o.ExpireOlderThan = DefaultExpireOlderThan
	}
	if o.OrphanOlderThan == 0 {
		o.OrphanOlderThan = DefaultOrphanOlderThan
	}
	if o.OrphansEvery == 0 {
		o.OrphansEvery = DefaultOrphansEvery
	}
	if o.ManifestMergeMin == 0 {
		o.ManifestMergeMin = DefaultManifestMergeMin
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxRunFiles == 0 {
		o.MaxRunFiles = DefaultMaxRunFiles
	}
	if o.MaxRunBytes == 0 {
		o.MaxRunBytes = DefaultMaxRunBytes
	}
	if o.CommitEveryFiles == 0 {
		o.CommitEveryFiles = DefaultCommitEveryFiles
	}
	if o.MemoryLimit == 0 {
		o.MemoryLimit = DefaultMemoryLimit
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.TargetFileSize < 1<<10 {
		errs = append(errs, fmt.Errorf("target file size %d: must be at least 1 KiB", o.TargetFileSize))
	}
	if o.SmallFileThreshold < 0 || o.SmallFileThreshold > o.TargetFileSize {
		errs = append(errs, fmt.Errorf("small file threshold %d: must be between 0 and the target file size", o.SmallFileThreshold))
	}
	if o.MinInputFiles < 2 {
		errs = append(errs, fmt.Errorf("min input files %d: must be at least 2", o.MinInputFiles))
	}
	if o.ExpireKeepLast < 1 {
		errs = append(errs, fmt.Errorf("expire keep-last %d: must be at least 1", o.ExpireKeepLast))
	}
	if o.ExpireOlderThan < 0 {
		errs = append(errs, fmt.Errorf("expire older-than %s: must not be negative", o.ExpireOlderThan))
	}
	if o.OrphanOlderThan < MinOrphanOlderThan {
		errs = append(errs, fmt.Errorf("orphan older-than %s: must be at least %s so commits in flight keep their files",
			o.OrphanOlderThan, MinOrphanOlderThan))
	}
	if o.OrphansEvery < 0 {
		errs = append(errs, fmt.Errorf("orphans every %s: must not be negative", o.OrphansEvery))
	}
	if o.ManifestMergeMin < 2 {
		errs = append(errs, fmt.Errorf("manifest merge minimum %d: must be at least 2", o.ManifestMergeMin))
	}
	if o.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts %d: must be at least 1", o.MaxAttempts))
	}
	if o.MaxRunFiles < o.MinInputFiles || o.MaxRunBytes < 1 {
		errs = append(errs, fmt.Errorf("max run files %d / bytes %d: must allow at least one group", o.MaxRunFiles, o.MaxRunBytes))
	}
	if o.CommitEveryFiles < 1 {
		errs = append(errs, fmt.Errorf("commit every %d files: must be at least 1", o.CommitEveryFiles))
	}
	if o.MemoryLimit < 1<<20 {
		errs = append(errs, fmt.Errorf("memory limit %d: must be at least 1 MiB", o.MemoryLimit))
	}
	return errors.Join(errs...)
}

func (o *Options) stage(stage, id string) {
	if o.OnStage != nil {
		o.OnStage(stage, id)
	}
}

func (o *Options) planOptions() PlanOptions {
	return PlanOptions{
		TargetFileSize: o.TargetFileSize, SmallFileThreshold: o.SmallFileThreshold, MinInputFiles: o.MinInputFiles,
	}
}

// Validate reports every invalid value of o (after defaults) at once.
func (o Options) Validate() error {
	o.ensureDefaults()
	return o.validate()
}
