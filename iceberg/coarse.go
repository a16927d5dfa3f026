package iceberg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
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

// DefaultCoarseAbove is the default threshold of the auto layout: a record
// batch whose rows span more default-spec partitions than this is written
// in the coarse spec.
const DefaultCoarseAbove = 1000

// Ingest layouts: LayoutPartitioned writes one file per default-spec
// partition per commit; LayoutCoarse writes the coarse spec (see above);
// LayoutAuto writes a commit in the coarse spec when its rows span more
// than a threshold of default-spec partitions, else partitioned.
const (
	LayoutPartitioned = "partitioned"
	LayoutCoarse      = "coarse"
	LayoutAuto        = "auto"
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
		c.coarseAbove = 0
	})
}

// WithAutoLayout is WithCoarseLayout for record batches whose rows span more
// than above partitions of the default spec (one data file each in the
// partitioned layout); smaller ones are written in the default spec. above
// <= 0 means DefaultCoarseAbove.
func WithAutoLayout(rowsPerFile, above int) WriterOption {
	return writerOpt(func(c *writerConfig) {
		WithCoarseLayout(rowsPerFile).apply(c)
		if above <= 0 {
			above = DefaultCoarseAbove
		}
		c.coarseAbove = above
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

// ErrNoCoarseSpec says a table's default partition spec cannot have a
// coarse spec: it has fewer than two fields, or its first is not an
// identity partition of one column.
var ErrNoCoarseSpec = errors.New("the table's partition spec allows no coarse layout")

// EnsureCoarseSpec adds the coarse spec (see CoarseSpec) to the table ident
// unless it has one, without changing the default spec, and returns its id.
// A concurrent change of the table's specs is retried a few times. A table
// whose default spec cannot have one gets an error wrapping ErrNoCoarseSpec.
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
			return 0, fmt.Errorf("%w: the default partition spec has %d fields; the coarse layout needs at least 2", ErrNoCoarseSpec, def.NumFields())
		}
		first := def.Field(0)
		if _, ok := first.Transform.(iceberggo.IdentityTransform); !ok || len(first.SourceIDs) != 1 {
			return 0, fmt.Errorf("%w: the default spec's first field %s is not an identity partition", ErrNoCoarseSpec, first.Name)
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

// coarsen returns the lean plan for the coarse spec cs of p, a plan for
// the default spec: partitioned by the default spec's first field, rows
// sorted by the other fields' source columns and cut into files of about
// rows rows (coarseGroups).
func (p *leanPlan) coarsen(cs iceberggo.PartitionSpec, rows int) (*leanPlan, string) {
	if len(p.parts) < 2 {
		return nil, "the default spec has fewer than two fields"
	}
	q := *p
	q.spec = cs
	q.parts = p.parts[:1]
	q.fileRows = rows
	return &q, ""
}

// coarseGroups turns the groups of p (the default spec: one per
// partition, rows in arrival order) into the files of q, p's coarse plan:
// per value of the first partition field (in order of first appearance),
// the groups sorted by the other fields' values (nulls first) and their
// rows concatenated, cut into files of at least q.fileRows rows at group
// boundaries. That is each coarse partition's rows stably sorted by the
// sort columns and cut where the sort key changes, so no key value spans
// two files unless it alone has more than fileRows rows, without sorting
// rows: groups differ in their key, so only groups need ordering.
func (q *leanPlan) coarseGroups(rec arrow.RecordBatch, p *leanPlan, groups []leanGroup) []leanGroup {
	first := p.parts[0].fieldID
	var (
		order []any
		byKey = map[any][]int{}
	)
	for i := range groups {
		k := groups[i].vals[first]
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	keyCol := []arrow.Array{rec.Column(q.colIdx[q.parts[0].col])}
	var out []leanGroup
	for _, k := range order {
		members := byKey[k]
		slices.SortFunc(members, func(a, b int) int {
			for _, part := range p.parts[1:] {
				if c := cmpPartValue(groups[a].vals[part.fieldID], groups[b].vals[part.fieldID]); c != 0 {
					return c
				}
			}
			return 0
		})
		total := 0
		for _, g := range members {
			total += len(groups[g].rows)
		}
		vals, path := q.partition(keyCol, int(groups[members[0]].rows[0]))
		rows := make([]int32, 0, total)
		start := 0
		for _, g := range members {
			rows = append(rows, groups[g].rows...)
			if len(rows)-start >= q.fileRows {
				out = append(out, leanGroup{rows: rows[start:len(rows):len(rows)], vals: vals, path: path})
				start = len(rows)
			}
		}
		if start < len(rows) {
			out = append(out, leanGroup{rows: rows[start:], vals: vals, path: path})
		}
	}
	return out
}

// cmpPartValue orders identity partition values (nil, string, int32,
// int64 as groupRows produces them): nil first, then by value.
func cmpPartValue(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch a := a.(type) {
	case string:
		return cmp.Compare(a, b.(string))
	case int32:
		return cmp.Compare(a, b.(int32))
	case int64:
		return cmp.Compare(a, b.(int64))
	}
	return 0
}
