package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/google/uuid"
)

// KafkaBus is a Bus on one partition (0) of a Kafka topic: an idempotent
// producer (acks=all) and a consumer that assigns the partition at its end
// when the bus opens (no consumer group, nothing committed). The control
// topic holds the same metadata as the table's manifests; ACL it like the
// table.
type KafkaBus struct {
	subscribers
	p     *kafka.Producer
	c     *kafka.Consumer
	topic string
	log   *slog.Logger

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// controlOnly are properties of --kafka-config that belong to the source's
// group membership, not to the control channel's clients.
var controlOnly = map[string]bool{"group.id": true, "group.instance.id": true, "partition.assignment.strategy": true,
	"session.timeout.ms": true, "heartbeat.interval.ms": true, "group.protocol": true}

// NewKafkaBus creates topic (one partition) unless it exists, and opens the
// producer and the consumer. producerProps and consumerProps are extra
// librdkafka properties (TLS, SASL) for each.
func NewKafkaBus(ctx context.Context, brokers, topic string, producerProps, consumerProps map[string]string, log *slog.Logger) (*KafkaBus, error) {
	if topic == "" {
		return nil, errors.New("control topic is empty")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := ensureTopic(ctx, brokers, topic, producerProps); err != nil {
		return nil, fmt.Errorf("control topic %s: %w", topic, err)
	}
	pm := kafka.ConfigMap{
		"bootstrap.servers": brokers, "enable.idempotence": true, "acks": "all", "linger.ms": 0,
		"enable.metrics.push": false, "client.id": "floe-control",
		"go.events.channel.size": 1000, "go.produce.channel.size": 1000,
	}
	for k, v := range producerProps {
		pm[k] = v
	}
	p, err := kafka.NewProducer(&pm)
	if err != nil {
		return nil, fmt.Errorf("control producer: %w", err)
	}
	cm := kafka.ConfigMap{
		"bootstrap.servers": brokers, "group.id": "floe-control-" + uuid.NewString(),
		"enable.auto.commit": false, "enable.auto.offset.store": false, "isolation.level": "read_committed",
		"enable.metrics.push": false, "client.id": "floe-control", "fetch.wait.max.ms": 10,
	}
	for k, v := range consumerProps {
		if !controlOnly[k] {
			cm[k] = v
		}
	}
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("control consumer: %w", err)
	}
	// The end as of now: a message sent after NewKafkaBus returns is read.
	_, high, err := c.QueryWatermarkOffsets(topic, 0, 10000)
	if err != nil {
		c.Close()
		p.Close()
		return nil, fmt.Errorf("control topic %s: end offset: %w", topic, err)
	}
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.Offset(high)}}); err != nil {
		c.Close()
		p.Close()
		return nil, fmt.Errorf("control topic %s: assign: %w", topic, err)
	}
	b := &KafkaBus{p: p, c: c, topic: topic, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go b.drainEvents()
	go b.consume()
	return b, nil
}

func ensureTopic(ctx context.Context, brokers, topic string, props map[string]string) error {
	cm := kafka.ConfigMap{"bootstrap.servers": brokers, "enable.metrics.push": false}
	for k, v := range props {
		cm[k] = v
	}
	ac, err := kafka.NewAdminClient(&cm)
	if err != nil {
		return err
	}
	defer ac.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := ac.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: 1, ReplicationFactor: -1}})
	if err != nil {
		return err
	}
	for _, r := range res {
		if c := r.Error.Code(); c != kafka.ErrNoError && c != kafka.ErrTopicAlreadyExists {
			return r.Error
		}
	}
	return nil
}

// drainEvents reads the producer's other events (Send waits on its own
// delivery channel).
func (b *KafkaBus) drainEvents() {
	for range b.p.Events() {
	}
}

func (b *KafkaBus) consume() {
	defer close(b.done)
	for {
		select {
		case <-b.stop:
			return
		default:
		}
		ev := b.c.Poll(100)
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				b.log.Warn("control topic: read error", "err", e.TopicPartition.Error)
				continue
			}
			m, err := Unmarshal(e.Value)
			if err != nil {
				b.log.Warn("control topic: ignoring a message that is not a control message", "offset", int64(e.TopicPartition.Offset))
				continue
			}
			b.publish(m)
		case kafka.Error:
			b.log.Warn("control topic consumer", "err", e)
		}
	}
}

// Send implements Bus: it returns once the broker has the message.
func (b *KafkaBus) Send(ctx context.Context, m Message) error {
	v, err := m.Marshal()
	if err != nil {
		return err
	}
	delivered := make(chan kafka.Event, 1)
	if err := b.p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &b.topic, Partition: 0}, Value: v}, delivered); err != nil {
		return fmt.Errorf("control topic %s: %w", b.topic, err)
	}
	select {
	case ev := <-delivered:
		if km, ok := ev.(*kafka.Message); ok && km.TopicPartition.Error != nil {
			return fmt.Errorf("control topic %s: %w", b.topic, km.TopicPartition.Error)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return fmt.Errorf("control topic %s: no delivery report in 30s", b.topic)
	}
}

// Subscribe implements Bus.
func (b *KafkaBus) Subscribe() (<-chan Message, func()) { return b.subscribe() }

// Close stops the consumer and the producer and ends every subscription.
func (b *KafkaBus) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		_ = b.c.Close()
		b.p.Flush(5000)
		b.p.Close()
		b.closeAll()
	})
	return nil
}
