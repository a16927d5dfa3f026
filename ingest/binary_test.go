package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/devstack"
)

// TestBinaryColumnsKeepTheirBytes: bytes, fixed and uuid-on-fixed values,
// which the decoders hand over as slices of the decrypted plaintext, reach
// the table intact: through the compiled reader (a flat writer schema) and
// through goavro (a schema with an array). The pipeline clears the
// plaintext, but only after the row is appended.
func TestBinaryColumnsKeepTheirBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	e := newEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const fields = `
	  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}},
	  {"name":"currency","type":"string"},
	  {"name":"merchant_id","type":"string"},
	  {"name":"raw","type":"bytes"},
	  {"name":"fx","type":{"type":"fixed","name":"F4","size":4}},
	  {"name":"uid","type":{"type":"fixed","name":"U16","size":16,"logicalType":"uuid"}}`
	flatID, flat := register(t, e, `{"type":"record","name":"Payment","namespace":"payments.v1","fields":[`+fields+`]}`)
	nestedID, nested := register(t, e, `{"type":"record","name":"Payment","namespace":"payments.v1","fields":[`+fields+`,
	  {"name":"tags","type":{"type":"array","items":"string"}}]}`)
	s := newSealer(t, e)
	var evs []devstack.Event
	want := map[string][3][]byte{}
	for i := range 10 {
		id := "b-" + strconv.Itoa(i)
		raw, fx, uid := bytes.Repeat([]byte{byte(i + 1)}, 5+i), []byte{9, 8, 7, byte(i + 1)}, bytes.Repeat([]byte{0xa0 + byte(i)}, 16)
		want[id] = [3][]byte{raw, fx, uid}
		p := map[string]any{"amount": big.NewRat(int64(i), 100), "currency": "EUR", "merchant_id": "m-1", "raw": raw, "fx": fx, "uid": uid}
		sid, codec := flatID, flat
		if i%2 == 1 {
			sid, codec = nestedID, nested
			p["tags"] = []any{"t"}
		}
		evs = append(evs, s.event(t, id, sid, codec, p))
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
	rows := tableRows(t, w)
	for id, v := range want {
		u, err := uuid.FromBytes(v[2])
		if err != nil {
			t.Fatal(err)
		}
		for col, exp := range map[string]string{
			"raw": base64.StdEncoding.EncodeToString(v[0]),
			"fx":  base64.StdEncoding.EncodeToString(v[1]),
			"uid": u.String(),
		} {
			if got := rows[id][col]; got != exp {
				t.Errorf("%s: %s = %q, want %q", id, col, got, exp)
			}
		}
	}
}
