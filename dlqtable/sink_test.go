package dlqtable_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floe-io/floe/dlqtable"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/tabletest"
)

func TestSink(t *testing.T) {
	ctx := context.Background()
	cat := tabletest.NewEnv(t).Open()
	ident := dlqtable.Name([]string{"payments", "transactions"})
	if got := ident[0] + "." + ident[1]; got != "payments.transactions_dlq" {
		t.Fatalf("default name %s", got)
	}
	now := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	sink, err := dlqtable.New(ctx, cat, ident, dlqtable.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	// Flush with nothing buffered commits nothing.
	if err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tbl, _ := cat.LoadTable(ctx, ident)
	if tbl.CurrentSnapshot() != nil {
		t.Fatal("an empty Flush committed a snapshot")
	}
	if got := tbl.Spec().String(); !bytes.Contains([]byte(got), []byte("day")) || !bytes.Contains([]byte(got), []byte("error_class")) {
		t.Fatalf("spec %s", got)
	}

	type sent struct {
		dl       ingest.DeadLetter
		schemaID *int64
	}
	i64 := func(v int64) *int64 { return &v }
	all := []sent{
		{ingest.DeadLetter{Record: ingest.Record{Topic: "payments.transactions", Partition: 0, Offset: 7, Key: []byte("tx-1"), Value: []byte{1, 2, 3}}, Class: ingest.ClassBadMagic, Reason: "bad magic"}, nil},
		{ingest.DeadLetter{Record: ingest.Record{Topic: "payments.transactions", Partition: 3, Offset: 1 << 40, Key: nil, Value: []byte{0, 0, 0, 0x10, 0x92, 0xff, 0x00}}, Class: ingest.ClassUnknownSchema, Reason: "schema 4242"}, i64(4242)},
		{ingest.DeadLetter{Record: ingest.Record{Topic: "t2", Partition: 1, Offset: 0, Key: []byte{}, Value: nil}, Class: ingest.ClassEmptyValue, Reason: "record has no value"}, nil},
		{ingest.DeadLetter{Record: ingest.Record{Topic: "t2", Partition: 1, Offset: 1, Value: []byte{0, 0, 0, 0, 1}}, Class: ingest.ClassMalformedAvro, Reason: "x", SchemaID: 9}, i64(9)},
	}
	for _, s := range all[:2] {
		if err := sink.Send(ctx, s.dl); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second) // the next day: another partition
	for _, s := range all[2:] {
		if err := sink.Send(ctx, s.dl); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := sink.Send(ctx, all[0].dl); err == nil {
		t.Fatal("Send after Close succeeded")
	}

	rows := tabletest.ReadDLQ(t, cat, ident)
	if len(rows) != len(all) {
		t.Fatalf("%d rows, want %d", len(rows), len(all))
	}
	byKey := map[string]tabletest.DLQRow{}
	for _, r := range rows {
		byKey[r.Topic+"/"+strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10)] = r
	}
	for _, s := range all {
		r := s.dl.Record
		got, ok := byKey[r.Topic+"/"+strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10)]
		if !ok {
			t.Fatalf("no row for %s[%d]@%d", r.Topic, r.Partition, r.Offset)
		}
		if !bytes.Equal(got.Key, r.Key) || got.KeyNull != (r.Key == nil) {
			t.Errorf("%d: key %x (null %v), want %x", r.Offset, got.Key, got.KeyNull, r.Key)
		}
		if !bytes.Equal(got.Value, r.Value) || got.ValueNull != (r.Value == nil) {
			t.Errorf("%d: value %x (null %v), want %x", r.Offset, got.Value, got.ValueNull, r.Value)
		}
		if got.Class != s.dl.Class || got.Reason != s.dl.Reason {
			t.Errorf("%d: class %q reason %q", r.Offset, got.Class, got.Reason)
		}
		if (got.SchemaID == nil) != (s.schemaID == nil) || (got.SchemaID != nil && *got.SchemaID != *s.schemaID) {
			t.Errorf("%d: schema_id %v, want %v", r.Offset, got.SchemaID, s.schemaID)
		}
	}
	tbl, _ = cat.LoadTable(ctx, ident)
	if n := len(tbl.Metadata().Snapshots()); n != 2 {
		t.Fatalf("%d snapshots, want one per non-empty Flush (2)", n)
	}
	// Every file of the dead-letter table is at its location taken
	// literally (as Spark and Trino resolve it).
	refs, err := iceberg.ReferencedFiles(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	data := 0
	for _, r := range refs {
		p, ok := strings.CutPrefix(r.Location, "file://")
		if _, err := os.Stat(p); !ok || err != nil {
			t.Errorf("%s %s: not at its literal location: %v", r.Kind, r.Location, err)
		}
		if r.Kind == iceberg.KindData {
			data++
		}
	}
	if data != 4 {
		t.Errorf("%d data files, want one per (day, class): 4", data)
	}
}
