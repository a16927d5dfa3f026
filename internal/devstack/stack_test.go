package devstack_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
)

func startStack(t *testing.T, opts devstack.Options) *devstack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := devstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// newConsumer returns a librdkafka consumer in group, subscribed to topic.
func newConsumer(t *testing.T, s *devstack.Stack, group string) *kafka.Consumer {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":             s.BrokersString(),
		"group.id":                      group,
		"auto.offset.reset":             "earliest",
		"isolation.level":               "read_committed",
		"enable.auto.commit":            false,
		"enable.metrics.push":           false,
		"partition.assignment.strategy": "cooperative-sticky",
		"session.timeout.ms":            6000,
		"log_level":                     3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(s.Topic, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// consume reads n messages from c or fails after timeout.
func consume(t *testing.T, c *kafka.Consumer, n int, timeout time.Duration) []*kafka.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var out []*kafka.Message
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d of %d messages in %v", len(out), n, timeout)
		}
		m, err := c.ReadMessage(200 * time.Millisecond)
		if err != nil {
			var kerr kafka.Error
			if errors.As(err, &kerr) && kerr.IsTimeout() {
				continue
			}
			t.Fatalf("consume: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func TestStackEndToEnd(t *testing.T) {
	s := startStack(t, devstack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()

	ids, err := contract.Register(ctx, s.RegistryURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (contract.IDs{Envelope: 1, V1: 2, V2: 3, V3: 4, BadV4: 5}); ids != want {
		t.Fatalf("ids %+v, want %+v", ids, want)
	}

	keys := devstack.GenerateKeyring("k1", "k2")
	g, err := devstack.NewGenerator(devstack.GenOptions{Seed: 42, Keys: keys, IDs: ids, InvalidShare: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	events := g.Events(1000)
	before := time.Now().Add(-time.Second)
	if err := devstack.Produce(ctx, s.Brokers, s.Topic, events); err != nil {
		t.Fatal(err)
	}
	byKey := make(map[string]*devstack.Event, len(events))
	for i := range events {
		byKey[events[i].TransactionID] = &events[i]
	}

	c := newConsumer(t, s, "devstack-e2e")
	defer c.Close()
	msgs := consume(t, c, len(events), 20*time.Second)
	dec := newTestDecoder(s.RegistryURL, keys)
	partitions := map[int32]int{}
	decoded := 0
	for _, m := range msgs {
		e, ok := byKey[string(m.Key)]
		if !ok {
			t.Fatalf("unexpected or repeated key %q", m.Key)
		}
		delete(byKey, string(m.Key))
		if !bytes.Equal(m.Value, e.Value) {
			t.Fatalf("%s: value differs", e.TransactionID)
		}
		if m.Timestamp.Before(before) || m.Timestamp.After(time.Now()) {
			t.Errorf("%s: record timestamp %v", e.TransactionID, m.Timestamp)
		}
		partitions[m.TopicPartition.Partition]++
		if e.Valid() {
			r, _, err := dec.row(ctx, m.Value)
			if err != nil {
				t.Fatalf("%s: %v", e.TransactionID, err)
			}
			if formatRow(r) != formatRow(e.Expect) {
				t.Fatalf("%s:\n got %s\nwant %s", e.TransactionID, formatRow(r), formatRow(e.Expect))
			}
			decoded++
		} else {
			checkDefect(t, ctx, dec, ids, keys, *e)
		}
	}
	if decoded != 900 {
		t.Errorf("%d valid events decoded, want 900", decoded)
	}
	if len(partitions) != s.Partitions {
		t.Errorf("records on %d partitions, want %d", len(partitions), s.Partitions)
	}

	recs, err := devstack.ReadAll(ctx, s.Brokers, s.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(events) {
		t.Fatalf("ReadAll: %d records, want %d", len(recs), len(events))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[string(r.Key)] = true
	}
	if len(seen) != len(events) {
		t.Errorf("ReadAll: %d distinct keys", len(seen))
	}
}

// TestConsumerGroupRestart checks a librdkafka consumer group resumes from
// committed offsets after its consumer is closed and a new one starts,
// against a broker that outlives both.
func TestConsumerGroupRestart(t *testing.T) {
	s := startStack(t, devstack.Options{Partitions: 3, RegisterSchemas: true})
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	g, err := devstack.NewGenerator(devstack.GenOptions{Keys: devstack.GenerateKeyring(), IDs: s.IDs})
	if err != nil {
		t.Fatal(err)
	}
	if err := devstack.Produce(ctx, s.Brokers, s.Topic, g.Events(200)); err != nil {
		t.Fatal(err)
	}

	const group = "devstack-restart"
	got := map[string]int{}
	c1 := newConsumer(t, s, group)
	for _, m := range consume(t, c1, 120, 15*time.Second) {
		got[string(m.Key)]++
	}
	if _, err := c1.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}

	// The rest, and what is produced while no consumer runs.
	if err := devstack.Produce(ctx, s.Brokers, s.Topic, g.Events(50)); err != nil {
		t.Fatal(err)
	}
	c2 := newConsumer(t, s, group)
	defer c2.Close()
	for _, m := range consume(t, c2, 250-120, 15*time.Second) {
		got[string(m.Key)]++
	}
	if len(got) != 250 {
		t.Errorf("%d distinct records, want 250", len(got))
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("%s read %d times", k, n)
		}
	}
	// Nothing more: the committed offsets were honoured exactly.
	if m, err := c2.ReadMessage(500 * time.Millisecond); err == nil {
		t.Errorf("extra message %s", m.Key)
	}
}

func TestStackFixedPortsAndClose(t *testing.T) {
	s := startStack(t, devstack.Options{Topic: "t1", ExtraTopics: []string{"t1.dlq"}, Partitions: 2})
	if len(s.Brokers) != 1 || s.BrokersString() != s.Brokers[0] || s.Topic != "t1" {
		t.Fatalf("stack %+v", s)
	}
	var kafkaPort, regPort int
	if _, err := fmt.Sscanf(s.Brokers[0], "127.0.0.1:%d", &kafkaPort); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscanf(s.RegistryURL, "http://127.0.0.1:%d", &regPort); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // twice is fine
		t.Fatal(err)
	}
	// The ports are free again: a new stack can take them.
	s2 := startStack(t, devstack.Options{KafkaPort: kafkaPort, RegistryPort: regPort, RegisterSchemas: true})
	if s2.Brokers[0] != s.Brokers[0] || s2.RegistryURL != s.RegistryURL {
		t.Errorf("restarted at %v %s, want %v %s", s2.Brokers, s2.RegistryURL, s.Brokers, s.RegistryURL)
	}
	if s2.IDs.BadV4 != 5 {
		t.Errorf("ids %+v", s2.IDs)
	}
	if _, err := devstack.Start(context.Background(), devstack.Options{Partitions: -1}); err == nil {
		t.Error("negative partitions: no error")
	}
}

// TestBrokerRestartWithDataDir checks a stack restarted on the same port
// with the same DataDir keeps records and committed group offsets.
func TestBrokerRestartWithDataDir(t *testing.T) {
	dir := t.TempDir()
	s := startStack(t, devstack.Options{DataDir: dir, Partitions: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	g, err := devstack.NewGenerator(devstack.GenOptions{Keys: devstack.GenerateKeyring()})
	if err != nil {
		t.Fatal(err)
	}
	if err := devstack.Produce(ctx, s.Brokers, s.Topic, g.Events(100)); err != nil {
		t.Fatal(err)
	}
	const group = "devstack-datadir"
	c1 := newConsumer(t, s, group)
	got := map[string]bool{}
	for _, m := range consume(t, c1, 60, 15*time.Second) {
		got[string(m.Key)] = true
	}
	if _, err := c1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	port := 0
	if _, err := fmt.Sscanf(s.Brokers[0], "127.0.0.1:%d", &port); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := startStack(t, devstack.Options{DataDir: dir, Partitions: 2, KafkaPort: port})
	c2 := newConsumer(t, s2, group)
	defer c2.Close()
	for _, m := range consume(t, c2, 40, 15*time.Second) {
		if got[string(m.Key)] {
			t.Errorf("%s read again after restart", m.Key)
		}
		got[string(m.Key)] = true
	}
	if len(got) != 100 {
		t.Errorf("%d distinct records, want 100", len(got))
	}
}
