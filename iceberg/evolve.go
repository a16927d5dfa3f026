package iceberg

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// Rename renames a column to NewName, keeping its field id.
	Rename
)

func (k ChangeKind) String() string {
	switch k {
	case AddColumn:
		return "add-column"
	case Widen:
		return "widen"
	case MakeOptional:
		return "make-optional"
	case Rename:
		return "rename"
	default:
		return fmt.Sprintf("ChangeKind(%d)", int(k))
	}
}

// Change is one schema evolution step. Path is the column's path in the
// table before the changes (AddColumn: the parent's path and the new name;
// list elements and map values are "element" and "value"); when Path is
// empty, Name split at "." is used. Type is the new column type (AddColumn,
// Widen). NewName is Rename's new last path element. Before, for a
// top-level AddColumn, names the column to place the new one before, if
// the table has it.
type Change struct {
	Kind    ChangeKind
	Name    string
	Path    []string
	Type    iceberggo.Type
	Doc     string
	NewName string
	Before  string
}

func (c Change) path() []string {
	if len(c.Path) > 0 {
		return c.Path
	}
	return strings.Split(c.Name, ".")
}

func (c Change) dotted() string { return strings.Join(c.path(), ".") }

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

	_, err := w.c.Commit(ctx, CommitRequest{
		Attempts: w.cfg.maxAttempts,
		Stage: func(_ context.Context, base *table.Table, tx *table.Transaction) error {
			pending, err := pendingChanges(base.Schema(), changes)
			if err != nil {
				return err
			}
			if len(pending) == 0 {
				return ErrNoChange
			}
			if err := stageEvolve(base, tx, pending); err != nil {
				return fmt.Errorf("%w: %w", ErrEvolve, err)
			}
			return nil
		},
	})
	if err != nil {
		// The last reload may show the changes applied after all (an
		// unknown outcome that landed, or another process's evolution).
		if p, perr := pendingChanges(w.Schema(), changes); perr == nil && len(p) == 0 {
			return nil
		}
		return fmt.Errorf("evolve schema: %w", err)
	}
	return nil
}

func stageEvolve(tbl *table.Table, tx *table.Transaction, changes []Change) error {
	var opts []table.UpdateSchemaOption
	nm := tbl.NameMapping()
	if nm == nil {
		// No mapping yet (no data committed): start one from the current
		// schema, so a rename keeps the former name.
		nm = tbl.Schema().NameMapping()
	}
	// Keep schema.name-mapping.default in step with the new columns and
	// record former names of renamed ones.
	opts = append(opts, table.WithNameMapping(nm))
	us := tx.UpdateSchema(true, false, opts...)
	sc := tbl.Schema()
	for _, c := range changes {
		// iceberg-go's RenameColumn appends to the path it is given: hand
		// it a copy, never the caller's slice.
		path := slices.Clone(c.path())
		switch c.Kind {
		case AddColumn:
			us.AddColumn(path, c.Type, c.Doc, false, nil)
			if _, ok := sc.FindFieldByName(c.Before); ok && len(path) == 1 && c.Before != "" {
				us.MoveBefore(path, []string{c.Before})
			}
		case Rename:
			us.RenameColumn(path, c.NewName)
		case Widen:
			us.UpdateColumn(path, table.ColumnUpdate{FieldType: iceberggo.Optional[iceberggo.Type]{Val: c.Type, Valid: true}})
		case MakeOptional:
			us.UpdateColumn(path, table.ColumnUpdate{Required: iceberggo.Optional[bool]{Val: false, Valid: true}})
		}
	}
	return us.Commit()
}

// pendingChanges returns the changes sc does not satisfy yet, or an error
// for a change that can never apply (unknown kind, missing column, a column
// already present with another type).
func pendingChanges(sc *iceberggo.Schema, changes []Change) ([]Change, error) {
	var pending []Change
	for _, c := range changes {
		name := c.dotted()
		f, exists := sc.FindFieldByName(name)
		switch c.Kind {
		case AddColumn:
			if c.Type == nil {
				return nil, fmt.Errorf("%w: add column %q: no type", ErrEvolve, name)
			}
			if !exists {
				pending = append(pending, c)
				continue
			}
			if !sameShape(f.Type, c.Type) {
				return nil, fmt.Errorf("%w: add column %q %s: exists as %s", ErrEvolve, name, c.Type, f.Type)
			}
		case Widen:
			if !exists {
				return nil, fmt.Errorf("%w: widen %q: no such column", ErrEvolve, name)
			}
			if c.Type == nil {
				return nil, fmt.Errorf("%w: widen %q: no type", ErrEvolve, name)
			}
			if !f.Type.Equals(c.Type) {
				pending = append(pending, c)
			}
		case MakeOptional:
			if !exists {
				return nil, fmt.Errorf("%w: make %q optional: no such column", ErrEvolve, name)
			}
			if f.Required {
				pending = append(pending, c)
			}
		case Rename:
			p := c.path()
			renamed := strings.Join(append(p[:len(p)-1:len(p)-1], c.NewName), ".")
			_, done := sc.FindFieldByName(renamed)
			switch {
			case c.NewName == "":
				return nil, fmt.Errorf("%w: rename %q: no new name", ErrEvolve, name)
			case exists && !done:
				pending = append(pending, c)
			case !exists && done:
				// Renamed already (by another process).
			case exists && done:
				return nil, fmt.Errorf("%w: rename %q to %q: both exist", ErrEvolve, name, c.NewName)
			default:
				return nil, fmt.Errorf("%w: rename %q: no such column", ErrEvolve, name)
			}
		default:
			return nil, fmt.Errorf("%w: %q: unknown change kind %v", ErrEvolve, name, c.Kind)
		}
	}

	return pending, nil
}

// sameShape reports whether two types are equal ignoring nested field ids
// (a nested type added by another process got ids of its own).
func sameShape(a, b iceberggo.Type) bool {
	switch x := a.(type) {
	case *iceberggo.StructType:
		y, ok := b.(*iceberggo.StructType)
		if !ok || len(x.FieldList) != len(y.FieldList) {
			return false
		}
		for i, f := range x.FieldList {
			g := y.FieldList[i]
			if f.Name != g.Name || f.Required != g.Required || !sameShape(f.Type, g.Type) {
				return false
			}
		}
		return true
	case *iceberggo.ListType:
		y, ok := b.(*iceberggo.ListType)
		return ok && x.ElementRequired == y.ElementRequired && sameShape(x.Element, y.Element)
	case *iceberggo.MapType:
		y, ok := b.(*iceberggo.MapType)
		return ok && x.ValueRequired == y.ValueRequired && sameShape(x.KeyType, y.KeyType) && sameShape(x.ValueType, y.ValueType)
	}
	return a.Equals(b)
}
