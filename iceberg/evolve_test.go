package iceberg_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	iceberggo "github.com/apache/iceberg-go"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

func TestEvolveAddWidenMakeOptional(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	a, b := e.Writer(nil, ident), e.Writer(nil, ident)
	// A first commit stores the table's name mapping; Evolve must extend it.
	if _, err := a.Commit(ctx, batch(t, mem, a, "g", rows(1, 0, 2, currencies, merchants))); err != nil {
		t.Fatal(err)
	}

	v2 := []iceberg.Change{
		{Kind: iceberg.AddColumn, Name: "channel", Type: iceberggo.PrimitiveTypes.String, Doc: "payment channel"},
		{Kind: iceberg.AddColumn, Name: "fee_bps", Type: iceberggo.PrimitiveTypes.Int32},
	}
	if err := a.Evolve(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if idx := a.ArrowSchema().FieldIndices("channel"); len(idx) != 1 {
		t.Fatalf("arrow schema lacks the new column: %v", a.ArrowSchema())
	}
	schemaID := a.Schema().ID

	// b has a stale view and applies the same change: another process won,
	// so this succeeds without a new schema.
	if err := b.Evolve(ctx, v2); err != nil {
		t.Fatalf("duplicate evolve: %v", err)
	}
	if got := b.Schema().ID; got != schemaID {
		t.Fatalf("duplicate evolve made schema %d, want %d", got, schemaID)
	}

	// v3: widen fee_bps, add country; and relax a required column.
	v3 := []iceberg.Change{
		{Kind: iceberg.Widen, Name: "fee_bps", Type: iceberggo.PrimitiveTypes.Int64},
		{Kind: iceberg.AddColumn, Name: "country", Type: iceberggo.PrimitiveTypes.String},
		{Kind: iceberg.MakeOptional, Name: "event_time"},
	}
	if err := b.Evolve(ctx, v3); err != nil {
		t.Fatal(err)
	}
	sc := b.Schema()
	if f, _ := sc.FindFieldByName("fee_bps"); !f.Type.Equals(iceberggo.PrimitiveTypes.Int64) || f.Required {
		t.Errorf("fee_bps = %+v", f)
	}
	if f, _ := sc.FindFieldByName("event_time"); f.Required {
		t.Error("event_time still required")
	}
	if err := a.Evolve(ctx, v3); err != nil {
		t.Fatalf("duplicate v3: %v", err)
	}

	// Rows in the evolved schema commit and scan.
	if _, err := a.Commit(ctx, batch(t, mem, a, "g", rows(0, 0, 4, currencies, merchants))); err != nil {
		t.Fatal(err)
	}
	if got := tabletest.IDs(t, e.Writer(nil, ident).Table()); len(got) != 6 {
		t.Fatalf("%d rows", len(got))
	}
	// The name mapping follows the schema.
	if nm := a.Table().NameMapping(); nm == nil || !strings.Contains(nm.String(), "country") {
		t.Errorf("name mapping lacks country: %v", nm)
	}
}

func TestEvolveRefusesUnsafeChanges(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	ctx := t.Context()
	for _, ch := range []iceberg.Change{
		{Kind: iceberg.AddColumn, Name: "currency", Type: iceberggo.PrimitiveTypes.Int32}, // exists, other type
		{Kind: iceberg.Widen, Name: "currency", Type: iceberggo.PrimitiveTypes.Int32},     // string -> int
		{Kind: iceberg.Widen, Name: "missing", Type: iceberggo.PrimitiveTypes.Int64},
		{Kind: iceberg.MakeOptional, Name: "missing"},
		{Kind: 0, Name: "x"},
	} {
		if err := w.Evolve(ctx, []iceberg.Change{ch}); !errors.Is(err, iceberg.ErrEvolve) {
			t.Errorf("%v %s: err = %v, want ErrEvolve", ch.Kind, ch.Name, err)
		}
	}
	if w.Schema().ID != 0 {
		t.Fatalf("schema changed to %d", w.Schema().ID)
	}
}

func TestEvolveConcurrentDuplicates(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	const n = 3
	ws := make([]*iceberg.Writer, n)
	for i := range ws {
		ws[i] = e.Writer(nil, ident)
	}
	change := []iceberg.Change{{Kind: iceberg.AddColumn, Name: "channel", Type: iceberggo.PrimitiveTypes.String}}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, w := range ws {
		wg.Go(func() { errs[i] = w.Evolve(ctx, change) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	tbl := e.Writer(nil, ident).Table()
	if got := len(tbl.Schemas()); got != 2 {
		t.Fatalf("%d schemas, want 2 (initial + one evolution)", got)
	}
	if _, ok := tbl.Schema().FindFieldByName("channel"); !ok {
		t.Fatal("channel missing")
	}
}

func TestEvolveNestedRenameAndPlacement(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	a, b := e.Writer(nil, ident), e.Writer(nil, ident)
	if _, err := a.Commit(ctx, batch(t, mem, a, "g", rows(1, 0, 2, currencies, merchants))); err != nil {
		t.Fatal(err)
	}
	str := iceberggo.PrimitiveTypes.String
	card := &iceberggo.StructType{FieldList: []iceberggo.NestedField{{ID: 1, Name: "brand", Type: str, Required: true}}}
	first := []iceberg.Change{
		{Kind: iceberg.AddColumn, Path: []string{"card"}, Type: card, Before: "_kafka_topic"},
		{Kind: iceberg.AddColumn, Path: []string{"tags"}, Type: &iceberggo.ListType{ElementID: 2, Element: str, ElementRequired: true}, Before: "_kafka_topic"},
	}
	if err := a.Evolve(ctx, first); err != nil {
		t.Fatal(err)
	}
	names := func(w *iceberg.Writer) string {
		var out []string
		for _, f := range w.Schema().Fields() {
			out = append(out, f.Name)
		}
		return strings.Join(out, ",")
	}
	if got, want := names(a), "transaction_id,event_time,source,amount,currency,user_id,merchant_id,status,card,tags,_kafka_topic,_kafka_partition,_kafka_offset,_ingested_at"; got != want {
		t.Fatalf("columns %s, want %s", got, want)
	}
	cardID := func(w *iceberg.Writer, name string) int {
		f, ok := w.Schema().FindFieldByName(name)
		if !ok {
			t.Fatalf("no %s in %s", name, w.Schema())
		}
		return f.ID
	}
	brandID := cardID(a, "card.brand")

	// b is stale: it applies the same first step (a no-op) and then a
	// nested add, a widening-free rename of a nested field and a top-level
	// rename in one schema.
	if err := b.Evolve(ctx, first); err != nil {
		t.Fatalf("duplicate nested add: %v", err)
	}
	second := []iceberg.Change{
		{Kind: iceberg.AddColumn, Path: []string{"card", "last4"}, Type: str},
		{Kind: iceberg.Rename, Path: []string{"card", "brand"}, NewName: "network"},
		{Kind: iceberg.Rename, Path: []string{"status"}, NewName: "state"},
	}
	before := len(b.Table().Schemas())
	if err := b.Evolve(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := len(b.Table().Schemas()); got != before+1 {
		t.Errorf("%d schemas after one evolution, want %d", got, before+1)
	}
	if id := cardID(b, "card.network"); id != brandID {
		t.Errorf("renamed field id %d, want %d", id, brandID)
	}
	cardID(b, "card.last4")
	cardID(b, "state")
	if err := a.Evolve(ctx, second); err != nil {
		t.Fatalf("duplicate rename: %v", err)
	}
	// The name mapping keeps the former names.
	if nm := a.NameMapping(); nm == nil || !strings.Contains(nm.String(), "status") || !strings.Contains(nm.String(), "state") {
		t.Errorf("name mapping lost a name: %v", nm)
	}
	if err := a.Evolve(ctx, []iceberg.Change{{Kind: iceberg.Rename, Path: []string{"nope"}, NewName: "x"}}); !errors.Is(err, iceberg.ErrEvolve) {
		t.Errorf("rename of a missing column: %v", err)
	}
}
