package devstack_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
)

// registry starts an srfake registry over HTTP with the contract schemas.
func registry(t testing.TB) (string, contract.IDs) {
	t.Helper()
	srv := httptest.NewServer(srfake.NewRegistry().Handler())
	t.Cleanup(srv.Close)
	ids, err := contract.Register(context.Background(), srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, ids
}

func testKeys() map[string][]byte {
	return map[string][]byte{
		"k1": bytes.Repeat([]byte{1}, 32),
		"k2": bytes.Repeat([]byte{2}, 32),
	}
}

func formatRow(r *devstack.Row) string {
	if r == nil {
		return "<nil>"
	}
	opt := func(p *string) string {
		if p == nil {
			return "null"
		}
		return fmt.Sprintf("%q", *p)
	}
	fee := "null"
	if r.FeeBps != nil {
		fee = fmt.Sprint(*r.FeeBps)
	}
	return fmt.Sprintf("%s %s %s %s %s %s %q %s ch=%s fee=%s country=%s",
		r.TransactionID, r.EventTime.UTC().Format(time.RFC3339Nano), r.Source, r.Amount, r.Currency,
		r.UserID, r.MerchantID, r.Status, opt(r.Channel), fee, opt(r.Country))
}

// TestDecoderAgainstVectors checks the tests' own decoder on the reference
// vectors, so it can be trusted to check the generator.
func TestDecoderAgainstVectors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "contract", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Keyring map[string][]byte `json:"keyring"`
		Valid   []struct {
			Name   string `json:"name"`
			Value  string `json:"value_b64"`
			Expect struct {
				TransactionID string  `json:"transaction_id"`
				EventTime     string  `json:"event_time"`
				Source        string  `json:"source"`
				Amount        string  `json:"amount"`
				Currency      string  `json:"currency"`
				UserID        string  `json:"user_id"`
				MerchantID    string  `json:"merchant_id"`
				Status        string  `json:"status"`
				Channel       *string `json:"channel"`
				FeeBps        *int64  `json:"fee_bps"`
				Country       *string `json:"country"`
			} `json:"expect"`
		} `json:"valid"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	url, _ := registry(t)
	dec := newTestDecoder(url, v.Keyring)
	for _, vec := range v.Valid {
		value, err := base64.StdEncoding.DecodeString(vec.Value)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := dec.row(context.Background(), value)
		if err != nil {
			t.Errorf("%s: %v", vec.Name, err)
			continue
		}
		x := vec.Expect
		ts, err := time.Parse(time.RFC3339Nano, x.EventTime)
		if err != nil {
			t.Fatal(err)
		}
		want := &devstack.Row{
			TransactionID: x.TransactionID, EventTime: ts, Source: x.Source, Amount: x.Amount,
			Currency: x.Currency, UserID: x.UserID, MerchantID: x.MerchantID, Status: x.Status,
			Channel: x.Channel, FeeBps: x.FeeBps, Country: x.Country,
		}
		if formatRow(got) != formatRow(want) {
			t.Errorf("%s:\n got %s\nwant %s", vec.Name, formatRow(got), formatRow(want))
		}
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	opts := devstack.GenOptions{Seed: 7, Keys: testKeys(), InvalidShare: 0.2}
	a, err := devstack.NewGenerator(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := devstack.NewGenerator(opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Seed = 8
	c, err := devstack.NewGenerator(opts)
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := range 300 {
		ea, eb, ec := a.Next(), b.Next(), c.Next()
		if !bytes.Equal(ea.Value, eb.Value) || !bytes.Equal(ea.Key, eb.Key) || ea.Class != eb.Class {
			t.Fatalf("event %d differs between generators with the same seed", i)
		}
		if bytes.Equal(ea.Value, ec.Value) && ea.Variant != devstack.VariantTooShort {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d events identical with another seed", same)
	}
}

func TestGeneratorEvents(t *testing.T) {
	url, ids := registry(t)
	keys := testKeys()
	const n, share = 2100, 0.1
	g, err := devstack.NewGenerator(devstack.GenOptions{Seed: 1, Keys: keys, IDs: ids, InvalidShare: share, Prefix: "gen-"})
	if err != nil {
		t.Fatal(err)
	}
	events := g.Events(n)
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	if len(events) != n {
		t.Fatalf("%d events, want %d", len(events), n)
	}
	dec := newTestDecoder(url, keys)
	ctx := context.Background()
	perClass := map[string]int{}
	perVariant := map[string]int{}
	perVersion := map[uint32]int{}
	txIDs := map[string]bool{}
	foreign := 0
	for i, e := range events {
		if txIDs[e.TransactionID] {
			t.Fatalf("transaction id %s repeated", e.TransactionID)
		}
		txIDs[e.TransactionID] = true
		if string(e.Key) != e.TransactionID || !strings.HasPrefix(e.TransactionID, "gen-") {
			t.Errorf("event %d: key %q, transaction id %q", i, e.Key, e.TransactionID)
		}
		if !e.Valid() {
			perClass[e.Class]++
			perVariant[e.Variant]++
			if e.Expect != nil {
				t.Errorf("invalid event %d has an expected row", i)
			}
			checkDefect(t, ctx, dec, ids, keys, e)
			continue
		}
		got, id, err := dec.row(ctx, e.Value)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if formatRow(got) != formatRow(e.Expect) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, formatRow(got), formatRow(e.Expect))
		}
		if id != e.PayloadSchemaID {
			t.Errorf("event %d: payload schema %d, event says %d", i, id, e.PayloadSchemaID)
		}
		perVersion[id]++
		if home, _ := g.HomeCurrency(got.MerchantID); home != got.Currency {
			foreign++
		}
	}
	invalid := 0
	for _, c := range devstack.Classes() {
		invalid += perClass[c]
		if want := int(n * share / 7); perClass[c] != want {
			t.Errorf("class %s: %d events, want %d", c, perClass[c], want)
		}
	}
	if invalid != int(n*share) {
		t.Errorf("%d invalid events, want %d", invalid, int(n*share))
	}
	for _, v := range []string{devstack.VariantTooShort, devstack.VariantWrongAAD, devstack.VariantWrongKey, devstack.VariantPayloadTooShort} {
		if perVariant[v] == 0 {
			t.Errorf("no %s events", v)
		}
	}
	valid := n - invalid
	for id, share := range map[uint32]float64{ids.V1: 0.5, ids.V2: 0.3, ids.V3: 0.2} {
		if got := float64(perVersion[id]) / float64(valid); got < share-0.06 || got > share+0.06 {
			t.Errorf("schema %d: share %.2f, want about %.2f", id, got, share)
		}
	}
	if f := float64(foreign) / float64(valid); f < 0.02 || f > 0.09 {
		t.Errorf("foreign currency share %.3f, want about 0.05", f)
	}
}

// checkDefect checks an invalid event carries the defect of its class.
func checkDefect(t *testing.T, ctx context.Context, dec *testDecoder, ids contract.IDs, keys map[string][]byte, e devstack.Event) {
	t.Helper()
	fail := func(format string, a ...any) {
		t.Helper()
		t.Errorf("%s (%s/%s): %s", e.TransactionID, e.Class, e.Variant, fmt.Sprintf(format, a...))
	}
	v := e.Value
	if e.Class == devstack.ClassBadMagic {
		if len(v) >= 5 && v[0] == 0 {
			fail("value is framed")
		}
		return
	}
	if len(v) < 5 || v[0] != 0 {
		fail("value is not framed")
		return
	}
	id := binary.BigEndian.Uint32(v[1:5])
	if e.Class == devstack.ClassUnknownSchema {
		if id != devstack.UnknownSchemaID {
			fail("schema id %d", id)
		}
		if _, err := dec.codec(ctx, id); err == nil {
			fail("registry knows schema %d", id)
		}
		return
	}
	if id != ids.Envelope {
		fail("envelope schema id %d", id)
	}
	env, err := dec.envelope(ctx, v)
	if e.Class == devstack.ClassMalformedAvro {
		if err == nil {
			fail("envelope decodes")
		}
		return
	}
	if err != nil {
		fail("envelope: %v", err)
		return
	}
	if env.TransactionID != e.TransactionID || env.KeyID != e.KeyID {
		fail("envelope %s/%s, event %s/%s", env.TransactionID, env.KeyID, e.TransactionID, e.KeyID)
	}
	if e.Class == devstack.ClassUnknownKey {
		if env.KeyID != devstack.UnknownKeyID || keys[env.KeyID] != nil {
			fail("key id %q", env.KeyID)
		}
		return
	}
	plain, err := dec.open(env.KeyID, env.Payload, []byte(env.TransactionID))
	if e.Class == devstack.ClassDecryptFailed {
		if err == nil {
			fail("payload opens")
		}
		return
	}
	if err != nil {
		fail("open: %v", err)
		return
	}
	pid, body, err := parseFrame(plain)
	switch e.Class {
	case devstack.ClassBadPayload:
		if err == nil {
			fail("plaintext is framed")
		}
	case devstack.ClassIncompatibleSchema:
		if err != nil || pid != ids.BadV4 {
			fail("payload schema %d (%v), want %d", pid, err, ids.BadV4)
			return
		}
		c, err := dec.codec(ctx, pid)
		if err != nil {
			fail("%v", err)
			return
		}
		native, _, err := c.NativeFromBinary(body)
		if err != nil {
			fail("bad-v4 payload: %v", err)
			return
		}
		if _, ok := native.(map[string]any)["currency"].(int32); !ok {
			fail("currency is not an int")
		}
	default:
		fail("unknown class")
	}
}

func TestGeneratorExoticMerchants(t *testing.T) {
	url, ids := registry(t)
	keys := devstack.GenerateKeyring("a", "b", "c")
	g, err := devstack.NewGenerator(devstack.GenOptions{Seed: 3, Keys: keys, IDs: ids, Merchants: 10, ExoticMerchants: true})
	if err != nil {
		t.Fatal(err)
	}
	dec := newTestDecoder(url, keys)
	seen := map[string]bool{}
	for _, e := range g.Events(500) {
		r, _, err := dec.row(context.Background(), e.Value)
		if err != nil {
			t.Fatal(err)
		}
		if formatRow(r) != formatRow(e.Expect) {
			t.Fatalf("got %s, want %s", formatRow(r), formatRow(e.Expect))
		}
		seen[r.MerchantID] = true
	}
	for _, m := range devstack.ExoticMerchantIDs() {
		if !seen[m] {
			t.Errorf("merchant %q never seen", m)
		}
		if !utf8.ValidString(m) {
			t.Errorf("merchant %q is not UTF-8", m)
		}
	}
	if len(g.MerchantIDs()) != 10 || !seen["m-0010"] {
		t.Errorf("merchants %q", g.MerchantIDs())
	}
}

func TestGeneratorClockAndOneKey(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678_901_234, time.UTC)
	g, err := devstack.NewGenerator(devstack.GenOptions{
		Keys: devstack.GenerateKeyring(), InvalidShare: 1, Clock: func() time.Time { return now },
		Versions: devstack.VersionMix{V3: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	url, ids := registry(t)
	dec := newTestDecoder(url, nil)
	for _, e := range g.Events(70) {
		if e.Valid() {
			t.Fatal("valid event with InvalidShare 1")
		}
		if e.Variant == devstack.VariantWrongKey { // one key: sealed with a stray key
			env, err := dec.envelope(context.Background(), e.Value)
			if err != nil || env.KeyID != "k1" || !env.EventTime.Equal(now.Truncate(time.Millisecond)) {
				t.Errorf("wrong-key envelope %+v, %v", env, err)
			}
		}
		if e.Class == devstack.ClassIncompatibleSchema && e.PayloadSchemaID != ids.BadV4 {
			t.Errorf("incompatible event with payload schema %d", e.PayloadSchemaID)
		}
	}
}

func TestGeneratorOptionErrors(t *testing.T) {
	for name, o := range map[string]devstack.GenOptions{
		"no keys":       {},
		"short key":     {Keys: map[string][]byte{"k1": {1, 2}}},
		"k9 in keyring": {Keys: devstack.GenerateKeyring("k1", "k9")},
		"unknown keyid": {Keys: devstack.GenerateKeyring("k1"), KeyIDs: []string{"k2"}},
		"share":         {Keys: devstack.GenerateKeyring(), InvalidShare: 1.5},
		"mix":           {Keys: devstack.GenerateKeyring(), Versions: devstack.VersionMix{V1: -1, V2: 1}},
		"ids":           {Keys: devstack.GenerateKeyring(), IDs: contract.IDs{Envelope: 1}},
	} {
		if _, err := devstack.NewGenerator(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func BenchmarkGeneratorNext(b *testing.B) {
	g, err := devstack.NewGenerator(devstack.GenOptions{Keys: devstack.GenerateKeyring("k1", "k2"), InvalidShare: 0.01})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
