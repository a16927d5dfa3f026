package compaction

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
)

// Compactor maintains one table. It is safe for concurrent use; runs are
// serialized.
type Compactor struct {
	cat       icecatalog.Catalog
	ident     table.Identifier
	opts      Options
	committer *iceberg.Committer
	// keepLastSet / olderThanSet: the caller chose the expiry values; when
	// not, the table's history.expire.* properties win over the defaults.
	keepLastSet, olderThanSet bool

	runMu sync.Mutex  // one run at a time
	cands *candidates // the rewrite's incremental view; guarded by runMu
	// orphansAt is when orphan removal last completed (zero: never in
	// this Compactor); guarded by runMu.
	orphansAt time.Time
	// planned and plannedSeq: the rewrite has planned before, on the table
	// at that last sequence number (Tiered planning when data was appended
	// since); guarded by runMu.
	planned    bool
	plannedSeq int64

	mu    sync.Mutex // guards stats
	stats Stats
}

// Stats are the compactor's counters since New.
type Stats struct {
	Runs int64
	// Failures counts runs that returned an error.
	Failures  int64
	Conflicts int64
	// FilesRewritten and BytesRewritten count input files replaced by
	// compaction and their bytes; FilesWritten the files that replaced them.
	FilesRewritten int64
	BytesRewritten int64
	FilesWritten   int64
	BytesWritten   int64
	// GroupsGivenUp counts rewrite groups dropped because a concurrent commit
	// removed one of their input files (tried again on a later run).
	GroupsGivenUp int64
	// SnapshotsExpired counts expired snapshots. Their files are not deleted
	// by expiry: orphan cleanup removes them (OrphansRemoved) once older
	// than its safety window.
	SnapshotsExpired int64
	OrphansRemoved   int64
	ManifestsMerged  int64
	LastDuration     time.Duration
	LastRun          time.Time
}

// Report says what one run planned and did.
type Report struct {
	DryRun bool
	// Plan is the rewrite plan; Groups says what became of each group.
	Plan   Plan
	Groups []GroupReport
	// FilesRewritten/BytesRewritten: inputs replaced; FilesWritten/BytesWritten: outputs.
	FilesRewritten, FilesWritten int
	BytesRewritten, BytesWritten int64
	// RewriteSnapshotID is the replace snapshot, 0 when none was committed.
	RewriteSnapshotID int64
	Conflicts         int
	GroupsGivenUp     int
	// Commits counts the replace snapshots the rewrite committed (one per
	// CommitEveryFiles input files).
	Commits int
	// GroupsDeferred were planned but left for a later run by the run's
	// bounds (MaxRunFiles, MaxRunBytes); GroupsSkipped have a file whose
	// columns do not map onto the table's schema.
	GroupsDeferred, GroupsSkipped int
	// Tiered is true when the rewrite planned size-tiered merges
	// (PlanOptions.Tiered): data was appended since its previous run.
	Tiered bool
	// ManifestsRead counts the manifests the rewrite read to plan (those
	// new since its previous run).
	ManifestsRead int

	// ExpireKeepLast and ExpireOlderThan are the retention this run used
	// (options, else table properties, else defaults).
	ExpireKeepLast  int
	ExpireOlderThan time.Duration
	// SnapshotsToExpire is what expiry removes (or would, in a dry run).
	SnapshotsToExpire int
	SnapshotsExpired  int
	// Checkpointed is true when an empty snapshot carrying every group's
	// offsets was committed so that expiry keeps them.
	Checkpointed bool

	// Orphans are the unreferenced files older than the safety window;
	// OrphansRemoved how many were deleted. OrphansKept counts files
	// iceberg-go listed as orphans that are referenced files under another
	// spelling of their location (never deleted).
	Orphans        []string
	OrphanBytes    int64
	OrphansRemoved int
	OrphansKept    int
	// OrphansSwept is true when this run looked for orphan files (the
	// first run, then once per Options.OrphansEvery).
	OrphansSwept bool

	ManifestsBefore, ManifestsAfter int
	// ManifestMergeDeferred: every merge attempt met a concurrent commit;
	// the next run tries again.
	ManifestMergeDeferred bool

	Duration time.Duration
}

// GroupReport is the fate of one planned group.
type GroupReport struct {
	Partition         string
	FilesIn, FilesOut int
	BytesIn, BytesOut int64
	// Status: "planned" (dry run), "committed" or "given up".
	Status string
}

