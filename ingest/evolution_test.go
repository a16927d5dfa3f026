package ingest_test

import (
	"context"
	crand "crypto/rand"
	"errors"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/linkedin/goavro/v2"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/keys"
	"github.com/floe-io/floe/schema"
)

// sealer builds encrypted events with any registered payment schema, the
// way a producer does: framed Avro payment, AES-256-GCM with the
// transaction id as AAD, framed envelope.
type sealer struct {
	env   *goavro.Codec
	envID uint32
	keyID string
	key   []byte
}

func newSealer(t *testing.T, e *env) *sealer {
	t.Helper()
	c, err := goavro.NewCodec(contract.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	return &sealer{env: c, envID: e.ids.Envelope, keyID: "k1", key: e.keyring["k1"]}
}

func (s *sealer) event(t *testing.T, txID string, schemaID uint32, codec *goavro.Codec, payment map[string]any) devstack.Event {
	t.Helper()
	pt := schema.AppendFrame(nil, schemaID)
	pt, err := codec.BinaryFromNative(pt, payment)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 12)
	_, _ = crand.Read(nonce)
	sealed, err := keys.Seal(nil, s.key, nonce, pt, []byte(txID))
	if err != nil {
		t.Fatal(err)
	}
	value := schema.AppendFrame(nil, s.envID)
	value, err = s.env.BinaryFromNative(value, map[string]any{
		"transaction_id": txID, "event_time": time.Date(2025, 11, 21, 0, 0, 0, 0, time.UTC),
		"source": "test", "key_id": s.keyID, "payload": sealed,
	})
	if err != nil {
		t.Fatal(err)
	}
	return devstack.Event{Key: []byte(txID), Value: value, TransactionID: txID}
}

func register(t *testing.T, e *env, text string) (uint32, *goavro.Codec) {
	t.Helper()
	reg, err := schema.NewRegistry(e.stack.RegistryURL)
	if err != nil {
		t.Fatal(err)
	}
	id, err := reg.Register(context.Background(), contract.PaymentSubject, text)
	if err != nil {
		t.Fatal(err)
	}
	c, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	return id, c
}

func generate(t *testing.T, e *env, prefix string, seed int64, mix devstack.VersionMix, n int) []devstack.Event {
	t.Helper()
	gen, err := devstack.NewGenerator(devstack.GenOptions{Seed: seed, Prefix: prefix, Keys: e.keyring, IDs: e.ids, Versions: mix})
	if err != nil {
		t.Fatal(err)
	}
	evs := gen.Events(n)
	if err := gen.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// badV4 makes n events whose payload is written with payment-bad-v4
// (currency int): incompatible with every table floe evolves.
func badV4(t *testing.T, e *env, s *sealer, prefix string, n int) []devstack.Event {
	t.Helper()
	c, err := goavro.NewCodec(contract.PaymentBadV4)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]devstack.Event, n)
	for i := range out {
		out[i] = s.event(t, prefix+strconv.Itoa(i), e.ids.BadV4, c, map[string]any{
			"amount": big.NewRat(1234, 100), "currency": int32(978), "user_id": "u-1", "merchant_id": "m-0001", "status": "CAPTURED",
		})
		out[i].Class = ingest.ClassIncompatibleSchema
	}
	return out
}

