package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/schema"
)

// schemaTracker keeps one compiled appender per payload writer schema and
// the table's schema in step with the payloads: a writer schema bringing a
// safe change evolves the table (once the rows buffered for the old schema
// are committed), and a table evolved by another writer rebuilds the batch
// for its new schema. The loop's goroutine alone uses it.
type schemaTracker struct {
	w         Writer
	opts      *Options // Observer
	log       *slog.Logger
	appenders map[uint32]appenderEntry
	retry     outageRetry
}

type appenderEntry struct {
	app *schema.Appender
	err error
}

// appender returns the compiled appender for a payload writer schema. When
// the table must change first, or changed under it, it calls flush (commit
// the rows buffered for the old schema and wait), evolves the table and
// rebuilds b's batch for the new schema; errors on that path are fatal.
// A schema that can never apply returns its error (cached) for the record
// to be dead-lettered.
func (s *schemaTracker) appender(ctx context.Context, ps *schema.Schema, b *batcher, flush func(context.Context) error) (*schema.Appender, error) {
	if e, ok := s.appenders[ps.ID]; ok {
		return e.app, e.err
	}
	changes, err := schema.Plan(s.w.Schema(), ps, s.matchOptions()...)
	if err != nil {
		return nil, s.incompatible(ps, err)
	}
	stale := !b.cur.full.Equal(s.w.ArrowSchema()) // another writer evolved the table
	if len(changes) > 0 || stale {
		// Rows already buffered belong to the old schema: commit them,
		// then evolve, then build for the new schema.
		if err := flush(ctx); err != nil {
			return nil, fatal{err}
		}
		if len(changes) > 0 {
			// Evolve is idempotent against the table it reloads: a retry
			// after an outage finds its change there.
			var applied schema.Changes
			err := s.retry.do(ctx, "evolve the table", func(int) error {
				var err error
				applied, err = s.evolve(ctx, ps)
				return err
			})
			if inc, ok := errors.AsType[incompatibleNow](err); ok {
				return nil, s.incompatible(ps, inc.err)
			}
			if err != nil {
				return nil, fatal{fmt.Errorf("evolving the table for schema %d: %w", ps.ID, err)}
			}
			if len(applied) > 0 {
				s.log.Info("table schema evolved", "schema_id", ps.ID, "changes", applied.String())
			}
		}
		b.rebuild(s.w.ArrowSchema())
		clear(s.appenders)
	}
	app, err := schema.NewAppender(b.cur.row, ps, s.matchOptions()...)
	if err != nil {
		return nil, fatal{fmt.Errorf("compiling an appender for schema %d: %w", ps.ID, err)}
	}
	s.appenders[ps.ID] = appenderEntry{app: app}
	s.opts.Observer.SchemaSeen(ps.ID)
	return app, nil
}

// incompatible records that payload writer schema ps can never apply to
// the table: its records are dead-lettered with err.
func (s *schemaTracker) incompatible(ps *schema.Schema, err error) error {
	s.appenders[ps.ID] = appenderEntry{err: err}
	s.log.Warn("incompatible writer schema", "schema_id", ps.ID, "class", ClassIncompatibleSchema, "err", err)
	return err
}

// maxReplans bounds how often evolve plans again after the table changed
// under its plan; each time another process must have evolved the table
// in between.
const maxReplans = 3

// incompatibleNow is a payload schema found incompatible with the table
// as another process evolved it while this one was evolving it.
type incompatibleNow struct{ err error }

func (e incompatibleNow) Error() string { return e.err.Error() }

// evolve plans ps against the table's schema and applies the plan,
// returning what it applied (nothing if the table had it all). The table
// this process knows may be behind: another process may have evolved it
// since, for example to fee_bps int where ps has fee_bps long. Planned
// against the old table, "add fee_bps long" is then refused by Evolve,
// which checks each change against the table it reloads; evolve plans
// again against that table ("widen fee_bps to long") and applies that.
func (s *schemaTracker) evolve(ctx context.Context, ps *schema.Schema) (schema.Changes, error) {
	for replans := 0; ; replans++ {
		base := s.w.Schema()
		changes, err := schema.Plan(base, ps, s.matchOptions()...)
		if err != nil {
			return nil, incompatibleNow{err}
		}
		if len(changes) == 0 {
			return nil, nil
		}
		err = s.w.Evolve(ctx, toWriterChanges(changes))
		if err == nil {
			return changes, nil
		}
		if !errors.Is(err, iceberg.ErrEvolve) || s.w.Schema().ID == base.ID || replans == maxReplans {
			return nil, err
		}
		s.log.Info("the table was evolved by another writer meanwhile: planning again", "schema_id", ps.ID, "table_schema_id", s.w.Schema().ID)
	}
}

// matchOptions passes the table's name mapping (former names of renamed
// columns) to Plan and NewAppender when the writer has one.
func (s *schemaTracker) matchOptions() []schema.MatchOption {
	if nm, ok := s.w.(NameMapper); ok {
		if m := nm.NameMapping(); m != nil {
			return []schema.MatchOption{schema.WithNameMapping(m)}
		}
	}
	return nil
}

// toWriterChanges translates the schema package's plan into the writer's
// vocabulary (the two packages do not import each other's types).
func toWriterChanges(cs schema.Changes) []iceberg.Change {
	out := make([]iceberg.Change, len(cs))
	for i, c := range cs {
		var k iceberg.ChangeKind
		switch c.Kind {
		case schema.AddColumn:
			k = iceberg.AddColumn
		case schema.Widen:
			k = iceberg.Widen
		case schema.MakeOptional:
			k = iceberg.MakeOptional
		case schema.Rename:
			k = iceberg.Rename
		}
		out[i] = iceberg.Change{Kind: k, Name: c.Name, Path: c.Path, Type: c.Type, Doc: c.Doc, NewName: c.NewName, Before: c.Before}
	}
	return out
}
