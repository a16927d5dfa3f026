package iceberg

import (
	"context"
	"fmt"
	"hash/maphash"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
)

// splitByPartition splits rec into n records whose partition values are
// disjoint: row i goes to part hash(partition source values of i) mod n.
// Each part can then be written by a clustered writer of its own, in
// parallel, without two writers ever sharing a partition directory. It
// releases rec. Parts without rows are nil.
func splitByPartition(ctx context.Context, tbl *table.Table, rec arrow.RecordBatch, n int) ([]arrow.RecordBatch, error) {
	defer rec.Release()
	var cols []arrow.Array
	spec := tbl.Spec()
	for _, f := range spec.Fields() {
		for _, id := range f.SourceIDs {
			name, ok := tbl.Schema().FindColumnName(id)
			if !ok {
				return nil, fmt.Errorf("partition source field %d not in the schema", id)
			}
			idx := rec.Schema().FieldIndices(name)
			if len(idx) != 1 {
				return nil, fmt.Errorf("partition source column %q not in the record", name)
			}
			cols = append(cols, rec.Column(idx[0]))
		}
	}
	rows := int(rec.NumRows())
	idx := make([]*array.Int32Builder, n)
	for k := range idx {
		idx[k] = array.NewInt32Builder(memory.DefaultAllocator)
		idx[k].Reserve(rows/n + rows/8)
		defer idx[k].Release()
	}
	seed := maphash.MakeSeed()
	var h maphash.Hash
	for i := 0; i < rows; i++ {
		h.SetSeed(seed)
		for _, c := range cols {
			switch c := c.(type) {
			case *array.String:
				if c.IsNull(i) {
					h.WriteByte(0)
				} else {
					h.WriteByte(1)
					h.WriteString(c.Value(i))
				}
			default:
				h.WriteString(c.ValueStr(i))
			}
			h.WriteByte(0xff)
		}
		idx[h.Sum64()%uint64(n)].Append(int32(i))
	}
	in := compute.NewDatum(rec)
	defer in.Release()
	out := make([]arrow.RecordBatch, n)
	for k := range idx {
		arr := idx[k].NewInt32Array()
		if arr.Len() == 0 {
			arr.Release()
			continue
		}
		sel := compute.NewDatum(arr)
		arr.Release()
		d, err := compute.Take(ctx, *compute.DefaultTakeOptions(), in, sel)
		sel.Release()
		if err != nil {
			for _, r := range out {
				if r != nil {
					r.Release()
				}
			}
			return nil, fmt.Errorf("splitting the batch by partition: %w", err)
		}
		out[k] = d.(*compute.RecordDatum).Value
		out[k].Retain()
		d.Release()
	}
	return out, nil
}
