package iceberg_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

func TestValidThroughFunc(t *testing.T) {
	o := iceberg.Offsets{tp(0): 10, tp(1): 5}
	if _, ok := iceberg.ValidThrough(iceberg.Offsets{}, iceberg.Offsets{tp(0): 1}); ok {
		t.Error("no partitions: a watermark")
	}
	if _, ok := iceberg.ValidThrough(o, iceberg.Offsets{tp(0): 1}); ok {
		t.Error("a partition without a maximum: a watermark")
	}
	if ms, ok := iceberg.ValidThrough(o, iceberg.Offsets{tp(0): 7, tp(1): 3, tp(2): 1}); !ok || ms != 3 {
		t.Errorf("ValidThrough = %d, %v; want 3 (partition 2 is not recorded)", ms, ok)
	}
}

// TestWriterValidThrough commits batches with event-time maxima and checks
// the summary: the maxima merge per partition (never going back), the
// watermark is their minimum over recorded and assigned partitions.
func TestWriterValidThrough(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	ctx := context.Background()
	mem := memory.NewGoAllocator()
	cur, mer := []string{"EUR"}, []string{"m"}
	commit := func(rs []row, maxEvent iceberg.Offsets, assigned ...int32) map[string]string {
		t.Helper()
		b := batch(t, mem, w, "g", rs)
		recorded, err := w.Offsets(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		b.From = iceberg.Offsets{}
		for k := range b.To {
			if off, ok := recorded[k]; ok {
				b.From[k] = off
			}
		}
		b.MaxEventTime = maxEvent
		for _, p := range assigned {
			b.Assigned = append(b.Assigned, tp(p))
		}
		if _, err := w.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
		return w.Table().CurrentSnapshot().Summary.Properties
	}
	vt := func(props map[string]string) string { return props[iceberg.ValidThroughKey("g")] }

	// Partition 1 is assigned but has nothing committed: no watermark.
	p := commit(rows(0, 0, 2, cur, mer), iceberg.Offsets{tp(0): 5000}, 0, 1)
	if v, has := p[iceberg.ValidThroughKey("g")]; has {
		t.Fatalf("valid-through %s with partition 1 uncommitted", v)
	}
	p = commit(rows(1, 0, 2, cur, mer), iceberg.Offsets{tp(1): 2000}, 0, 1)
	if vt(p) != "2000" {
		t.Fatalf("valid-through %q, want 2000", vt(p))
	}
	// Partition 1 sends an older record (late): its maximum stays 2000.
	p = commit(rows(1, 2, 1, cur, mer), iceberg.Offsets{tp(1): 1500}, 0, 1)
	if vt(p) != "2000" {
		t.Fatalf("late record moved valid-through to %q", vt(p))
	}
	// Partition 0 alone moves ahead: partition 1 still bounds it.
	p = commit(rows(0, 2, 2, cur, mer), iceberg.Offsets{tp(0): 9000}, 0, 1)
	if vt(p) != "2000" {
		t.Fatalf("valid-through %q, want 2000 (partition 1 lags)", vt(p))
	}
	p = commit(rows(1, 3, 2, cur, mer), iceberg.Offsets{tp(1): 7000}, 0, 1)
	if vt(p) != "7000" {
		t.Fatalf("valid-through %q, want 7000", vt(p))
	}
	maxes, err := iceberg.DecodeOffsets(p[iceberg.MaxEventTimeKey("g")])
	if err != nil || len(maxes) != 1 || maxes[tp(1)] != 7000 {
		t.Fatalf("max-event-time summary %v (%v): want only this batch's partition", maxes, err)
	}
	// A batch without event times (only dead letters moved the offset)
	// still records the group's watermark.
	p = commit(rows(0, 4, 1, cur, mer), nil)
	if vt(p) != "7000" {
		t.Fatalf("valid-through %q after a batch without event times, want 7000", vt(p))
	}
	if _, has := p[iceberg.MaxEventTimeKey("g")]; has {
		t.Fatal("max-event-time recorded for a batch without event times")
	}

	// Another group that never records event times gets no watermark.
	b := batch(t, mem, w, "other", rows(5, 0, 1, cur, mer))
	b.From = iceberg.Offsets{}
	if _, err := w.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	if v, has := w.Table().CurrentSnapshot().Summary.Properties[iceberg.ValidThroughKey("other")]; has {
		t.Fatalf("group without event times: valid-through %s", v)
	}
}
