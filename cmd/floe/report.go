package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/scanread"
)

// report is what the demo reads back from the table.
type report struct {
	Location   string
	Snapshots  int
	DataFiles  int
	Rows       int64
	ByCurrency map[string]*currencyTotal
	Scale      int32
	Offsets    iceberg.Offsets
}

type currencyTotal struct {
	Rows   int64
	Amount decimal128.Num
}

func readReport(ctx context.Context, w *iceberg.Writer, group string) (*report, error) {
	if err := w.Refresh(ctx); err != nil {
		return nil, err
	}
	tbl := w.Table()
	rep := &report{
		Location:   tbl.Location(),
		Snapshots:  len(tbl.Metadata().Snapshots()),
		ByCurrency: map[string]*currencyTotal{},
		Scale:      2,
	}
	// scanread, not one ToArrowRecords: that keeps every data file's
	// Parquet footer until the read ends (GBs over a backlog of files).
	st, err := scanread.Records(ctx, tbl, tbl.Scan(table.WithSelectedFields("currency", "amount")), 0, func(rec arrow.RecordBatch) error {
		cur := rec.Column(int(rec.Schema().FieldIndices("currency")[0]))
		amt, ok := rec.Column(rec.Schema().FieldIndices("amount")[0]).(*array.Decimal128)
		if !ok {
			return fmt.Errorf("amount column is %s, want decimal128", rec.Column(rec.Schema().FieldIndices("amount")[0]).DataType())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			c := "(null)"
			if cur.IsValid(i) {
				c = cur.ValueStr(i)
			}
			t := rep.ByCurrency[c]
			if t == nil {
				t = &currencyTotal{}
				rep.ByCurrency[c] = t
			}
			t.Rows++
			if amt.IsValid(i) {
				t.Amount = t.Amount.Add(amt.Value(i))
			}
		}
		rep.Rows += rec.NumRows()
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.DataFiles = st.Files
	if rep.Offsets, err = w.Offsets(ctx, group); err != nil {
		return nil, err
	}
	return rep, nil
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\ntable payments.transactions at %s\n", r.Location)
	fmt.Fprintf(w, "  %d rows in total, %d snapshots, %d live data files\n\n", r.Rows, r.Snapshots, r.DataFiles)
	cur := make([]string, 0, len(r.ByCurrency))
	for c := range r.ByCurrency {
		cur = append(cur, c)
	}
	sort.Strings(cur)
	fmt.Fprintf(w, "  %-8s %10s %22s\n", "currency", "rows", "sum(amount)")
	for _, c := range cur {
		t := r.ByCurrency[c]
		fmt.Fprintf(w, "  %-8s %10d %22s\n", c, t.Rows, t.Amount.ToString(r.Scale))
	}
	fmt.Fprintln(w)
	parts := make([]iceberg.TopicPartition, 0, len(r.Offsets))
	for tp := range r.Offsets {
		parts = append(parts, tp)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Partition < parts[j].Partition })
	fmt.Fprint(w, "  next offsets recorded in the table for this run:")
	for _, tp := range parts {
		fmt.Fprintf(w, " %s[%d]=%d", tp.Topic, tp.Partition, r.Offsets[tp])
	}
	fmt.Fprintln(w)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
