package iceberg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	icecatalog "github.com/apache/iceberg-go/catalog"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
)

// Committer is the one way floe commits to a table inside a process. Every
// user of the table in the process (the ingest Writer, the compactor, a
// dead-letter table sink for its own table) commits through the same
// Committer, so:
//
//   - commits of one process never race each other: they take turns, in
//     the order they asked for one (a FIFO queue, waiting honours ctx), and
//     each is staged on the table as the previous one left it;
//   - every transaction is pinned to the head of the table it was staged on
//     (the main branch must still point where it did), so a commit from
//     another process makes it fail cleanly and it is staged again on the
//     reloaded table, never replayed onto a state its stage did not see;
//   - a commit error is classified once: a conflict (nothing committed:
//     reload, stage again) or an unknown outcome (reload even if ctx is
//     done, bounded by the resolve timeout, and look for the change's id in
//     the snapshot summaries before staging it again).
//
// A Committer is safe for concurrent use. The zero value is not usable; see
// NewCommitter.
type Committer struct {
	cat   icecatalog.Catalog
	ident table.Identifier
	cfg   retryConfig

	// turn holds one token while a commit or a load is in progress;
	// waiters queue on the channel in arrival order.
	turn chan struct{}

	mu  sync.Mutex // guards tbl
	tbl *table.Table
}

// CommitRequest is one change to commit through a Committer.
type CommitRequest struct {
	// Stage stages the change on tx, a transaction on base whose main
	// branch is pinned to base's current snapshot. It is called once per
	// attempt, inside the Committer's turn, with the table as this process
	// last read or committed it (attempt 1) or as just reloaded after a
	// failed attempt; it must derive everything it stages from base. It
	// must not call the Committer. Returning ErrNoChange ends Commit
	// without committing and without error; any other error ends it with
	// that error (nothing committed by that attempt).
	Stage func(ctx context.Context, base *table.Table, tx *table.Transaction) error
	// Raw, when set instead of Stage, returns the change as catalog updates
	// built by the caller (e.g. a snapshot whose manifests it wrote
	// itself), with the same contract as Stage: called once per attempt on
	// base, ErrNoChange to commit nothing. The Committer adds the
	// requirements that pin the commit to base (the table's UUID and its
	// main branch at base's current snapshot) and sends the updates to the
	// catalog as they are: nothing of iceberg-go's snapshot producers runs.
	Raw func(ctx context.Context, base *table.Table) ([]table.Update, error)
	// IDKey and ID, when ID is set, name a snapshot summary property the
	// staged snapshot carries (Stage must put it there). After an unknown
	// outcome, and after every failed attempt that follows one, the
	// reloaded table is searched for it: found means the change landed.
	// A request without an ID (a schema update, an expiry) must be
	// idempotent against the base instead: staged again after an unknown
	// outcome, it returns ErrNoChange if the change is already there.
	IDKey, ID string
	// Resume says an earlier Commit of this request ended without knowing
	// whether it landed (an error wrapping ErrUnknownOutcome,
	// ErrCatalogUnavailable or ErrStorageUnavailable): the table is
	// reloaded first and, for a request with an ID, searched for it
	// before anything is staged, exactly as after an unknown outcome
	// within one Commit.
	Resume bool
	// Attempts bounds the catalog attempts (default 10).
	Attempts int
	// Backoff, when set, replaces the Committer's wait before attempt n+1
	// (the compactor retries at once: its commits are rare and long to
	// stage, so waiting only lets more appends land first).
	Backoff func(attempt int) time.Duration
}

// defaultAttempts bounds a CommitRequest's catalog attempts when it does not say.
const defaultAttempts = 10

// ErrNoChange, returned by a Stage, means there is nothing to commit on
// that base.
var ErrNoChange = errors.New("iceberg: nothing to commit")

