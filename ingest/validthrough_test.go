package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/schema"
)

// lagSource serves three partitions: 0 and 1 deliver four records per poll,
// partition 2 one (it lags, and its event times are older). The record value
// is "<merchant>|<event time ms>".
type lagSource struct {
	fakeSource
	queues [3][]ingest.Record
}

func (s *lagSource) Poll(ctx context.Context, rb ingest.Rebalancer, _ int, _ time.Duration) ([]ingest.Record, error) {
	if !s.started {
		s.started = true
		tps := []ingest.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}, {Topic: "t", Partition: 2}}
		if _, err := rb.Assigned(ctx, tps); err != nil {
			return nil, err
		}
	}
	s.clk.t = s.clk.t.Add(s.step)
	var out []ingest.Record
	for p, per := range []int{4, 4, 1} {
		n := min(per, len(s.queues[p]))
		out = append(out, s.queues[p][:n]...)
		s.queues[p] = s.queues[p][n:]
	}
	if len(out) == 0 {
		s.cancel()
	}
	return out, nil
}

// eventDecoder reads the event time from the value.
type eventDecoder struct{ s *schema.Schema }

func (d eventDecoder) Envelope(_ context.Context, v []byte) (schema.Envelope, error) {
	_, ms, _ := strings.Cut(string(v), "|")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return schema.Envelope{}, err
	}
	return schema.Envelope{TransactionID: "tx", EventTime: time.UnixMilli(n).UTC(), KeyID: "k", Payload: v}, nil
}

func (d eventDecoder) Payload(_ context.Context, pt []byte) (schema.Payload, error) {
	m, _, _ := strings.Cut(string(pt), "|")
	return schema.Payload{Schema: d.s, Fields: map[string]any{
		"amount": big.NewRat(1, 1), "currency": "USD", "user_id": "u", "merchant_id": m, "status": "CAPTURED",
	}}, nil
}

// TestValidThroughLaggingPartition runs three partitions into a real table,
// one lagging behind in delivery and in event time, and checks every
// snapshot's valid-through against what the snapshot holds: the minimum,
// over the partitions, of the largest event time committed from each.
func TestValidThroughLaggingPartition(t *testing.T) {
	v1, err := schema.Compile(2, contract.PaymentV1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, tabletest.Contract)

	clk := &clock{t: time.Unix(1000, 0)}
	src := &lagSource{fakeSource: fakeSource{step: 500 * time.Millisecond, clk: clk, cancel: cancel}}
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).UnixMilli()
	// eventTime[p][offset]: partitions 0 and 1 a second apart per record,
	// partition 2 an hour behind; partition 1 out of order now and then.
	eventTime := map[int32][]int64{}
	for p := range int32(3) {
		n := 24
		if p == 2 {
			n = 10
		}
		for i := range n {
			ms := base + int64(i)*1000
			if p == 2 {
				ms -= 3600_000
			}
			if p == 1 && i%5 == 3 {
				ms -= 4000 // late record: the maximum must not go back
			}
			eventTime[p] = append(eventTime[p], ms)
			src.queues[p] = append(src.queues[p], ingest.Record{Topic: "t", Partition: p, Offset: int64(i),
				Value: []byte(fmt.Sprintf("m-%d|%d", i%3, ms))})
		}
	}
	// Batches are cut by size (every 6 rows), so what each snapshot holds
	// does not depend on how long commits take.
	opts := ingest.Options{Group: "g", Now: clk.now, Trigger: time.Hour, MaxBatchRows: 6,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	p, err := ingest.New(src, eventDecoder{v1}, plainOpener{}, w, nopDLQ{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}

	tbl := e.Load(tabletest.Contract)
	// Walk the snapshots oldest first, merging the recorded offsets.
	committed := iceberg.Offsets{}
	var snapshots, withWatermark, lagBound int
	var last int64
	for _, s := range tbl.Metadata().Snapshots() {
		snapshots++
		o, err := iceberg.DecodeOffsets(s.Summary.Properties[iceberg.OffsetsKey("g")])
		if err != nil {
			t.Fatal(err)
		}
		for tp, next := range o {
			committed[tp] = next
		}
		// The oracle: per partition, the largest event time among the
		// offsets below the committed one.
		want, ok := int64(0), len(committed) == 3
		for part := range int32(3) {
			next, has := committed[iceberg.TopicPartition{Topic: "t", Partition: part}]
			if !has || next == 0 {
				ok = false
				continue
			}
			mx := eventTime[part][0]
			for _, ms := range eventTime[part][:next] {
				mx = max(mx, ms)
			}
			if want == 0 || mx < want {
				want = mx
			}
		}
		got, has := s.Summary.Properties[iceberg.ValidThroughKey("g")]
		if !ok {
			if has {
				t.Fatalf("snapshot %d: valid-through %s before every partition committed a row", snapshots, got)
			}
			continue
		}
		if !has {
			t.Fatalf("snapshot %d: no valid-through, want %d", snapshots, want)
		}
		n, err := strconv.ParseInt(got, 10, 64)
		if err != nil || n != want {
			t.Fatalf("snapshot %d: valid-through %s, want %d", snapshots, got, want)
		}
		if n < last {
			t.Fatalf("snapshot %d: valid-through went back from %d to %d", snapshots, last, n)
		}
		last = n
		withWatermark++
		if n < base-1800_000 {
			lagBound++ // held back by partition 2
		}
	}
	if snapshots < 4 || withWatermark < 3 || lagBound < 2 {
		t.Fatalf("%d snapshots, %d with a valid-through, %d held back by the lagging partition: the run did not exercise the case",
			snapshots, withWatermark, lagBound)
	}
	// At the end every partition is committed: the watermark is partition
	// 2's last event time (the smallest maximum).
	if want := eventTime[2][9]; last != want {
		t.Fatalf("final valid-through %d, want %d", last, want)
	}
}
