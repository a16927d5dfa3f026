package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// The coarse ingest layout (--ingest-layout coarse).
//
// The table keeps its default partition spec (for the contract table
// identity(currency), identity(merchant_id)): engines, other writers and the
// compactor's output use it. It also gets a second spec, the default spec's
// first field alone (identity(currency)), which is never made the default.
// In the coarse layout the ingest writes each commit's rows in that second
// spec: per currency, rows sorted by the remaining default-spec source
// columns (merchant_id) and cut into files of about CoarseFileRows rows at
// merchant boundaries, so that each file covers a contiguous merchant_id
// range and its lower/upper bounds let a merchant_id filter skip it. The
// compactor rewrites those files into the default spec (compaction package).
//
// Iceberg allows data files of several specs in one table; each manifest is
// written with its files' spec, and every v2 reader plans with the spec of
// each manifest.

// DefaultCoarseFileRows is the default number of rows per coarse data file
// (per currency per commit, split at merchant boundaries).
const DefaultCoarseFileRows = 1000

// Ingest layouts: LayoutPartitioned writes one file per default-spec
// partition per commit; LayoutCoarse writes the coarse spec (see above).
const (
	LayoutPartitioned = "partitioned"
	LayoutCoarse      = "coarse"
)

// WithCoarseLayout makes the Writer write batches in the table's coarse
// spec (EnsureCoarseSpec adds it), in files of about rowsPerFile rows (0:
// DefaultCoarseFileRows). A table without a coarse spec, or one whose
// batches go through iceberg-go's writer, is written in its default spec
// (LeanWriterReason says so).
func WithCoarseLayout(rowsPerFile int) WriterOption {
	return writerOpt(func(c *writerConfig) {
		if rowsPerFile <= 0 {
			rowsPerFile = DefaultCoarseFileRows
		}
		c.coarseRows = rowsPerFile
	})
}

// CoarseSpec returns the table's coarse spec: a spec other than the default
// whose only field is the default spec's first field (same source, identity
// transform, field id and name). ok is false when there is none or the
// default spec has fewer than two fields.
func CoarseSpec(md table.Metadata) (iceberggo.PartitionSpec, bool) {
	def := md.PartitionSpec()
	if def.NumFields() < 2 {
		return iceberggo.PartitionSpec{}, false
	}
	first := def.Field(0)
	if _, ok := first.Transform.(iceberggo.IdentityTransform); !ok {
		return iceberggo.PartitionSpec{}, false
	}
	for _, s := range md.PartitionSpecs() {
		if s.ID() == def.ID() || s.NumFields() != 1 {
			continue
		}
		f := s.Field(0)
		if _, ok := f.Transform.(iceberggo.IdentityTransform); ok &&
			f.SourceID() == first.SourceID() && f.FieldID == first.FieldID && f.Name == first.Name {
			return s, true
		}
	}
	return iceberggo.PartitionSpec{}, false
}