// Result says what a Commit did.
type Result struct {
	// Committed is true when the change is in the table (committed by the
	// last attempt, or found by its ID after an unknown outcome).
	Committed bool
	// SnapshotID is the snapshot holding the change (0 for a change that
	// adds no snapshot, or when nothing was committed).
	SnapshotID int64
	// Table is the table after the last attempt: as the catalog returned
	// it on success, else as last reloaded.
	Table *table.Table
	// Attempts counts catalog commit attempts; Conflicts those refused
	// because the table had changed.
	Attempts, Conflicts int
	// Unknown counts attempts whose outcome was unknown. When it is not
	// zero, which attempt landed (if Committed) or whether a request still
	// in flight could land late (if not; only onto the head it was pinned
	// to) is uncertain: leave the files staged by any attempt to orphan
	// cleanup rather than deleting them.
	Unknown int
}

// CommitterOption configures a Committer.
type CommitterOption interface{ applyRetry(*retryConfig) }

// retryConfig is how a Committer retries; WithBackoff, WithSleep and
// WithResolveTimeout set it.
type retryConfig struct {
	backoff        func(attempt int) time.Duration
	sleep          func(ctx context.Context, d time.Duration) error
	resolveTimeout time.Duration
	set            bool // an option was given (a Writer rejects them with WithCommitter)
}

func defaultRetry() retryConfig {
	return retryConfig{
		backoff:        expBackoff(25*time.Millisecond, 2*time.Second),
		sleep:          sleepCtx,
		resolveTimeout: 30 * time.Second,
	}
}

func (c *retryConfig) validate() error {
	var errs []error
	if c.backoff == nil || c.sleep == nil {
		errs = append(errs, errors.New("backoff and sleep must not be nil"))
	}
	if c.resolveTimeout <= 0 {
		errs = append(errs, fmt.Errorf("resolve timeout %v: must be positive", c.resolveTimeout))
	}
	return errors.Join(errs...)
}

// retryOpt is an option of both a Committer and a Writer (which passes it
// to the Committer it creates).
type retryOpt func(*retryConfig)

func (o retryOpt) applyRetry(c *retryConfig) { o(c); c.set = true }
func (o retryOpt) apply(c *writerConfig)     { o.applyRetry(&c.retry) }

// NewCommitter returns the Committer of table ident in cat. It does not
// contact the catalog: the table is loaded by the first Load or Commit.
// Create one per table per process and share it.
func NewCommitter(cat icecatalog.Catalog, ident table.Identifier, opts ...CommitterOption) (*Committer, error) {
	if cat == nil {
		return nil, errors.New("iceberg: committer: nil catalog")
	}
	if len(ident) == 0 {
		return nil, errors.New("iceberg: committer: empty table identifier")
	}
	cfg := defaultRetry()
	for _, o := range opts {
		o.applyRetry(&cfg)
	}
	return newCommitterWith(cat, ident, cfg)
}

func newCommitterWith(cat icecatalog.Catalog, ident table.Identifier, cfg retryConfig) (*Committer, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("iceberg: committer: %w", err)
	}
	return &Committer{cat: cat, ident: slices.Clone(ident), cfg: cfg, turn: make(chan struct{}, 1)}, nil
}

// Ident is the table's identifier.
func (c *Committer) Ident() table.Identifier { return slices.Clone(c.ident) }

// Catalog is the catalog the Committer commits to.
func (c *Committer) Catalog() icecatalog.Catalog { return c.cat }

// Table returns the table as this process last loaded or committed it; nil
// before the first Load or Commit.
func (c *Committer) Table() *table.Table {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tbl
}

// Load reloads the table from the catalog, in turn with commits (so it
// never replaces a newer table with an older one), and returns it.
func (c *Committer) Load(ctx context.Context) (*table.Table, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, fmt.Errorf("load table %s: %w", c.name(), err)
	}
	defer c.release()
	return c.load(ctx)
}

