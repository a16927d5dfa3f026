package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/telemetry"
)

// TestHostileInputThroughThePipeline runs the whole pipeline (broker over
// TCP, registry over HTTP, SQLite catalog, Kafka dead-letter topic) over
// the contract's vectors mixed with generated events, a share of them
// corrupted at random. It proves: every valid record once in the table,
// every invalid vector in the dead-letter topic with its class, every
// corrupted record in exactly one of the two, the stream never stopped,
// and no decrypted value of any event in the logs (debug level), the
// metrics, or the dead-letter output.
func TestHostileInputThroughThePipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	raw, err := os.ReadFile("../testdata/contract/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf struct {
		Keyring map[string]string `json:"keyring"`
		Valid   []struct {
			Key      string `json:"key"`
			ValueB64 string `json:"value_b64"`
		} `json:"valid"`
		Invalid []struct {
			Name       string `json:"name"`
			ValueB64   string `json:"value_b64"`
			ErrorClass string `json:"error_class"`
		} `json:"invalid"`
	}
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 3)
	e.keyring = map[string][]byte{}
	for id, b64 := range vf.Keyring {
		k, _ := base64.StdEncoding.DecodeString(b64)
		e.keyring[id] = k
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var records []*kgo.Record
	inTable := map[string]bool{}       // key -> must be in the table once
	vectorClass := map[string]string{} // key -> class it must be dead-lettered with
	corrupted := map[string]bool{}     // key -> must be in exactly one of table, DLQ
	for _, v := range vf.Valid {
		val, _ := base64.StdEncoding.DecodeString(v.ValueB64)
		records = append(records, &kgo.Record{Key: []byte(v.Key), Value: val})
		inTable[v.Key] = true
	}
	for _, v := range vf.Invalid {
		val, _ := base64.StdEncoding.DecodeString(v.ValueB64)
		key := "vector-" + v.Name
		records = append(records, &kgo.Record{Key: []byte(key), Value: val})
		vectorClass[key] = v.ErrorClass
	}
	gen, err := devstack.NewGenerator(devstack.GenOptions{Seed: 77, Keys: e.keyring, IDs: e.ids, Prefix: "hostile-"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var secrets []string
	for i := 0; i < 3000; i++ {
		ev := gen.Next()
		secrets = append(secrets, ev.Expect.UserID, ev.Expect.Amount)
		val := append([]byte(nil), ev.Value...)
		if rng.IntN(4) == 0 { // a quarter corrupted
			switch rng.IntN(4) {
			case 0: // a flipped byte in the tail: the payload's ciphertext or tag
				val[len(val)-1-rng.IntN(min(40, len(val)-1))] ^= byte(1 + rng.IntN(255))
			case 1: // cut short anywhere
				val = val[:rng.IntN(len(val))]
			case 2: // a wrong magic byte
				val[0] = byte(1 + rng.IntN(255))
			default: // a random schema id
				val[1], val[2], val[3], val[4] = byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))
			}
			corrupted[ev.TransactionID] = true
		} else {
			inTable[ev.TransactionID] = true
		}
		records = append(records, &kgo.Record{Key: []byte(ev.TransactionID), Value: val})
	}
	rng.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.stack.Brokers...), kgo.DefaultProduceTopic("payments.transactions"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	var logs bytes.Buffer
	metrics := telemetry.NewMetrics(nil)
	p, w, closeAll := e.pipeline(t, "hostile", ingest.Options{
		Trigger: 200 * time.Millisecond, Until: e.ends(t), Observer: metrics,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	runErr := p.Run(ctx)
	closeAll()
	if runErr != nil {
		t.Fatalf("the stream stopped: %v", runErr)
	}

	rows := tableRows(t, w) // fails on duplicates
	dl, err := devstack.ReadAll(ctx, e.stack.Brokers, "payments.transactions.dlq")
	if err != nil {
		t.Fatal(err)
	}
	dead := map[string]string{}
	var dlqBytes bytes.Buffer
	for _, r := range dl {
		dlqBytes.Write(r.Value)
		for _, h := range r.Headers {
			dlqBytes.WriteString(h.Key + "=" + string(h.Value) + "\n")
			if h.Key == ingest.HeaderClass {
				dead[string(r.Key)] = string(h.Value)
			}
		}
	}
	for key := range inTable {
		if _, ok := rows[key]; !ok {
			t.Errorf("valid record %s not in the table (dead-lettered as %q)", key, dead[key])
		}
	}
	for key, class := range vectorClass {
		if dead[key] != class {
			t.Errorf("vector %s: dead-letter class %q, want %q", key, dead[key], class)
		}
	}
	known := map[string]bool{}
	for _, c := range ingest.Classes {
		known[c] = true
	}
	stillValid := 0
	for key := range corrupted {
		_, landed := rows[key]
		class, deadLettered := dead[key]
		switch {
		case landed && deadLettered:
			t.Errorf("corrupted %s is both in the table and dead-lettered", key)
		case !landed && !deadLettered:
			t.Errorf("corrupted %s was lost", key)
		case deadLettered && !known[class]:
			t.Errorf("corrupted %s has class %q", key, class)
		case landed:
			stillValid++ // the corruption hit an envelope field and still decodes
		}
	}
	if len(rows) != len(inTable)+stillValid {
		t.Errorf("table has %d rows, want %d valid + %d still-decodable corrupted", len(rows), len(inTable), stillValid)
	}
	t.Logf("%d records: %d valid, %d invalid vectors, %d corrupted (%d still decodable); %d dead letters",
		len(records), len(inTable), len(vectorClass), len(corrupted), stillValid, len(dl))

	// No decrypted value anywhere it must not be.
	metricsText := &strings.Builder{}
	if n, err := testutil.GatherAndCount(metrics.Registry()); err != nil || n == 0 {
		t.Fatalf("metrics: %d, %v", n, err)
	}
	families, _ := metrics.Registry().Gather()
	for _, f := range families {
		metricsText.WriteString(f.String())
	}
	outputs := map[string]string{"logs": logs.String(), "metrics": metricsText.String(), "dead letters": dlqBytes.String()}
	// The searched values are real: the table does hold them.
	found := false
	for _, r := range rows {
		for _, s := range secrets[:2] {
			found = found || r["user_id"] == s
		}
		if strings.HasPrefix(r["transaction_id"], "hostile-") && r["user_id"] != "" {
			found = found || strings.Contains(strings.Join(secrets, "\x00"), r["user_id"])
		}
	}
	if !found {
		t.Fatal("no searched value is in the table: the search below would prove nothing")
	}
	if !strings.Contains(logs.String(), "commit") {
		t.Fatal("no log captured: the search below would prove nothing")
	}
	for _, s := range secrets {
		for where, text := range outputs {
			if strings.Contains(text, s) {
				t.Errorf("decrypted value %q found in the %s", s, where)
			}
		}
	}
}