// EnsureCoarseSpec adds the coarse spec (see CoarseSpec) to the table ident
// unless it has one, without changing the default spec, and returns its id.
// A concurrent change of the table's specs is retried a few times.
func EnsureCoarseSpec(ctx context.Context, cat icecatalog.Catalog, ident table.Identifier) (int, error) {
	for attempt := 0; ; attempt++ {
		tbl, err := cat.LoadTable(ctx, ident)
		if err != nil {
			return 0, fmt.Errorf("coarse spec: load table: %w", err)
		}
		md := tbl.Metadata()
		if s, ok := CoarseSpec(md); ok {
			return s.ID(), nil
		}
		def := md.PartitionSpec()
		if def.NumFields() < 2 {
			return 0, fmt.Errorf("coarse spec: the default partition spec has %d fields; the coarse layout needs at least 2", def.NumFields())
		}
		first := def.Field(0)
		if _, ok := first.Transform.(iceberggo.IdentityTransform); !ok || len(first.SourceIDs) != 1 {
			return 0, fmt.Errorf("coarse spec: the default spec's first field %s is not an identity partition", first.Name)
		}
		newID := 0
		for _, s := range md.PartitionSpecs() {
			newID = max(newID, s.ID()+1)
		}
		fid := first.FieldID
		spec, err := iceberggo.NewPartitionSpecOpts(iceberggo.WithSpecID(newID),
			iceberggo.AddPartitionFieldBySourceID(first.SourceIDs[0], first.Name, iceberggo.IdentityTransform{}, md.CurrentSchema(), &fid))
		if err != nil {
			return 0, fmt.Errorf("coarse spec: %w", err)
		}
		last := md.LastPartitionSpecID()
		reqs := []table.Requirement{
			table.AssertTableUUID(md.TableUUID()),
			table.AssertDefaultSpecID(def.ID()),
		}
		if last != nil {
			reqs = append(reqs, table.AssertLastAssignedPartitionID(*last))
		}
		_, _, err = cat.CommitTable(ctx, ident, reqs, []table.Update{table.NewAddPartitionSpecUpdate(&spec, false)})
		if err == nil {
			continue // load again: the spec id the catalog gave it
		}
		if attempt >= 4 || classifyCommitErr(err) != commitConflict {
			return 0, fmt.Errorf("coarse spec: add identity(%s): %w", first.Name, err)
		}
	}
}

// coarsen turns a lean plan for the default spec into one for the coarse
// spec cs: partitioned by the default spec's first field, rows sorted by
// the other fields' source columns and cut into files of about rows rows.
func (p *leanPlan) coarsen(cs iceberggo.PartitionSpec, rows int) (*leanPlan, string) {
	if len(p.parts) < 2 {
		return nil, "the default spec has fewer than two fields"
	}
	q := *p
	q.spec = cs
	q.parts = p.parts[:1]
	q.sortCols = nil
	for _, part := range p.parts[1:] {
		q.sortCols = append(q.sortCols, part.col)
	}
	q.fileRows = rows
	return &q, ""
}

// cutSorted sorts each group's rows by the plan's sort columns (nulls
// first, then by value; ties keep their order) and cuts it into groups of
// at least fileRows rows, each ending where the sort key changes, so that
// no key value spans two files unless it alone has more than fileRows rows.
func (p *leanPlan) cutSorted(rec arrow.RecordBatch, groups []leanGroup) ([]leanGroup, error) {
	cols := make([]arrow.Array, len(p.sortCols))
	for i, c := range p.sortCols {
		cols[i] = rec.Column(p.colIdx[c])
		switch cols[i].(type) {
		case *array.String, *array.Int32, *array.Int64:
		default:
			return nil, fmt.Errorf("sort column of arrow type %s", cols[i].DataType())
		}
	}
	cmpRow := func(a, b int32) int {
		for _, col := range cols {
			an, bn := col.IsNull(int(a)), col.IsNull(int(b))
			switch {
			case an && bn:
				continue
			case an:
				return -1
			case bn:
				return 1
			}
			var c int
			switch col := col.(type) {
			case *array.String:
				c = strings.Compare(col.Value(int(a)), col.Value(int(b)))
			case *array.Int32:
				c = cmpInt(col.Value(int(a)), col.Value(int(b)))
			case *array.Int64:
				c = cmpInt(col.Value(int(a)), col.Value(int(b)))
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}
	var out []leanGroup
	for _, g := range groups {
		slices.SortStableFunc(g.rows, cmpRow)
		start := 0
		for start < len(g.rows) {
			end := min(start+p.fileRows, len(g.rows))
			for end < len(g.rows) && cmpRow(g.rows[end-1], g.rows[end]) == 0 {
				end++
			}
			out = append(out, leanGroup{rows: g.rows[start:end:end], vals: g.vals, path: g.path})
			start = end
		}
	}
	return out, nil
}

func cmpInt[T int32 | int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