// Commit runs req to completion in this process's turn: it stages req on the
// current table, commits, and on a conflict reloads, waits the backoff and
// stages again, up to req.Attempts attempts. It returns:
//
//   - nil with Result.Committed when the change is in the table, nil
//     without it when Stage returned ErrNoChange;
//   - an error wrapping ErrUnknownOutcome when an attempt's outcome was
//     unknown and the table could not be read back to tell;
//   - an error wrapping ErrConflict when every attempt met a concurrent
//     commit (nothing committed by this call unless Result.Unknown says an
//     earlier request could still land);
//   - Stage's error, a reload error after a conflict, or ctx's error while
//     waiting for the turn or between attempts: nothing committed (subject
//     to Result.Unknown).
//
// An error that says the catalog or the object store did not answer wraps
// ErrCatalogUnavailable or ErrStorageUnavailable as well, and ends Commit at
// once instead of using up its attempts: the caller decides how long to
// wait for it, and commits the same request again with Resume.
func (c *Committer) Commit(ctx context.Context, req CommitRequest) (Result, error) {
	var res Result
	if (req.Stage == nil) == (req.Raw == nil) {
		return res, errors.New("iceberg: commit: exactly one of Stage and Raw must be set")
	}
	attempts := req.Attempts
	if attempts <= 0 {
		attempts = defaultAttempts
	}
	if err := c.acquire(ctx); err != nil {
		return res, fmt.Errorf("not committed: waiting for the commit turn: %w", err)
	}
	defer c.release()

	base := c.Table()
	if base == nil || req.Resume {
		var err error
		if base, err = c.load(ctx); err != nil {
			return res, err
		}
	}
	if req.Resume {
		res.Table, res.Unknown = base, 1
		if req.ID != "" {
			if id, ok := findSnapshot(base, req.IDKey, req.ID); ok {
				res.Committed, res.SnapshotID = true, id
				return res, nil
			}
		}
	}
	for attempt := 1; ; attempt++ {
		res.Table = base
		commit, err := c.stage(ctx, base, req)
		if err != nil {
			if errors.Is(err, ErrNoChange) {
				return res, nil
			}
			return res, markUnavailable(err, false)
		}
		res.Attempts = attempt
		committed, err := commit()
		if err == nil {
			res.Committed = true
			if s := committed.CurrentSnapshot(); s != nil && s.SnapshotID != snapshotID(base) {
				res.SnapshotID = s.SnapshotID
			}
			res.Table = committed
			c.settle(ctx, committed)
			return res, nil
		}

		kind := classifyCommitErr(err)
		if kind == commitConflict {
			res.Conflicts++
		}
		if kind == commitUnknown {
			res.Unknown++
		}
		fresh, lerr := c.reload(ctx, kind, err)
		if lerr != nil {
			return res, markUnavailable(lerr, false)
		}
		base, res.Table = fresh, fresh
		if req.ID != "" && res.Unknown > 0 {
			if id, ok := findSnapshot(fresh, req.IDKey, req.ID); ok {
				res.Committed, res.SnapshotID = true, id
				return res, nil
			}
		}
		if Unavailable(err) != nil {
			// Retrying at once would only meet the outage again.
			if kind == commitUnknown {
				return res, fmt.Errorf("%w: %w", ErrUnknownOutcome, markUnavailable(err, false))
			}
			return res, fmt.Errorf("not committed: %w", markUnavailable(err, false))
		}

		if attempt >= attempts {
			if kind == commitConflict {
				return res, fmt.Errorf("%w after %d attempts", ErrConflict, attempt)
			}
			return res, fmt.Errorf("not committed after %d attempts: %w", attempt, err)
		}
		backoff := c.cfg.backoff
		if req.Backoff != nil {
			backoff = req.Backoff
		}
		if err := c.cfg.sleep(ctx, backoff(attempt)); err != nil {
			return res, fmt.Errorf("not committed: %w", err)
		}
	}
}

// stage runs req's Stage or Raw on base and returns the call that sends
// the staged change to the catalog.
func (c *Committer) stage(ctx context.Context, base *table.Table, req CommitRequest) (func() (*table.Table, error), error) {
	if req.Raw != nil {
		updates, err := req.Raw(ctx, base)
		if err != nil {
			return nil, err
		}
		return func() (*table.Table, error) { return c.commitRaw(ctx, base, updates) }, nil
	}
	tx := base.NewTransaction()
	if err := tx.AssertRefSnapshotID(""); err != nil {
		return nil, fmt.Errorf("pin branch: %w", err)
	}
	if err := req.Stage(ctx, base, tx); err != nil {
		return nil, err
	}
	return func() (*table.Table, error) { return tx.Commit(ctx) }, nil
}

