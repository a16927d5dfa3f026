package schema

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"

	"github.com/floe-io/floe/keys"
)

const testTopic = "payments.transactions"

// pipeline runs one value through the decode path the way ingest does:
// Envelope -> keys.Open (AAD = transaction_id) -> Payload -> Plan, and
// applies the planned changes to its table (a new table, TableSchema,
// unless set), the way ingest evolves the table.
type pipeline struct {
	dec   *Decoder
	kr    *keys.Keyring
	table *iceberggo.Schema
}

type decoded struct {
	env       Envelope
	plaintext []byte
	payload   Payload
	changes   Changes
}

func (p *pipeline) run(ctx context.Context, value []byte) (decoded, error) {
	var d decoded
	var err error
	if d.env, err = p.dec.Envelope(ctx, value); err != nil {
		return d, err
	}
	if d.plaintext, err = p.kr.Open(nil, d.env.KeyID, d.env.Payload, []byte(d.env.TransactionID)); err != nil {
		return d, err
	}
	if d.payload, err = p.dec.Payload(ctx, d.plaintext); err != nil {
		return d, err
	}
	if p.table == nil {
		p.table = TableSchema()
	}
	if d.changes, err = Plan(p.table, d.payload.Schema); err != nil {
		return d, err
	}
	if len(d.changes) > 0 {
		p.table, err = ApplyChanges(p.table, d.changes)
	}
	return d, err
}

func TestContractVectors(t *testing.T) {
	v := loadVectors(t)
	reg, _ := startContractRegistry(t, v)
	p := &pipeline{dec: NewDecoder(reg), kr: v.keyring(t)}
	ctx := context.Background()

	row := rowSchema(t)
	evolutions := 0
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, row)
	defer rb.Release()

	appenders := map[uint32]*Appender{}
	for i, vec := range v.Valid {
		d, err := p.run(ctx, mustB64(t, vec.ValueB64))
		if err != nil {
			t.Fatalf("%s: %v", vec.Name, err)
		}
		if len(d.changes) != 0 {
			evolutions++
			t.Logf("%s (schema %d): table evolved by %s", vec.Name, d.payload.Schema.ID, d.changes)
		}
		if d.payload.Schema.ID != vec.PayloadSchemaID {
			t.Fatalf("%s: payload schema %d, want %d", vec.Name, d.payload.Schema.ID, vec.PayloadSchemaID)
		}
		if d.env.TransactionID != vec.Key {
			t.Fatalf("%s: transaction_id %q, want the record key %q", vec.Name, d.env.TransactionID, vec.Key)
		}
		a := appenders[d.payload.Schema.ID]
		if a == nil {
			if a, err = NewAppender(row, d.payload.Schema); err != nil {
				t.Fatalf("%s: %v", vec.Name, err)
			}
			appenders[d.payload.Schema.ID] = a
		}
		a.Append(rb, &d.env, &d.payload, RowMeta{Topic: testTopic, Partition: 3, Offset: int64(100 + i)})
	}

	// Starting from a new table, the vectors evolve it into the contract
	// table, at most once per payment version.
	if want := contractTable(t); !p.table.Equals(iceberggo.NewSchema(p.table.ID, want.Fields()...)) {
		t.Errorf("table after the vectors:\n%s\nwant the contract table:\n%s", p.table, want)
	}
	if evolutions == 0 || evolutions > 2 {
		t.Errorf("%d evolutions, want 1 or 2 (v2, v3)", evolutions)
	}

	rec := rb.NewRecordBatch()
	defer rec.Release()
	if int(rec.NumRows()) != len(v.Valid) {
		t.Fatalf("%d rows, want %d", rec.NumRows(), len(v.Valid))
	}
	for i, vec := range v.Valid {
		want := map[string]string{}
		for k, x := range vec.Expect {
			if x != nil {
				want[k] = fmt.Sprint(x)
			}
		}
		want[KafkaTopicColumn] = testTopic
		want[KafkaPartitionColumn] = "3"
		want[KafkaOffsetColumn] = fmt.Sprint(100 + i)
		for c, f := range row.Fields() {
			got, isNull := cellString(t, rec.Column(c), i)
			w, wantValue := want[f.Name]
			switch {
			case wantValue && isNull:
				t.Errorf("%s: %s is null, want %s", vec.Name, f.Name, w)
			case !wantValue && !isNull:
				t.Errorf("%s: %s = %s, want null", vec.Name, f.Name, got)
			case wantValue && got != w:
				t.Errorf("%s: %s = %s, want %s", vec.Name, f.Name, got, w)
			}
			delete(want, f.Name)
		}
		if len(want) != 0 {
			t.Errorf("%s: expected columns not in the row schema: %v", vec.Name, want)
		}
	}
}

// cellString renders one Arrow cell the way vectors.json writes values.
func cellString(t *testing.T, col arrow.Array, i int) (string, bool) {
	t.Helper()
	if col.IsNull(i) {
		return "", true
	}
	switch c := col.(type) {
	case *array.String:
		return c.Value(i), false
	case *array.Int32:
		return fmt.Sprint(c.Value(i)), false
	case *array.Int64:
		return fmt.Sprint(c.Value(i)), false
	case *array.Decimal128:
		return c.Value(i).ToString(c.DataType().(*arrow.Decimal128Type).Scale), false
	case *array.Timestamp:
		unit := c.DataType().(*arrow.TimestampType).Unit
		if unit != arrow.Microsecond {
			t.Fatalf("timestamp unit %s, want us", unit)
		}
		return time.UnixMicro(int64(c.Value(i))).UTC().Format("2006-01-02T15:04:05.000Z"), false
	}
	t.Fatalf("unexpected column type %s", col.DataType())
	return "", false
}

func TestContractInvalidVectors(t *testing.T) {
	v := loadVectors(t)
	reg, _ := startContractRegistry(t, v)
	ctx := context.Background()
	for _, vec := range v.Invalid {
		p := &pipeline{dec: NewDecoder(reg), kr: v.keyring(t), table: contractTable(t)}
		t.Run(vec.Name, func(t *testing.T) {
			d, err := p.run(ctx, mustB64(t, vec.ValueB64))
			if got := class(err); got != vec.ErrorClass {
				t.Fatalf("class %q (err %v), want %q (%s)", got, err, vec.ErrorClass, vec.Why)
			}
			msg := err.Error()
			t.Logf("%s: %s", vec.ErrorClass, msg)
			for _, secret := range secretsOf(d) {
				if strings.Contains(msg, secret) {
					t.Errorf("error message %q contains decrypted value %q", msg, secret)
				}
			}
		})
	}
}

// secretsOf lists what must never appear in an error: every decoded payload
// value (rendered as text and as JSON) and every 6-byte window of the
// plaintext.
func secretsOf(d decoded) []string {
	var out []string
	for _, x := range d.payload.Fields {
		if m, ok := x.(map[string]any); ok {
			for _, y := range m {
				x = y
			}
		}
		if x == nil {
			continue
		}
		s := fmt.Sprint(x)
		if r := decimalValue(x); r != nil {
			s = r.FloatString(2)
		}
		j, _ := json.Marshal(x)
		for _, c := range []string{s, string(j)} {
			if len(c) >= 3 { // shorter strings match by accident ("2" in "decimal(18,2)")
				out = append(out, c)
			}
		}
	}
	const window = 6
	for i := 0; i+window <= len(d.plaintext); i++ {
		out = append(out, string(d.plaintext[i:i+window]))
	}
	return out
}
