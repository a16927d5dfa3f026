package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/devstack"
)

// A source with a FetchWait gets a steady stream in fewer, larger
// fetches (librdkafka's fetch.min.bytes / fetch.wait.max.ms, honoured by
// the broker), and no record waits much longer than FetchWait for it.
// Without it, every few records the producer sends come back as a fetch
// of their own.
func TestFetchWaitBatchesFetches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and streams for seconds")
	}
	ctx := context.Background()
	const rate, stream = 4000, 3 * time.Second
	measure := func(wait time.Duration) (perPoll float64, worst time.Duration) {
		t.Helper()
		topic := fmt.Sprintf("fetchwait-%d", wait.Milliseconds())
		st, err := devstack.Start(ctx, devstack.Options{Partitions: 2, Topic: topic, RegisterSchemas: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		gen, err := devstack.NewGenerator(devstack.GenOptions{Seed: 1, Merchants: 100, IDs: st.IDs, Keys: devstack.GenerateKeyring("k1")})
		if err != nil {
			t.Fatal(err)
		}
		src, err := ingest.NewKafkaSource(ingest.KafkaSourceConfig{Brokers: st.BrokersString(), Group: topic, Topic: topic, Static: true, FetchWait: wait})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		pctx, cancel := context.WithTimeout(ctx, stream)
		defer cancel()
		produced := make(chan int64, 1)
		go func() {
			n, _ := devstack.ProduceStream(pctx, st.Brokers, topic, func() (devstack.Event, bool) { return gen.Next(), true }, rate)
			produced <- n
		}()
		var got, polls int64
		want := int64(-1)
		deadline := time.Now().Add(stream + 30*time.Second)
		for want < 0 || got < want {
			if time.Now().After(deadline) {
				t.Fatalf("wait %v: %d of %d records consumed", wait, got, want)
			}
			select {
			case want = <-produced:
			default:
			}
			// A short poll: what the consumer has queued, not what a
			// long wait would gather on this side.
			recs, err := src.Poll(ctx, fromStart{}, 100_000, 2*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				continue
			}
			now := time.Now()
			polls++
			got += int64(len(recs))
			for i := range recs {
				worst = max(worst, now.Sub(recs[i].Timestamp))
			}
		}
		if got == 0 {
			t.Fatalf("wait %v: nothing consumed", wait)
		}
		return float64(got) / float64(polls), worst
	}
	immediate, worstImmediate := measure(0)
	waited, worstWaited := measure(100 * time.Millisecond)
	t.Logf("records per non-empty poll: %.1f without a fetch wait (slowest record %v), %.1f with 100 ms (slowest %v)",
		immediate, worstImmediate, waited, worstWaited)
	if waited < 3*immediate {
		t.Errorf("a 100 ms fetch wait gave %.1f records per poll against %.1f without: fetches were not batched", waited, immediate)
	}
	if worstWaited > worstImmediate+100*time.Millisecond+400*time.Millisecond {
		t.Errorf("slowest record %v with a 100 ms fetch wait, %v without: the wait added more than it may", worstWaited, worstImmediate)
	}
}

// FetchWaitFor is a tenth of the trigger within [1 ms, 100 ms], and 0
// (answer at once) below.
func TestFetchWaitFor(t *testing.T) {
	for _, c := range []struct{ trigger, want time.Duration }{
		{time.Second, 100 * time.Millisecond},
		{10 * time.Second, 100 * time.Millisecond},
		{250 * time.Millisecond, 25 * time.Millisecond},
		{10 * time.Millisecond, time.Millisecond},
		{5 * time.Millisecond, 0},
	} {
		if got := ingest.FetchWaitFor(c.trigger); got != c.want {
			t.Errorf("FetchWaitFor(%v) = %v, want %v", c.trigger, got, c.want)
		}
	}
}