// commitRaw sends updates to the catalog pinned to base (its UUID and the
// main branch's snapshot), then removes the metadata files the new
// metadata's log no longer lists, as a transaction's commit does when the
// table says so (write.metadata.delete-after-commit.enabled).
func (c *Committer) commitRaw(ctx context.Context, base *table.Table, updates []table.Update) (*table.Table, error) {
	md := base.Metadata()
	var head *int64
	if s := base.CurrentSnapshot(); s != nil {
		id := s.SnapshotID
		head = &id
	}
	reqs := []table.Requirement{table.AssertTableUUID(md.TableUUID()), table.AssertRefSnapshotID(table.MainBranch, head)}
	var (
		meta table.Metadata
		loc  string
		err  error
	)
	if oc, ok := c.cat.(onCommitter); ok {
		var fsys icebergio.IO
		if fsys, err = base.FS(ctx); err != nil {
			return nil, err
		}
		meta, loc, err = oc.CommitTableOn(ctx, c.ident, md, base.MetadataLocation(), fsys, reqs, updates)
	} else {
		meta, loc, err = c.cat.CommitTable(ctx, c.ident, reqs, updates)
	}
	if err != nil {
		return nil, err
	}
	committed := table.New(c.ident, meta, loc, base.FS, c.cat)
	if meta.Properties().GetBool(table.MetadataDeleteAfterCommitEnabledKey, table.MetadataDeleteAfterCommitEnabledDefault) {
		keep := make(map[string]struct{})
		for e := range meta.PreviousFiles() {
			keep[e.MetadataFile] = struct{}{}
		}
		if fs, err := base.FS(ctx); err == nil {
			for e := range md.PreviousFiles() {
				if _, ok := keep[e.MetadataFile]; !ok {
					// Best effort, as iceberg-go's own commit: orphan
					// cleanup removes what is left.
					_ = fs.Remove(e.MetadataFile)
				}
			}
		}
	}
	return committed, nil
}

func snapshotID(tbl *table.Table) int64 {
	if s := tbl.CurrentSnapshot(); s != nil {
		return s.SnapshotID
	}
	return 0
}

func (c *Committer) name() string { return strings.Join(c.ident, ".") }

