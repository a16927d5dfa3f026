package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// DeadLetter is a record that cannot be ingested. It carries the original
// bytes (the payload still encrypted), never anything decrypted.
type DeadLetter struct {
	Record Record
	Class  string
	// Reason is human-readable and free of plaintext: it is built from
	// the decoders' own messages, which never quote decrypted bytes.
	Reason   string
	SchemaID uint32
}

// Headers put on every dead-letter record.
const (
	HeaderClass     = "floe.error.class"
	HeaderReason    = "floe.error.reason"
	HeaderTopic     = "floe.source.topic"
	HeaderPartition = "floe.source.partition"
	HeaderOffset    = "floe.source.offset"
	HeaderTimestamp = "floe.source.timestamp"
)

// DeadLetterSink receives records that cannot be ingested.
type DeadLetterSink interface {
	// Send queues one dead letter; it may return before it is durable.
	Send(ctx context.Context, dl DeadLetter) error
	// Flush returns once every dead letter sent so far is durable, or the
	// first error that kept one from being so.
	Flush(ctx context.Context) error
	// Close flushes and releases the sink. Safe to call twice.
	Close(ctx context.Context) error
}

// KafkaDeadLetters writes dead letters to a Kafka topic with an idempotent
// producer: key and value as received, the class, reason and source
// coordinates as headers.
type KafkaDeadLetters struct {
	p     *kafka.Producer
	topic string

	mu      sync.Mutex
	pending int
	err     error
	done    chan struct{}
	closed  bool
}

// NewKafkaDeadLetters creates the producer. extra holds further librdkafka
// properties (TLS, SASL).
func NewKafkaDeadLetters(brokers, topic string, extra map[string]string) (*KafkaDeadLetters, error) {
	if topic == "" {
		return nil, errors.New("dead-letter topic is empty")
	}
	cm := kafka.ConfigMap{
		"bootstrap.servers":   brokers,
		"enable.idempotence":  true,
		"acks":                "all",
		"linger.ms":           5,
		"enable.metrics.push": false,
		"client.id":           "floe-dlq",
		// The Go client preallocates channels of a million events by
		// default (tens of MiB); dead letters are few.
		"go.events.channel.size":  10000,
		"go.produce.channel.size": 10000,
	}
	for k, v := range extra {
		cm[k] = v
	}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, fmt.Errorf("dead-letter producer: %w", err)
	}
	d := &KafkaDeadLetters{p: p, topic: topic, done: make(chan struct{})}
	go d.reports()
	return d, nil
}

func (d *KafkaDeadLetters) reports() {
	defer close(d.done)
	for ev := range d.p.Events() {
		m, ok := ev.(*kafka.Message)
		if !ok {
			continue
		}
		d.mu.Lock()
		d.pending--
		if m.TopicPartition.Error != nil && d.err == nil {
			d.err = fmt.Errorf("dead-letter write to %s: %w", d.topic, m.TopicPartition.Error)
		}
		d.mu.Unlock()
	}
}

// Send implements [DeadLetterSink].
func (d *KafkaDeadLetters) Send(ctx context.Context, dl DeadLetter) error {
	r := dl.Record
	headers := make([]kafka.Header, 0, len(r.Headers)+6)
	for _, h := range r.Headers {
		headers = append(headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	headers = append(headers,
		kafka.Header{Key: HeaderClass, Value: []byte(dl.Class)},
		kafka.Header{Key: HeaderReason, Value: []byte(dl.Reason)},
		kafka.Header{Key: HeaderTopic, Value: []byte(r.Topic)},
		kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	if !r.Timestamp.IsZero() {
		headers = append(headers, kafka.Header{Key: HeaderTimestamp, Value: []byte(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))})
	}
	msg := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &d.topic, Partition: kafka.PartitionAny},
		Key:            append([]byte(nil), r.Key...),
		Value:          append([]byte(nil), r.Value...),
		Headers:        headers,
	}
	for {
		d.mu.Lock()
		d.pending++
		d.mu.Unlock()
		err := d.p.Produce(msg, nil)
		if err == nil {
			return nil
		}
		d.mu.Lock()
		d.pending--
		d.mu.Unlock()
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.Code() == kafka.ErrQueueFull {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
				continue
			}
		}
		return fmt.Errorf("dead-letter write to %s: %w", d.topic, err)
	}
}

// Flush implements [DeadLetterSink].
func (d *KafkaDeadLetters) Flush(ctx context.Context) error {
	for {
		d.mu.Lock()
		pending, err := d.pending, d.err
		d.mu.Unlock()
		if err != nil {
			return err
		}
		if pending <= 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("dead-letter flush: %d not acknowledged: %w", pending, ctx.Err())
		}
		d.p.Flush(100)
	}
}

// Close implements [DeadLetterSink].
func (d *KafkaDeadLetters) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	err := d.Flush(ctx)
	d.p.Close()
	<-d.done
	return err
}
