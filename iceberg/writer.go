package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// Writer lands batches in one Iceberg table. It is safe for concurrent use;
// commits from one Writer are serialized. Several Writers (in one process or
// many) may commit to the same table: conflicts are retried, overlaps fenced.
type Writer struct {
	cat   icecatalog.Catalog
	ident table.Identifier
	cfg   writerConfig

	// commitMu serializes Commit and Evolve of this Writer.
	commitMu sync.Mutex

	mu     sync.Mutex // guards the fields below
	tbl    *table.Table
	schema *arrow.Schema
	memo   map[string]offsetsMemo // per summary key (offsets or event-time maxima of a group)
}

// NewWriter loads the table ident from cat and returns a Writer for it.
func NewWriter(ctx context.Context, cat icecatalog.Catalog, ident table.Identifier, opts ...WriterOption) (*Writer, error) {
	if cat == nil {
		return nil, fmt.Errorf("new writer: nil catalog")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new writer: %w", err)
	}

	w := &Writer{
		cat:   cat,
		ident: slices.Clone(ident),
		cfg:   cfg,
		memo:  make(map[string]offsetsMemo),
	}
	if err := w.Refresh(ctx); err != nil {
		return nil, err
	}

	return w, nil
}

// Refresh reloads the table from the catalog.
func (w *Writer) Refresh(ctx context.Context) error {
	tbl, err := w.cat.LoadTable(ctx, w.ident)
	if err != nil {
		return fmt.Errorf("load table %s: %w", strings.Join(w.ident, "."), err)
	}

	return w.setTable(tbl)
}

// Table returns the table as last loaded or committed.
func (w *Writer) Table() *table.Table {
	w.mu.Lock()
	defer w.mu.Unlock()

	return w.tbl
}

// Schema returns the table's current Iceberg schema.
func (w *Writer) Schema() *iceberggo.Schema {
	return w.Table().Schema()
}

// ArrowSchema returns the table's current schema as Arrow, with field IDs in
// the field metadata (the schema Batch.Records must have). It changes after
// Evolve or after Refresh picks up another process's evolution.
func (w *Writer) ArrowSchema() *arrow.Schema {
	w.mu.Lock()
	defer w.mu.Unlock()

	return w.schema
}

func (w *Writer) setTable(tbl *table.Table) error {
	w.mu.Lock()
	defer w.mu.Unlock()

	if w.tbl != nil && w.schema != nil && w.tbl.Schema().Equals(tbl.Schema()) {
		w.tbl = tbl
		return nil
	}
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
	if err != nil {
		return fmt.Errorf("table %s: arrow schema: %w", strings.Join(w.ident, "."), err)
	}
	w.tbl, w.schema = tbl, sc

	return nil
}

// NameMapping returns the table's name mapping
// (schema.name-mapping.default), which keeps every former name of a renamed
// column; nil if the table has none yet.
func (w *Writer) NameMapping() iceberggo.NameMapping {
	return w.Table().NameMapping()
}

// PartitionColumns names the source columns of the table's partition spec,
// in spec order (currency, merchant_id for the contract table).
func (w *Writer) PartitionColumns() []string {
	tbl := w.Table()
	sc, spec := tbl.Schema(), tbl.Spec()
	var cols []string
	for _, f := range spec.Fields() {
		if field, ok := sc.FindFieldByID(f.SourceID()); ok {
			cols = append(cols, field.Name)
		}
	}
	return cols
}