// New returns a compactor for table ident of cat.
func New(cat icecatalog.Catalog, ident table.Identifier, opts Options) (*Compactor, error) {
	if cat == nil {
		return nil, errors.New("compaction: nil catalog")
	}
	if len(ident) < 2 {
		return nil, fmt.Errorf("compaction: bad table identifier %q", strings.Join(ident, "."))
	}
	keepLastSet, olderThanSet := opts.ExpireKeepLast != 0, opts.ExpireOlderThan != 0
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("compaction: %w", err)
	}
	c := &Compactor{cat: cat, ident: slices.Clone(ident), opts: opts, keepLastSet: keepLastSet, olderThanSet: olderThanSet}
	var err error
	if c.committer, err = newCommitter(opts, c); err != nil {
		return nil, fmt.Errorf("compaction: %w", err)
	}
	return c, nil
}

// Stats returns a copy of the counters.
func (c *Compactor) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Compactor) addConflict() {
	c.mu.Lock()
	c.stats.Conflicts++
	c.mu.Unlock()
}

// load reads the table afresh (and refreshes the Committer's view of it).
func (c *Compactor) load(ctx context.Context) (*table.Table, error) {
	return c.committer.Load(ctx)
}

// RunOnce runs every step not skipped: merge manifests, rewrite small
// files, expire snapshots, delete orphan files. A step's error does not
// stop the later steps; the errors are joined. The report holds what each
// step did up to its error.
func (c *Compactor) RunOnce(ctx context.Context) (Report, error) {
	c.runMu.Lock()
	defer c.runMu.Unlock()

	start := c.opts.Now()
	rep := Report{DryRun: c.opts.DryRun}
	conflictsBefore := c.Stats().Conflicts
	var errs []error
	step := func(skip bool, name string, f func(context.Context, *Report) error) {
		if skip || ctx.Err() != nil {
			return
		}
		// The step's name labels its CPU profile samples (and those of
		// the goroutines it starts): go tool pprof -tagfocus
		// compaction=rewrite.
		pprof.Do(ctx, pprof.Labels("compaction", name), func(ctx context.Context) {
			if err := f(ctx, &rep); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		})
	}
	// Manifests first: a rewrite commit rewrites every manifest holding one
	// of its inputs, so it stages (and wins against appends) much faster
	// on a few merged manifests than on one per commit.
	step(c.opts.SkipManifests, "merge manifests", c.mergeManifests)
	step(c.opts.SkipRewrite, "rewrite", c.rewrite)
	step(c.opts.SkipExpire, "expire snapshots", c.expire)
	if !c.opts.SkipOrphans && (c.orphansAt.IsZero() || start.Sub(c.orphansAt) >= c.opts.OrphansEvery) {
		n := len(errs)
		step(false, "orphan files", c.orphans)
		if len(errs) == n && ctx.Err() == nil {
			c.orphansAt = start
		}
		rep.OrphansSwept = true
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	rep.Duration = c.opts.Now().Sub(start)
	err := errors.Join(errs...)

	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.stats
	rep.Conflicts = int(s.Conflicts - conflictsBefore)
	s.Runs++
	if err != nil {
		s.Failures++
	}
	if !rep.DryRun {
		s.FilesRewritten += int64(rep.FilesRewritten)
		s.BytesRewritten += rep.BytesRewritten
		s.FilesWritten += int64(rep.FilesWritten)
		s.BytesWritten += rep.BytesWritten
		s.GroupsGivenUp += int64(rep.GroupsGivenUp)
		s.SnapshotsExpired += int64(rep.SnapshotsExpired)
		s.OrphansRemoved += int64(rep.OrphansRemoved)
		if rep.ManifestsAfter < rep.ManifestsBefore {
			s.ManifestsMerged += int64(rep.ManifestsBefore - rep.ManifestsAfter)
		}
	}
	s.LastDuration = rep.Duration
	s.LastRun = start
	if err != nil {
		return rep, fmt.Errorf("compact %s: %w", strings.Join(c.ident, "."), err)
	}
	return rep, nil
}

// Run calls RunOnce every interval until ctx is done, then returns nil.
// onRun, when not nil, receives each run's report and error (for logging);
// a failed run does not stop the loop: the next one tries again.
func (c *Compactor) Run(ctx context.Context, every time.Duration, onRun func(Report, error)) error {
	if every <= 0 {
		return fmt.Errorf("compaction: interval %s: must be positive", every)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rep, err := c.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if onRun != nil {
			onRun(rep, err)
		}
	}
}