func (c *Committer) acquire(ctx context.Context) error {
	select {
	case c.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Committer) release() { <-c.turn }

func (c *Committer) set(tbl *table.Table) {
	c.mu.Lock()
	c.tbl = tbl
	c.mu.Unlock()
}

// load reads the table from the catalog and caches it. Call it in turn.
func (c *Committer) load(ctx context.Context) (*table.Table, error) {
	tbl, err := c.cat.LoadTable(ctx, c.ident)
	if err != nil {
		return nil, fmt.Errorf("load table %s: %w", c.name(), markUnavailable(err, false))
	}
	tbl = pinned(c.ident, tbl, c.cat)
	c.set(tbl)
	return tbl, nil
}

// settle caches the table after a successful commit. The table a commit
// returns keeps the commit's data files reachable through its metadata (and
// once kept every data file this process ever added), so it is not cached
// as it is: on a SQL catalog (SQLite, PostgreSQL), whose table IO comes from
// static catalog properties, its metadata is rebuilt (a copy without those
// references) and cached with the IO it uses; elsewhere (REST, Glue: the
// table's IO may carry credentials the catalog vends with each load), and
// if the rebuild fails, the table is loaded again from the catalog. The
// rebuild saves a parse of metadata.json per commit, 15-20% of a commit's
// CPU at 100-700 retained snapshots; caching the committed table as it is
// doubled TestBoundedMemory's peak live heap (45-50 -> 110-137 MiB at
// ~6,700 files per commit): BENCHMARKS.md. The next commit is made on the
// cached copy (pinnedIO), without the catalog loading the table either.
func (c *Committer) settle(ctx context.Context, committed *table.Table) {
	if c.cat.CatalogType() == icecatalog.SQL {
		if t, err := detached(c.ident, committed, c.cat); err == nil {
			c.set(t)
			return
		}
	}
	if fresh, err := c.cat.LoadTable(ctx, c.ident); err == nil {
		committed = fresh
	}
	c.set(committed)
}

// detached returns tbl with a copy of its metadata, built afresh from it,
// and its IO resolved once: a table that holds no reference to tbl. The
// copy's last-updated-ms is the time of the rebuild (the builder has no
// setter), a little later than the committed one and never in the future;
// nothing floe does with its cached table depends on the difference.
func detached(ident table.Identifier, tbl *table.Table, cat icecatalog.Catalog) (*table.Table, error) {
	fsys, err := tbl.FS(context.Background())
	if err != nil {
		return nil, err
	}
	b, err := table.MetadataBuilderFromBase(tbl.Metadata(), tbl.MetadataLocation())
	if err != nil {
		return nil, err
	}
	md, err := b.Build()
	if err != nil {
		return nil, err
	}
	return held(ident, md, tbl.MetadataLocation(), fsys, cat), nil
}

// held is the table the Committer caches: md at loc with the IO fsys
// (resolved once), committing through cat, or through a pinnedIO when cat
// can commit on md without loading it.
func held(ident table.Identifier, md table.Metadata, loc string, fsys icebergio.IO, cat icecatalog.Catalog) *table.Table {
	fsF := func(context.Context) (icebergio.IO, error) { return fsys, nil }
	var io table.CatalogIO = cat
	if oc, ok := cat.(onCommitter); ok {
		io = &pinnedIO{Catalog: cat, on: oc, base: md, loc: loc, fs: fsys}
	}
	return table.New(slices.Clone(ident), md, loc, fsF, io)
}

// onCommitter is a catalog that commits on metadata the caller already
// holds instead of loading the table for every commit (floe's SQL catalogs:
// catalog.CommitTableOn). It falls back to loading when that metadata is
// not the table's current state, so the outcome is the same either way.
type onCommitter interface {
	CommitTableOn(ctx context.Context, ident table.Identifier, base table.Metadata, baseLoc string, fsys icebergio.IO,
		reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error)
}

// pinnedIO is the catalog of a table the Committer holds: its commits (a
// transaction's, through table.CatalogIO) are made on that table's metadata
// with CommitTableOn.
type pinnedIO struct {
	icecatalog.Catalog
	on   onCommitter
	base table.Metadata
	loc  string
	fs   icebergio.IO
}

func (p *pinnedIO) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	return p.on.CommitTableOn(ctx, ident, p.base, p.loc, p.fs, reqs, updates)
}

// pinned returns a loaded table as held when cat can commit on its
// metadata (see onCommitter), tbl itself otherwise.
func pinned(ident table.Identifier, tbl *table.Table, cat icecatalog.Catalog) *table.Table {
	if _, ok := cat.(onCommitter); !ok {
		return tbl
	}
	fsys, err := tbl.FS(context.Background())
	if err != nil {
		return tbl
	}
	return held(ident, tbl.Metadata(), tbl.MetadataLocation(), fsys, cat)
}

// reload loads the table after a failed attempt. After an unknown outcome it
// runs even if ctx is done, bounded by the resolve timeout.
func (c *Committer) reload(ctx context.Context, kind commitErrKind, commitErr error) (*table.Table, error) {
	if kind == commitUnknown {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), c.cfg.resolveTimeout)
		defer cancel()
	}
	fresh, err := c.cat.LoadTable(ctx, c.ident)
	if err != nil {
		if kind == commitUnknown {
			return nil, fmt.Errorf("%w: commit error: %w; reload error: %w", ErrUnknownOutcome, commitErr, err)
		}
		return nil, fmt.Errorf("not committed (conflict: %w); reload error: %w", commitErr, err)
	}
	fresh = pinned(c.ident, fresh, c.cat)
	c.set(fresh)
	return fresh, nil
}

// findSnapshot looks for a snapshot whose summary has key = id (or, for
// CommitIDKey, lists id under CommitIDsKey: a coordinated snapshot), newest
// first. Every retained snapshot is checked, not only the current branch's
// ancestry: a commit that landed and was later rolled back still happened.
func findSnapshot(tbl *table.Table, key, id string) (int64, bool) {
	snaps := tbl.Metadata().Snapshots()
	for i := len(snaps) - 1; i >= 0; i-- {
		s := snaps[i]
		if s.Summary != nil && holds(s.Summary.Properties, key, id) {
			return s.SnapshotID, true
		}
	}
	return 0, false
}
