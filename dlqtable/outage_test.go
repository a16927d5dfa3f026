package dlqtable_test

import (
	"context"
	"errors"
	"testing"

	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/dlqtable"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/internal/testserver"
)

// TestFlushThroughOutages: a Flush that meets a stopped catalog (files
// written, commit failed) and one that meets a stopped object store
// (files not written) both fail with the outage named; the Flush after each
// outage lands every dead letter exactly once.
func TestFlushThroughOutages(t *testing.T) {
	ctx := context.Background()
	pg := testserver.StartPostgres(t)
	s3 := testserver.StartS3(t)
	s3.CreateBucket(t, "lake")
	cat, err := catalog.Open(ctx, pg.NewDatabase(t), "s3://lake/wh", s3.Props())
	if err != nil {
		t.Fatal(err)
	}
	ident := dlqtable.Name([]string{"payments", "transactions"})
	sink, err := dlqtable.New(ctx, cat, ident, dlqtable.Options{})
	if err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	send := func(n int) {
		for range n {
			dl := ingest.DeadLetter{Record: ingest.Record{Topic: "t", Partition: 0, Offset: off, Value: []byte{1}}, Class: ingest.ClassBadMagic, Reason: "x"}
			off++
			if err := sink.Send(ctx, dl); err != nil {
				t.Fatal(err)
			}
		}
	}

	send(3)
	if err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	send(4)
	pg.Stop(t)
	err = sink.Flush(ctx)
	if !errors.Is(err, iceberg.ErrCatalogUnavailable) {
		t.Fatalf("Flush with the catalog stopped: %v, want ErrCatalogUnavailable", err)
	}
	send(2) // sent during the outage: committed after the unsettled flush
	pg.Start(t)
	if err := sink.Flush(ctx); err != nil {
		t.Fatalf("Flush after the catalog came back: %v", err)
	}

	send(5)
	s3.Stop(t)
	err = sink.Flush(ctx)
	if !errors.Is(err, iceberg.ErrStorageUnavailable) {
		t.Fatalf("Flush with the object store stopped: %v, want ErrStorageUnavailable", err)
	}
	s3.Start(t)
	if err := sink.Close(ctx); err != nil {
		t.Fatalf("Close after the object store came back: %v", err)
	}

	seen := deadLetterOffsets(t, cat, ident)
	for o := range off {
		if seen[o] != 1 {
			t.Errorf("dead letter at offset %d is in the table %d times, want once", o, seen[o])
		}
	}
	if len(seen) != int(off) {
		t.Errorf("%d distinct offsets in the table, want %d", len(seen), off)
	}
}

func deadLetterOffsets(t *testing.T, cat icecatalog.Catalog, ident table.Identifier) map[int64]int {
	t.Helper()
	seen := map[int64]int{}
	for _, r := range tabletest.ReadDLQ(t, cat, ident) {
		seen[r.Offset]++
	}
	return seen
}
