package iceberg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// ChangeKind is a safe schema evolution step.
type ChangeKind int

const (
	// AddColumn adds an optional column.
	AddColumn ChangeKind = iota + 1
	// Widen promotes a column's type (int -> long, float -> double,
	// decimal(P,S) -> decimal(P',S) with P' > P).
	Widen
	// MakeOptional turns a required column into an optional one.
	MakeOptional
)

func (k ChangeKind) String() string {
	switch k {
	case AddColumn:
		return "add-column"
	case Widen:
		return "widen"
	case MakeOptional:
		return "make-optional"
	default:
		return fmt.Sprintf("ChangeKind(%d)", int(k))
	}
}

// Change is one schema evolution step. Name is the column name (dotted for
// a nested field); Type is the new column type (AddColumn, Widen).
type Change struct {
	Kind ChangeKind
	Name string
	Type iceberggo.Type
	Doc  string
}

// ErrEvolve wraps a schema change the table refuses.
var ErrEvolve = errors.New("iceberg: schema evolution refused")

// Evolve applies changes to the table schema in one commit. Changes already
// present in the table (for example because another process applied them
// first) are skipped; if all are present Evolve succeeds without committing.
// On a concurrent commit the table is reloaded and the remaining changes
// re-applied, up to the configured number of attempts.
func (w *Writer) Evolve(ctx context.Context, changes []Change) error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()

	tbl := w.Table()
	for attempt := 1; ; attempt++ {
		pending, err := pendingChanges(tbl.Schema(), changes)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}

		committed, err := evolveOnce(ctx, tbl, pending)
		if err == nil {
			return w.setTable(committed)
		}
		var be buildError
		if errors.As(err, &be) {
			return fmt.Errorf("%w: %w", ErrEvolve, be.err)
		}

		// Conflict or unknown outcome: either way the reloaded table says
		// whether the changes are there now.
		fresh, lerr := w.cat.LoadTable(ctx, w.ident)
		if lerr != nil {
			return fmt.Errorf("evolve schema: commit error: %w; reload error: %w", err, lerr)
		}
		if err := w.setTable(fresh); err != nil {
			return err
		}
		tbl = fresh
		if attempt >= w.cfg.maxAttempts {
			if p, perr := pendingChanges(tbl.Schema(), changes); perr == nil && len(p) == 0 {
				return nil
			}
			return fmt.Errorf("evolve schema: %d attempts: %w", attempt, err)
		}
		if err := w.cfg.sleep(ctx, w.cfg.backoff(attempt)); err != nil {
			return fmt.Errorf("evolve schema: %w", err)
		}
	}
}

func evolveOnce(ctx context.Context, tbl *table.Table, changes []Change) (*table.Table, error) {
	tx := tbl.NewTransaction()
	var opts []table.UpdateSchemaOption
	if nm := tbl.NameMapping(); nm != nil {
		// Keep schema.name-mapping.default in step with the new columns.
		opts = append(opts, table.WithNameMapping(nm))
	}
	us := tx.UpdateSchema(true, false, opts...)
	for _, c := range changes {
		path := strings.Split(c.Name, ".")
		switch c.Kind {
		case AddColumn:
			us.AddColumn(path, c.Type, c.Doc, false, nil)
		case Widen:
			us.UpdateColumn(path, table.ColumnUpdate{FieldType: iceberggo.Optional[iceberggo.Type]{Val: c.Type, Valid: true}})
		case MakeOptional:
			us.UpdateColumn(path, table.ColumnUpdate{Required: iceberggo.Optional[bool]{Val: false, Valid: true}})
		}
	}
	if err := us.Commit(); err != nil {
		return nil, buildError{err}
	}

	return tx.Commit(ctx)
}

// pendingChanges returns the changes sc does not satisfy yet, or an error
// for a change that can never apply (unknown kind, missing column, a column
// already present with another type).
func pendingChanges(sc *iceberggo.Schema, changes []Change) ([]Change, error) {
	var pending []Change
	for _, c := range changes {
		f, exists := sc.FindFieldByName(c.Name)
		switch c.Kind {
		case AddColumn:
			if c.Type == nil {
				return nil, fmt.Errorf("%w: add column %q: no type", ErrEvolve, c.Name)
			}
			if !exists {
				pending = append(pending, c)
				continue
			}
			if !f.Type.Equals(c.Type) {
				return nil, fmt.Errorf("%w: add column %q %s: exists as %s", ErrEvolve, c.Name, c.Type, f.Type)
			}
		case Widen:
			if !exists {
				return nil, fmt.Errorf("%w: widen %q: no such column", ErrEvolve, c.Name)
			}
			if c.Type == nil {
				return nil, fmt.Errorf("%w: widen %q: no type", ErrEvolve, c.Name)
			}
			if !f.Type.Equals(c.Type) {
				pending = append(pending, c)
			}
		case MakeOptional:
			if !exists {
				return nil, fmt.Errorf("%w: make %q optional: no such column", ErrEvolve, c.Name)
			}
			if f.Required {
				pending = append(pending, c)
			}
		default:
			return nil, fmt.Errorf("%w: %q: unknown change kind %v", ErrEvolve, c.Name, c.Kind)
		}
	}

	return pending, nil
}
