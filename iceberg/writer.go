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
// commits from one Writer are serialized, and its catalog commits take
// turns with every other user of its Committer. Several Writers (in one
// process or many) may commit to the same table: conflicts are retried,
// overlaps fenced.
type Writer struct {
	c   *Committer
	cfg writerConfig

	// commitMu serializes Commit and Evolve of this Writer.
	commitMu sync.Mutex
	// unsettled is the last batch whose commit ended with its outcome
	// unknown or lost every attempt to other writers; guarded by commitMu.
	unsettled unsettled

	mu     sync.Mutex // guards the fields below
	schema arrowSchemaMemo
	memo   map[string]offsetsMemo // per summary key (offsets or event-time maxima of a group)
}

// arrowSchemaMemo is the Arrow form of the Iceberg schema it was made from.
type arrowSchemaMemo struct {
	from *iceberggo.Schema
	sc   *arrow.Schema
}

// NewWriter loads the table ident from cat and returns a Writer for it. With
// WithCommitter it commits through that Committer (which must be for ident
// in cat); otherwise it creates its own.
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
	c := cfg.committer
	if c == nil {
		var err error
		if c, err = newCommitterWith(cat, ident, cfg.retry); err != nil {
			return nil, fmt.Errorf("new writer: %w", err)
		}
	} else if !slices.Equal(c.ident, ident) || c.cat != cat {
		return nil, fmt.Errorf("new writer: table %s: the Committer is for %s", strings.Join(ident, "."), c.name())
	}

	w := &Writer{c: c, cfg: cfg, memo: make(map[string]offsetsMemo)}
	if err := w.Refresh(ctx); err != nil {
		return nil, err
	}
	if _, err := w.arrowSchema(w.Schema()); err != nil {
		return nil, err
	}

	return w, nil
}

// Committer is the Committer the Writer commits through.
func (w *Writer) Committer() *Committer { return w.c }

// Refresh reloads the table from the catalog.
func (w *Writer) Refresh(ctx context.Context) error {
	_, err := w.c.Load(ctx)
	return err
}

// Table returns the table as last loaded or committed in this process.
func (w *Writer) Table() *table.Table {
	return w.c.Table()
}

// Schema returns the table's current Iceberg schema.
func (w *Writer) Schema() *iceberggo.Schema {
	return w.Table().Schema()
}

// ArrowSchema returns the table's current schema as Arrow, with field IDs in
// the field metadata (the schema Batch.Records must have). It changes after
// Evolve or after Refresh picks up another process's evolution. It is nil
// only if the table's schema has no Arrow form (NewWriter reports that).
func (w *Writer) ArrowSchema() *arrow.Schema {
	sc, _ := w.arrowSchema(w.Table().Schema())
	return sc
}

func (w *Writer) arrowSchema(is *iceberggo.Schema) (*arrow.Schema, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m := w.schema; m.sc != nil && (m.from == is || m.from.Equals(is)) {
		return m.sc, nil
	}
	sc, err := table.SchemaToArrowSchema(is, nil, true, false)
	if err != nil {
		return nil, fmt.Errorf("table %s: arrow schema: %w", w.c.name(), err)
	}
	w.schema = arrowSchemaMemo{from: is, sc: sc}

	return sc, nil
}

// NameMapping returns the table's name mapping
// (schema.name-mapping.default), which keeps every former name of a renamed
// column; nil if the table has none yet.
func (w *Writer) NameMapping() iceberggo.NameMapping {
	return w.Table().NameMapping()
}

// PartitionColumns names the source columns of the partition spec the
// Writer writes batches in, in spec order: the table's default spec
// (currency, merchant_id for the contract table), or in the coarse layout
// the coarse spec (currency), so that --max-batch-partitions counts the
// partitions data files are written for. The auto layout counts as coarse:
// a record spanning more default-spec partitions than its threshold is
// written in the coarse spec, so only up to the threshold become files.
func (w *Writer) PartitionColumns() []string {
	tbl := w.Table()
	sc, spec := tbl.Schema(), tbl.Spec()
	if w.WritesCoarse() {
		if cs, ok := CoarseSpec(tbl.Metadata()); ok {
			spec = cs
		}
	}
	var cols []string
	for _, f := range spec.Fields() {
		if field, ok := sc.FindFieldByID(f.SourceID()); ok {
			cols = append(cols, field.Name)
		}
	}
	return cols
}

// unsettled is a batch whose commit may or may not have landed: its
// CommitID and the data files written for it.
type unsettled struct {
	id    string
	files []iceberggo.DataFile
}
