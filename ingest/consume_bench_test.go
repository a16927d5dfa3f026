package ingest_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/devstack"
)

// cpuTime is this process's user + system CPU time, every thread
// (librdkafka's C threads included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fromStart is a Rebalancer that starts every partition at offset 0.
type fromStart struct{}

func (fromStart) Assigned(_ context.Context, tps []ingest.TopicPartition) (map[ingest.TopicPartition]int64, error) {
	out := make(map[ingest.TopicPartition]int64, len(tps))
	for _, tp := range tps {
		out[tp] = 0
	}
	return out, nil
}
func (fromStart) Revoked(context.Context, []ingest.TopicPartition) error { return nil }

// BenchmarkConsume is the consume stage alone: KafkaSource.Poll (librdkafka
// through confluent-kafka-go) reading contract events from the in-process
// broker over TCP, nothing decoded. The broker (kfake) runs in this process,
// so the CPU it takes to serve the fetches is counted too; in floe bench it
// runs in the parent and the ingest child pays only the client's share.
//
//	go test -run '^$' -bench Consume -benchtime 3x ./ingest
func BenchmarkConsume(b *testing.B) {
	const n, partitions = 200_000, 8
	ctx := context.Background()
	st, err := devstack.Start(ctx, devstack.Options{Partitions: partitions, Topic: "bench.consume", RegisterSchemas: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	gen, err := devstack.NewGenerator(devstack.GenOptions{Seed: 1, Merchants: 1000, ForeignShare: 0.05, IDs: st.IDs, Keys: devstack.GenerateKeyring("k1")})
	if err != nil {
		b.Fatal(err)
	}
	if err := devstack.Produce(ctx, st.Brokers, "bench.consume", gen.Events(n)); err != nil {
		b.Fatal(err)
	}
	var bytes int64
	run := 0
	cpu0 := cpuTime()
	for b.Loop() {
		run++
		src, err := ingest.NewKafkaSource(ingest.KafkaSourceConfig{Brokers: st.BrokersString(), Group: fmt.Sprintf("bench-%d", run), Topic: "bench.consume", Static: true, Extra: benchExtra()})
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		deadline := time.Now().Add(2 * time.Minute)
		for got < n {
			recs, err := src.Poll(ctx, fromStart{}, 10_000, 100*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			for i := range recs {
				bytes += int64(len(recs[i].Value))
			}
			got += len(recs)
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d records in 2 minutes", got, n)
			}
		}
		if got != n {
			b.Fatalf("%d records, want %d", got, n)
		}
		_ = src.Close()
	}
	events := float64(n) * float64(b.N)
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/events, "cpu-ns/event")
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	b.ReportMetric(float64(bytes)/events, "B/event")
}

func benchExtra() map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(os.Getenv("FLOE_BENCH_KAFKA"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