func shuffled(seed uint64, evs ...[]devstack.Event) []devstack.Event {
	var all []devstack.Event
	for _, e := range evs {
		all = append(all, e...)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all
}

func (e *env) runUntilEnd(t *testing.T, ctx context.Context, group string, opts ingest.Options) (*ingest.Pipeline, *iceberg.Writer, error) {
	t.Helper()
	opts.Until = e.ends(t)
	if opts.Trigger == 0 {
		opts.Trigger = 200 * time.Millisecond
	}
	p, w, closeAll := e.pipeline(t, group, opts)
	defer closeAll()
	err := p.Run(ctx)
	return p, w, err
}

func columnNames(sc *iceberggo.Schema) string {
	var out []string
	for _, f := range sc.Fields() {
		out = append(out, f.Name)
	}
	return strings.Join(out, ",")
}

// TestEvolutionStream streams v1 and v2 interleaved, then v3 interleaved
// with v1 and v2 (older writers after the table moved on), then bad-v4,
// then v3 again, and reads the table back: one new schema per evolution,
// field ids kept, every valid row intact (fee_bps beyond 2^31 after the
// widening), old rows null in new columns, every bad-v4 record
// dead-lettered with the table unchanged. Then the whole topic is replayed
// from the start into a new table, which must end up identical.
func TestEvolutionStream(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a broker, a registry and a catalog")
	}
	e := newEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newSealer(t, e)
	produce := func(evs []devstack.Event) {
		t.Helper()
		if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", evs); err != nil {
			t.Fatal(err)
		}
	}
	var all []devstack.Event

	// Phase 1: v1 and v2 interleaved.
	phase1 := shuffled(1, generate(t, e, "a1-", 1, devstack.VersionMix{V1: 1}, 300), generate(t, e, "a2-", 2, devstack.VersionMix{V2: 1}, 300))
	produce(phase1)
	all = append(all, phase1...)
	_, w, err := e.runUntilEnd(t, ctx, "g", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc1 := w.Schema()
	if got, want := columnNames(sc1), "transaction_id,event_time,source,amount,currency,user_id,merchant_id,status,channel,fee_bps,_kafka_topic,_kafka_partition,_kafka_offset,_ingested_at"; got != want {
		t.Fatalf("after v2: columns %s, want %s", got, want)
	}
	fee1, _ := sc1.FindFieldByName("fee_bps")
	if !fee1.Type.Equals(iceberggo.PrimitiveTypes.Int32) {
		t.Fatalf("after v2: fee_bps %s, want int", fee1.Type)
	}

	// Phase 2: v3 (fee_bps long, country) with v1 and v2 still writing.
	phase2 := shuffled(2,
		generate(t, e, "b3-", 3, devstack.VersionMix{V3: 1}, 400),
		generate(t, e, "b1-", 4, devstack.VersionMix{V1: 1}, 100),
		generate(t, e, "b2-", 5, devstack.VersionMix{V2: 1}, 100))
	// Phase 3: bad-v4, then v3 again.
	phase3 := badV4(t, e, s, "c4-", 25)
	phase4 := generate(t, e, "d3-", 6, devstack.VersionMix{V3: 1}, 200)
	for _, ph := range [][]devstack.Event{phase2, phase3, phase4} {
		produce(ph)
		all = append(all, ph...)
	}
	p, w, err := e.runUntilEnd(t, ctx, "g", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().DeadByClass[ingest.ClassIncompatibleSchema]; got != int64(len(phase3)) {
		t.Errorf("incompatible_schema dead letters: %d, want %d", got, len(phase3))
	}

	check := func(w *iceberg.Writer) {
		t.Helper()
		if err := w.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		tbl := w.Table()
		sc := tbl.Schema()
		if got, want := columnNames(sc), "transaction_id,event_time,source,amount,currency,user_id,merchant_id,status,channel,fee_bps,country,_kafka_topic,_kafka_partition,_kafka_offset,_ingested_at"; got != want {
			t.Errorf("columns %s, want %s", got, want)
		}
		// Schema history: created, v2, v3 — bad-v4 added nothing.
		if got := len(tbl.Schemas()); got != 3 {
			t.Errorf("%d schemas, want 3 (initial, v2, v3)", got)
		}
		fee, _ := sc.FindFieldByName("fee_bps")
		if !fee.Type.Equals(iceberggo.PrimitiveTypes.Int64) || fee.ID != fee1.ID {
			t.Errorf("fee_bps after v3: id %d %s, want id %d long", fee.ID, fee.Type, fee1.ID)
		}
		for _, old := range tbl.Schemas() {
			for _, f := range old.Fields() {
				if g, ok := sc.FindFieldByName(f.Name); !ok || g.ID != f.ID {
					t.Errorf("schema %d column %s id %d: now %d", old.ID, f.Name, f.ID, g.ID)
				}
			}
		}
		rows := tableRows(t, w)
		valid, big := 0, 0
		for _, ev := range all {
			if ev.Class != "" {
				if _, ok := rows[ev.TransactionID]; ok {
					t.Errorf("%s (%s) is in the table", ev.TransactionID, ev.Class)
				}
				continue
			}
			valid++
			got, ok := rows[ev.TransactionID]
			if !ok {
				t.Errorf("valid event %s missing", ev.TransactionID)
				continue
			}
			for k, want := range expectStrings(ev) {
				if got[k] != want {
					t.Errorf("%s: %s = %q, want %q", ev.TransactionID, k, got[k], want)
				}
			}
			if ev.Expect.FeeBps != nil && *ev.Expect.FeeBps > 1<<31 {
				big++
			}
		}
		if len(rows) != valid {
			t.Errorf("%d rows, want %d", len(rows), valid)
		}
		if big == 0 {
			t.Error("no fee_bps beyond 2^31 was checked")
		}
	}
	check(w)

	// Replay the whole topic from the start into a new table.
	e2 := *e
	e2.Env = tabletest.NewEnv(t)
	_, w2, err := e2.runUntilEnd(t, ctx, "replay", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	check(w2)
	if !w2.Schema().Equals(w.Schema()) {
		t.Errorf("replayed table schema\n%s\nwant\n%s", w2.Schema(), w.Schema())
	}
}

// TestEvolutionIncompatibleFail: with OnIncompatible fail, a bad-v4
// record stops the pipeline with an error naming the record and the field;
// nothing after it is committed and the table schema is unchanged.
func TestEvolutionIncompatibleFail(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	e := newEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	evs := append(generate(t, e, "a-", 1, devstack.VersionMix{V1: 1}, 50), badV4(t, e, newSealer(t, e), "bad-", 1)...)
	evs = append(evs, generate(t, e, "z-", 2, devstack.VersionMix{V1: 1}, 10)...)
	if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", evs); err != nil {
		t.Fatal(err)
	}
	_, w, err := e.runUntilEnd(t, ctx, "g", ingest.Options{OnIncompatible: ingest.OnIncompatibleFail})
	if err == nil || !errors.Is(err, schema.ErrIncompatibleSchema) {
		t.Fatalf("Run = %v, want an incompatible-schema error", err)
	}
	for _, want := range []string{"payments.transactions[0]@50", `"currency"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	rows := tableRows(t, w)
	for id := range rows {
		if strings.HasPrefix(id, "z-") || strings.HasPrefix(id, "bad-") {
			t.Errorf("%s committed after the failure", id)
		}
	}
	if len(w.Table().Schemas()) != 1 {
		t.Errorf("table schema changed: %d schemas", len(w.Table().Schemas()))
	}
	off, err := w.Offsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if got := off[iceberg.TopicPartition{Topic: "payments.transactions", Partition: 0}]; got > 50 {
		t.Errorf("offset recorded past the incompatible record: %d", got)
	}
}

// TestEvolutionNestedEnumAlias: a nested record gains a field, an enum
// gains a symbol and a field is renamed by alias (the column keeps its
// field id); records of the older writer keep landing after the rename.
func TestEvolutionNestedEnumAlias(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	e := newEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n1 = `{"type":"record","name":"Payment","namespace":"payments.v1","fields":[
	  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}},
	  {"name":"currency","type":"string"},
	  {"name":"user_id","type":"string"},
	  {"name":"merchant_id","type":"string"},
	  {"name":"status","type":{"type":"enum","name":"Status","symbols":["AUTHORIZED","CAPTURED"]}},
	  {"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"id","type":"string"}]}},
	  {"name":"tags","type":{"type":"array","items":"string"}}]}`
	const n2 = `{"type":"record","name":"Payment","namespace":"payments.v1","fields":[
	  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}},
	  {"name":"currency","type":"string"},
	  {"name":"buyer_id","aliases":["user_id"],"type":"string"},
	  {"name":"merchant_id","type":"string"},
	  {"name":"status","type":{"type":"enum","name":"Status","symbols":["AUTHORIZED","CAPTURED","CHARGEBACK"]}},
	  {"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"id","type":"string"},{"name":"tier","type":["null","string"],"default":null}]}},
	  {"name":"tags","type":{"type":"array","items":"string"}}]}`
	id1, c1 := register(t, e, n1)
	id2, c2 := register(t, e, n2)
	s := newSealer(t, e)
	var evs []devstack.Event
	for i := range 20 {
		evs = append(evs, s.event(t, "n1-"+strconv.Itoa(i), id1, c1, map[string]any{
			"amount": big.NewRat(int64(100+i), 100), "currency": "EUR", "user_id": "u-" + strconv.Itoa(i), "merchant_id": "m-1",
			"status": "CAPTURED", "customer": map[string]any{"id": "c-" + strconv.Itoa(i)}, "tags": []any{"x"},
		}))
	}
	for i := range 20 {
		evs = append(evs, s.event(t, "n2-"+strconv.Itoa(i), id2, c2, map[string]any{
			"amount": big.NewRat(int64(200+i), 100), "currency": "EUR", "buyer_id": "b-" + strconv.Itoa(i), "merchant_id": "m-1",
			"status": "CHARGEBACK", "customer": map[string]any{"id": "d-" + strconv.Itoa(i), "tier": goavro.Union("string", "gold")}, "tags": []any{},
		}))
	}
	// The older writer again, after the table moved on.
	for i := range 10 {
		evs = append(evs, s.event(t, "n1b-"+strconv.Itoa(i), id1, c1, map[string]any{
			"amount": big.NewRat(300, 100), "currency": "EUR", "user_id": "old-" + strconv.Itoa(i), "merchant_id": "m-1",
			"status": "AUTHORIZED", "customer": map[string]any{"id": "e"}, "tags": []any{"y", "z"},
		}))
	}
	if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", evs); err != nil {
		t.Fatal(err)
	}
	p, w, err := e.runUntilEnd(t, ctx, "g", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Dead != 0 {
		t.Fatalf("dead letters: %v", st.DeadByClass)
	}
	tbl := w.Table()
	sc := tbl.Schema()
	first := tbl.Schemas()[0]
	userID, _ := first.FindFieldByName("user_id")
	buyer, ok := sc.FindFieldByName("buyer_id")
	if !ok || buyer.ID != userID.ID {
		t.Fatalf("buyer_id %+v, want the field id %d of user_id\n%s", buyer, userID.ID, sc)
	}
	if _, ok := sc.FindFieldByName("user_id"); ok {
		t.Error("user_id still a column")
	}
	if _, ok := sc.FindFieldByName("customer.tier"); !ok {
		t.Errorf("customer.tier missing:\n%s", sc)
	}
	// created; n1 adds customer and tags; n2 renames and adds tier.
	if got := len(tbl.Schemas()); got != 3 {
		t.Errorf("%d schemas, want 3", got)
	}
	rows := tableRows(t, w)
	if len(rows) != len(evs) {
		t.Errorf("%d rows, want %d", len(rows), len(evs))
	}
	for id, want := range map[string]map[string]string{
		"n1-3":  {"buyer_id": "u-3", "status": "CAPTURED", "customer": `{"id":"c-3","tier":null}`, "tags": `["x"]`, "amount": "1.03"},
		"n2-4":  {"buyer_id": "b-4", "status": "CHARGEBACK", "customer": `{"id":"d-4","tier":"gold"}`, "tags": `[]`},
		"n1b-1": {"buyer_id": "old-1", "status": "AUTHORIZED", "customer": `{"id":"e","tier":null}`, "tags": `["y","z"]`},
	} {
		for k, v := range want {
			if got := rows[id][k]; got != v {
				t.Errorf("%s: %s = %q, want %q", id, k, got, v)
			}
		}
	}
}

// TestEvolutionConcurrent: two pipelines in one consumer group (one per
// partition) over one table meet the same new writer schema at once. One
// evolution wins, the other pipeline reloads and continues: the table gets
// exactly one new schema and every row.
func TestEvolutionConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	e := newEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	evs := append(generate(t, e, "v1-", 1, devstack.VersionMix{V1: 1}, 400), generate(t, e, "v3-", 2, devstack.VersionMix{V3: 1}, 400)...)
	if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", evs); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		wg   sync.WaitGroup
		errs [2]error
		ws   [2]*iceberg.Writer
	)
	ps := make([]*ingest.Pipeline, 2)
	closers := make([]func(), 2)
	for i := range ps {
		ps[i], ws[i], closers[i] = e.pipeline(t, "shared", ingest.Options{Trigger: 100 * time.Millisecond})
	}
	for i := range ps {
		wg.Go(func() { errs[i] = ps[i].Run(runCtx) })
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := ws[0].Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if snap := ws[0].Table().CurrentSnapshot(); snap != nil {
			off, err := ws[0].Offsets(ctx, "shared")
			if err != nil {
				t.Fatal(err)
			}
			var done int64
			for _, o := range off {
				done += o
			}
			if done == int64(len(evs)) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the pipelines did not ingest every record in time")
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	wg.Wait()
	for i := range closers {
		closers[i]()
		if errs[i] != nil {
			t.Errorf("pipeline %d: %v", i, errs[i])
		}
	}
	rows := tableRows(t, ws[0])
	if len(rows) != len(evs) {
		t.Errorf("%d rows, want %d", len(rows), len(evs))
	}
	for _, ev := range evs {
		got := rows[ev.TransactionID]
		for k, want := range expectStrings(ev) {
			if got[k] != want {
				t.Errorf("%s: %s = %q, want %q", ev.TransactionID, k, got[k], want)
				break
			}
		}
	}
	if got := len(ws[0].Table().Schemas()); got != 2 {
		t.Errorf("%d schemas, want 2 (initial and one evolution)", got)
	}
	var consumed int64
	for _, p := range ps {
		consumed += p.Stats().Rows
	}
	t.Logf("rows committed by the two pipelines: %d", consumed)
}

// TestEvolutionPlannedAgainstStaleTable: a pipeline whose table was evolved
// by another process since it last committed (here to v2: fee_bps int)
// meets a v3 payload (fee_bps long). Its plan, made against the table it
// knew, adds fee_bps long; the table now has fee_bps int, so the plan must
// be made again against the table as it is (widen fee_bps). Before that
// re-plan the pipeline stopped with "add column fee_bps long: exists as
// int" (seen in CI with three coordinated processes).
func TestEvolutionPlannedAgainstStaleTable(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	e := newEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v1 := generate(t, e, "v1-", 1, devstack.VersionMix{V1: 1}, 50)
	v3 := generate(t, e, "v3-", 2, devstack.VersionMix{V3: 1}, 50)
	if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", v1); err != nil {
		t.Fatal(err)
	}
	p, w, closeAll := e.pipeline(t, "stale", ingest.Options{Trigger: 100 * time.Millisecond})
	defer closeAll()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()

	other := e.Writer(nil, tabletest.Contract)
	waitOffsets := func(want int64) {
		t.Helper()
		for {
			if err := other.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			off, err := other.Offsets(ctx, "stale")
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for _, o := range off {
				n += o
			}
			if n >= want {
				return
			}
			select {
			case err := <-done:
				t.Fatalf("the pipeline stopped with %d of %d records committed: %v", n, want, err)
			case <-ctx.Done():
				t.Fatalf("%d of %d records committed in time", n, want)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	waitOffsets(int64(len(v1)))
	// Another process evolves the table the way a v2 payload does.
	if err := other.Evolve(ctx, []iceberg.Change{
		{Kind: iceberg.AddColumn, Name: "channel", Type: iceberggo.PrimitiveTypes.String},
		{Kind: iceberg.AddColumn, Name: "fee_bps", Type: iceberggo.PrimitiveTypes.Int32},
	}); err != nil {
		t.Fatal(err)
	}
	if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", v3); err != nil {
		t.Fatal(err)
	}
	waitOffsets(int64(len(v1) + len(v3)))
	stop()
	if err := <-done; err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	if f, ok := other.Schema().FindFieldByName("fee_bps"); !ok || !f.Type.Equals(iceberggo.PrimitiveTypes.Int64) {
		t.Errorf("fee_bps is %v, want long", f.Type)
	}
	rows := tableRows(t, w)
	if len(rows) != len(v1)+len(v3) {
		t.Errorf("%d rows, want %d", len(rows), len(v1)+len(v3))
	}
	for _, ev := range append(v1, v3...) {
		for k, want := range expectStrings(ev) {
			if got := rows[ev.TransactionID][k]; got != want {
				t.Errorf("%s: %s = %q, want %q", ev.TransactionID, k, got, want)
				break
			}
		}
	}
}
