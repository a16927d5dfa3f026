package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/floe-io/floe/dlqtable"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/keys"
	"github.com/floe-io/floe/schema"
)

// TestNoPlaintextLeaks corrupts valid generated events in every way the
// decoders can refuse them (at the envelope, the decryption and the
// decrypted payload), runs them through the same steps as the pipeline
// (CheckRecord, Decoder.Envelope, Keyring.Open, Decoder.Payload, Plan),
// dead-letters them into the Kafka topic sink and the Iceberg table sink,
// and searches every error message, dead-letter header and table column for
// the events' plaintext field values and the data keys.
func TestNoPlaintextLeaks(t *testing.T) {
	ctx := context.Background()
	st, err := devstack.Start(ctx, devstack.Options{Partitions: 1, Topic: "payments.transactions"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ids, err := contract.Register(ctx, st.RegistryURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	dataKeys := devstack.GenerateKeyring("k1", "k2")
	gen, err := devstack.NewGenerator(devstack.GenOptions{Seed: 6, Keys: dataKeys, IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	events := gen.Events(24)
	reg, err := schema.NewRegistry(st.RegistryURL)
	if err != nil {
		t.Fatal(err)
	}
	dec := schema.NewDecoder(reg)
	kr, err := keys.New(dataKeys)
	if err != nil {
		t.Fatal(err)
	}
	swapped, _ := keys.New(map[string][]byte{"k1": dataKeys["k2"], "k2": dataKeys["k1"]})
	onlyK1, _ := keys.New(map[string][]byte{"k1": dataKeys["k1"]})
	envSchema, err := schema.Compile(ids.Envelope, contract.Envelope)
	if err != nil {
		t.Fatal(err)
	}

	// The pipeline's steps for one record, up to the appender.
	const maxBytes = 4096
	process := func(kr *keys.Keyring, r *ingest.Record) error {
		if err := ingest.CheckRecord(r, maxBytes); err != nil {
			return err
		}
		env, err := dec.Envelope(ctx, r.Value)
		if err != nil {
			return err
		}
		pt, err := kr.Open(nil, env.KeyID, env.Payload, []byte(env.TransactionID))
		if err != nil {
			return err
		}
		p, err := dec.Payload(ctx, pt)
		if err != nil {
			return err
		}
		_, err = schema.Plan(schema.TableSchema(), p.Schema)
		return err
	}
	// reseal re-encodes an event with another plaintext, sealed with the
	// right key and AAD: a payload that decrypts but does not decode.
	reseal := func(ev devstack.Event, mutate func(pt []byte) []byte) []byte {
		env, err := dec.Envelope(ctx, ev.Value)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := kr.Open(nil, env.KeyID, env.Payload, []byte(env.TransactionID))
		if err != nil {
			t.Fatal(err)
		}
		payload, err := keys.Seal(nil, dataKeys[env.KeyID], nil, mutate(pt), []byte(env.TransactionID))
		if err != nil {
			t.Fatal(err)
		}
		_, body, _ := schema.ParseFrame(ev.Value)
		native, _, err := envSchema.Codec.NativeFromBinary(body)
		if err != nil {
			t.Fatal(err)
		}
		native.(map[string]any)["payload"] = payload
		out, err := envSchema.Codec.BinaryFromNative(schema.AppendFrame(nil, ids.Envelope), native)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	type corruption struct {
		name  string
		class string
		kr    *keys.Keyring
		value func(ev devstack.Event) []byte
	}
	flip := func(i int) func(devstack.Event) []byte {
		return func(ev devstack.Event) []byte {
			v := bytes.Clone(ev.Value)
			v[(len(v)+i)%len(v)] ^= 0x20
			return v
		}
	}
	corruptions := []corruption{
		{"bad magic", ingest.ClassBadMagic, kr, func(ev devstack.Event) []byte { v := bytes.Clone(ev.Value); v[0] = 1; return v }},
		{"unknown schema", ingest.ClassUnknownSchema, kr, func(ev devstack.Event) []byte { v := bytes.Clone(ev.Value); v[1] = 0x7f; return v }},
		{"truncated envelope", ingest.ClassMalformedAvro, kr, func(ev devstack.Event) []byte { return bytes.Clone(ev.Value[:len(ev.Value)-12]) }},
		{"empty value", ingest.ClassEmptyValue, kr, func(devstack.Event) []byte { return nil }},
		{"too large", ingest.ClassTooLarge, kr, func(ev devstack.Event) []byte { return append(bytes.Clone(ev.Value), make([]byte, maxBytes)...) }},
		{"tag flipped", ingest.ClassDecryptFailed, kr, flip(-1)},
		{"ciphertext flipped", ingest.ClassDecryptFailed, kr, flip(-20)},
		{"wrong key", ingest.ClassDecryptFailed, swapped, func(ev devstack.Event) []byte { return bytes.Clone(ev.Value) }},
		{"key not in keyring", ingest.ClassUnknownKey, onlyK1, func(ev devstack.Event) []byte { return bytes.Clone(ev.Value) }},
		{"plaintext truncated", ingest.ClassBadPayload, kr, func(ev devstack.Event) []byte {
			return reseal(ev, func(pt []byte) []byte { return pt[:len(pt)-3] })
		}},
		{"plaintext trailing bytes", ingest.ClassBadPayload, kr, func(ev devstack.Event) []byte {
			return reseal(ev, func(pt []byte) []byte { return append(pt, pt[5:]...) })
		}},
		{"plaintext not framed", ingest.ClassBadPayload, kr, func(ev devstack.Event) []byte {
			return reseal(ev, func(pt []byte) []byte { return pt[5:] })
		}},
		{"plaintext huge length", ingest.ClassBadPayload, kr, func(ev devstack.Event) []byte {
			return reseal(ev, func(pt []byte) []byte {
				return append(append(pt[:5:5], 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f), pt[5:]...)
			})
		}},
		{"plaintext is an envelope", ingest.ClassBadPayload, kr, func(ev devstack.Event) []byte {
			return reseal(ev, func(pt []byte) []byte { copy(pt[1:5], schema.AppendFrame(nil, ids.Envelope)[1:]); return pt })
		}},
		{"plaintext schema unknown", ingest.ClassUnknownSchema, kr, func(ev devstack.Event) []byte {
			return reseal(ev, func(pt []byte) []byte { copy(pt[1:5], schema.AppendFrame(nil, 4242)[1:]); return pt })
		}},
		{"plaintext relabelled as payment-bad-v4", ingest.ClassBadPayload, kr, func(ev devstack.Event) []byte {
			return reseal(ev, func(pt []byte) []byte { copy(pt[1:5], schema.AppendFrame(nil, ids.BadV4)[1:]); return pt })
		}},
	}

	// What must never appear: each event's decrypted field values, the
	// plaintext itself, and the data keys.
	var secrets []string
	for _, ev := range events {
		if !ev.Valid() {
			t.Fatalf("generated an invalid event %s", ev.Variant)
		}
		e := ev.Expect
		secrets = append(secrets, e.UserID, e.MerchantID, e.Amount, e.Currency, strings.ReplaceAll(e.Amount, ".", ""))
		if e.Channel != nil {
			secrets = append(secrets, *e.Channel)
		}
		if e.Country != nil {
			secrets = append(secrets, *e.Country)
		}
		env, _ := dec.Envelope(ctx, ev.Value)
		pt, _ := kr.Open(nil, env.KeyID, env.Payload, []byte(env.TransactionID))
		secrets = append(secrets, string(pt[5:]))
		// The values searched for really are in the plaintext (the search
		// can find what it looks for).
		if !strings.Contains(string(pt), e.UserID) || !strings.Contains(string(pt), e.MerchantID) {
			t.Fatalf("event %s: user_id/merchant_id not found in its plaintext", ev.TransactionID)
		}
	}
	for _, k := range dataKeys {
		secrets = append(secrets, string(k), base64.StdEncoding.EncodeToString(k))
	}
	leaks := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if len(s) >= 2 && strings.Contains(text, s) {
				t.Errorf("%s leaks plaintext %q: %q", where, s, text)
			}
		}
	}

	cat := tabletest.NewEnv(t).Open()
	ident := dlqtable.Name([]string{"payments", "transactions"})
	tableSink, err := dlqtable.New(ctx, cat, ident, dlqtable.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const dlqTopic = "payments.transactions.dlq"
	kafkaSink, err := ingest.NewKafkaDeadLetters(st.BrokersString(), dlqTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kafkaSink.Close(ctx)

	sent := map[int64][]byte{} // offset -> value
	var offset int64
	for _, c := range corruptions {
		for i, ev := range events {
			if c.name == "key not in keyring" && ev.KeyID != "k2" {
				continue
			}
			r := ingest.Record{Topic: "payments.transactions", Partition: 0, Offset: offset, Key: ev.Key, Value: c.value(ev)}
			offset++
			err := process(c.kr, &r)
			if got := ingest.Classify(err); got != c.class {
				t.Fatalf("%s, event %d: class %q (%v), want %q", c.name, i, got, err, c.class)
			}
			leaks(c.name+" error", err.Error())
			if errors.Is(err, keys.ErrUnknownKey) && !strings.Contains(err.Error(), `"k2"`) {
				t.Errorf("unknown key error %q does not name the key id", err)
			}
			dl := ingest.DeadLetter{Record: r, Class: c.class, Reason: err.Error()}
			if err := tableSink.Send(ctx, dl); err != nil {
				t.Fatal(err)
			}
			if err := kafkaSink.Send(ctx, dl); err != nil {
				t.Fatal(err)
			}
			sent[r.Offset] = r.Value
		}
	}
	if err := tableSink.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := kafkaSink.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	rows := tabletest.ReadDLQ(t, cat, ident)
	if len(rows) != len(sent) {
		t.Fatalf("table holds %d dead letters, sent %d", len(rows), len(sent))
	}
	for _, r := range rows {
		where := fmt.Sprintf("table row @%d", r.Offset)
		if !bytes.Equal(r.Value, sent[r.Offset]) || r.ValueNull != (sent[r.Offset] == nil) {
			t.Errorf("%s: value differs from the original bytes", where)
		}
		leaks(where+" reason", r.Reason)
		leaks(where+" class", r.Class)
		leaks(where+" topic", r.Topic)
		leaks(where+" key", string(r.Key))
		for _, s := range secrets {
			if len(s) >= 6 && bytes.Contains(r.Value, []byte(s)) {
				t.Errorf("%s: value holds plaintext %q", where, s)
			}
		}
	}

	recs, err := devstack.ReadAll(ctx, st.Brokers, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(sent) {
		t.Fatalf("DLQ topic holds %d records, sent %d", len(recs), len(sent))
	}
	for _, rec := range recs {
		var off string
		for _, h := range rec.Headers {
			leaks("DLQ header "+h.Key, string(h.Value))
			if h.Key == ingest.HeaderOffset {
				off = string(h.Value)
			}
		}
		var o int64
		fmt.Sscan(off, &o)
		if !bytes.Equal(rec.Value, sent[o]) {
			t.Errorf("DLQ record @%s: value differs from the original bytes", off)
		}
		leaks("DLQ key", string(rec.Key))
	}
}
