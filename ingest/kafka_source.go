package ingest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// KafkaSourceConfig configures a [KafkaSource].
type KafkaSourceConfig struct {
	// Brokers is the bootstrap list, "host:port[,host:port]".
	Brokers string
	// Group is the consumer group. With Partitions nil the source joins it
	// and follows its assignments.
	Group string
	// Topic is the one topic to read.
	Topic string
	// Partitions, when not nil, are assigned statically instead of joining
	// the group (backfill and demo); an empty non-nil slice means every
	// partition of the topic.
	Partitions []int32
	// Static reports whether Partitions is in effect (Partitions may be
	// empty to mean "all").
	Static bool
	// Extra holds further librdkafka properties (TLS, SASL, tuning). They
	// override the defaults.
	Extra map[string]string
	// InstanceID, when set, makes the source a static member of Group
	// (group.instance.id, KIP-345): a process restarted with the same id
	// takes its predecessor's place at once instead of waiting for the
	// predecessor's session to expire. Two live processes with one id
	// fence each other: the older gets a *FencedError. Not used with
	// Static.
	InstanceID string
	// SessionTimeout is how long the group waits for a silent member
	// before giving its partitions to others (session.timeout.ms; 0 keeps
	// librdkafka's 45 s). The heartbeat interval follows it (a third of
	// it, at most librdkafka's 3 s). Not used with Static.
	SessionTimeout time.Duration
	// FetchWait, when positive, lets the broker hold a fetch until
	// FetchMinBytes have arrived or FetchWait has passed
	// (fetch.wait.max.ms, fetch.min.bytes), instead of answering as soon
	// as one record is there (librdkafka's fetch.min.bytes=1). Under a
	// steady stream that turns hundreds of small fetches per second into
	// a few large ones; each record waits at most FetchWait longer.
	// FetchWaitFor derives it from the trigger.
	FetchWait time.Duration
	// OnEvent, when set, is told of assignments, revocations, lost
	// assignments and fencing, from the goroutine that calls Poll.
	OnEvent func(SourceEvent)
}

// EOFListener is implemented by a Rebalancer that wants to know when a
// partition has been read to its current end.
type EOFListener interface {
	EOF(tp TopicPartition, offset int64)
}

// KafkaSource reads one topic with confluent-kafka-go (librdkafka): manual
// offsets, read_committed, start positions chosen by the [Rebalancer].
type KafkaSource struct {
	cfg      KafkaSourceConfig
	c        *kafka.Consumer
	rb       Rebalancer
	ctx      context.Context
	cbErr    error
	assigned map[TopicPartition]kafka.Offset
	started  bool
	recs     []Record
	// fatal is set once librdkafka raised a fatal error: Close must not
	// wait for the consumer to leave the group then (see Close).
	fatal bool
}

// NewKafkaSource creates the consumer. It does not talk to the brokers yet.
func NewKafkaSource(cfg KafkaSourceConfig) (*KafkaSource, error) {
	if cfg.Brokers == "" {
		return nil, errors.New("kafka source: no brokers")
	}
	if cfg.Topic == "" {
		return nil, errors.New("kafka source: no topic")
	}
	cm, err := consumerConfig(cfg)
	if err != nil {
		return nil, err
	}
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, fmt.Errorf("kafka source: %w", err)
	}
	return &KafkaSource{cfg: cfg, c: c, assigned: map[TopicPartition]kafka.Offset{}}, nil
}

// Poll implements [Source].
func (s *KafkaSource) Poll(ctx context.Context, rb Rebalancer, max int, wait time.Duration) ([]Record, error) {
	s.rb, s.ctx = rb, ctx
	defer func() { s.ctx = nil }()
	if !s.started {
		if err := s.start(ctx); err != nil {
			return nil, err
		}
		s.started = true
	}
	s.recs = s.recs[:0]
	ms := int(wait / time.Millisecond)
	for len(s.recs) < max {
		ev := s.c.Poll(ms)
		if s.cbErr != nil {
			err := s.cbErr
			s.cbErr = nil
			return nil, err
		}
		if ev == nil {
			break
		}
		ms = 0
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return nil, fmt.Errorf("kafka: %s[%d]: %w", topicOf(e.TopicPartition), e.TopicPartition.Partition, e.TopicPartition.Error)
			}
			r := Record{
				Topic:     topicOf(e.TopicPartition),
				Partition: e.TopicPartition.Partition,
				Offset:    int64(e.TopicPartition.Offset),
				Key:       e.Key,
				Value:     e.Value,
				Timestamp: e.Timestamp,
			}
			if len(e.Headers) > 0 {
				r.Headers = make([]Header, len(e.Headers))
				for i, h := range e.Headers {
					r.Headers[i] = Header{Key: h.Key, Value: h.Value}
				}
			}
			s.recs = append(s.recs, r)
		case kafka.PartitionEOF:
			if l, ok := rb.(EOFListener); ok {
				l.EOF(TopicPartition{Topic: topicOf(kafka.TopicPartition(e)), Partition: e.Partition}, int64(e.Offset))
			}
		case kafka.Error:
			if e.IsFatal() {
				s.fatal = true
				if e.Code() == kafka.ErrFencedInstanceID {
					s.event(SourceEvent{Kind: SourceFenced, Err: e})
					return nil, &FencedError{Group: s.cfg.Group, InstanceID: s.cfg.InstanceID, Err: e}
				}
				return nil, fmt.Errorf("kafka: fatal: %w", e)
			}
			// Transient broker errors are retried inside librdkafka.
		}
		if ctx.Err() != nil {
			break
		}
	}
	return s.recs, nil
}

func (s *KafkaSource) start(ctx context.Context) error {
	if !s.cfg.Static {
		if err := s.c.SubscribeTopics([]string{s.cfg.Topic}, s.onRebalance); err != nil {
			return fmt.Errorf("kafka: subscribe %s: %w", s.cfg.Topic, err)
		}
		return nil
	}
	parts := s.cfg.Partitions
	if len(parts) == 0 {
		var err error
		if parts, err = s.TopicPartitions(ctx); err != nil {
			return err
		}
	}
	tps := make([]TopicPartition, len(parts))
	for i, p := range parts {
		tps[i] = TopicPartition{Topic: s.cfg.Topic, Partition: p}
	}
	return s.assign(ctx, tps)
}

// TopicPartitions lists the topic's partitions from the cluster metadata.
func (s *KafkaSource) TopicPartitions(ctx context.Context) ([]int32, error) {
	topic := s.cfg.Topic
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		md, err := s.c.GetMetadata(&topic, false, 5000)
		if err == nil {
			t, ok := md.Topics[topic]
			if ok && t.Error.Code() == kafka.ErrNoError && len(t.Partitions) > 0 {
				parts := make([]int32, 0, len(t.Partitions))
				for _, p := range t.Partitions {
					parts = append(parts, p.ID)
				}
				sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
				return parts, nil
			}
			if ok {
				err = t.Error
			} else {
				err = errors.New("topic not in metadata")
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("kafka: metadata for topic %q: %w", topic, lastErr)
}

// Watermarks returns the low and high watermark of a partition.
func (s *KafkaSource) Watermarks(tp TopicPartition) (low, high int64, err error) {
	return s.c.QueryWatermarkOffsets(tp.Topic, tp.Partition, 10000)
}

// OffsetForTime returns the first offset whose timestamp is >= t, or the
// high watermark when there is none.
func (s *KafkaSource) OffsetForTime(tp TopicPartition, t time.Time) (int64, error) {
	topic := tp.Topic
	res, err := s.c.OffsetsForTimes([]kafka.TopicPartition{{Topic: &topic, Partition: tp.Partition, Offset: kafka.Offset(t.UnixMilli())}}, 10000)
	if err != nil {
		return 0, err
	}
	if len(res) != 1 || res[0].Error != nil {
		return 0, fmt.Errorf("kafka: offsets for time on %s[%d]: %v", tp.Topic, tp.Partition, res)
	}
	if res[0].Offset < 0 {
		_, high, err := s.Watermarks(tp)
		return high, err
	}
	return int64(res[0].Offset), nil
}

func (s *KafkaSource) onRebalance(c *kafka.Consumer, ev kafka.Event) error {
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if s.rb == nil {
			// Close polls the consumer: an assignment arriving while it
			// leaves the group is not taken (nothing will consume it).
			return nil
		}
		tps := fromKafka(e.Partitions)
		if err := s.assign(ctx, tps); err != nil {
			s.cbErr = err
			return err
		}
		s.event(SourceEvent{Kind: SourceAssigned, Partitions: len(tps), TopicPartitions: tps})
	case kafka.RevokedPartitions:
		tps := fromKafka(e.Partitions)
		kind := SourceRevoked
		if c.AssignmentLost() {
			// The pipeline still commits what it holds: the table's
			// offsets fence the commit if a new owner got there first.
			kind = SourceLost
		}
		s.event(SourceEvent{Kind: kind, Partitions: len(tps), TopicPartitions: tps})
		if s.rb != nil {
			if err := s.rb.Revoked(ctx, tps); err != nil && s.cbErr == nil {
				s.cbErr = err
			}
		}
		for _, tp := range tps {
			delete(s.assigned, tp)
		}
		if err := c.Unassign(); err != nil && s.cbErr == nil {
			s.cbErr = fmt.Errorf("kafka: unassign: %w", err)
		}
	}
	return nil
}

func (s *KafkaSource) event(ev SourceEvent) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ev)
	}
}

func (s *KafkaSource) assign(ctx context.Context, tps []TopicPartition) error {
	starts, err := s.rb.Assigned(ctx, tps)
	if err != nil {
		return err
	}
	for _, tp := range tps {
		off, ok := starts[tp]
		if !ok {
			off = StartEarliest
		}
		s.assigned[tp] = toKafkaOffset(off)
	}
	return s.reassign()
}

func (s *KafkaSource) reassign() error {
	list := make([]kafka.TopicPartition, 0, len(s.assigned))
	for tp, off := range s.assigned {
		topic := tp.Topic
		list = append(list, kafka.TopicPartition{Topic: &topic, Partition: tp.Partition, Offset: off})
	}
	if err := s.c.Assign(list); err != nil {
		return fmt.Errorf("kafka: assign: %w", err)
	}
	return nil
}

// Seek implements [Source]: the partitions restart at the given offsets.
func (s *KafkaSource) Seek(_ context.Context, offsets map[TopicPartition]int64) error {
	for tp, off := range offsets {
		if _, ok := s.assigned[tp]; ok {
			s.assigned[tp] = toKafkaOffset(off)
		}
	}
	return s.reassign()
}

// Pause implements [Source].
func (s *KafkaSource) Pause(tps []TopicPartition) error { return s.c.Pause(toKafka(tps, nil)) }

// Resume implements [Source].
func (s *KafkaSource) Resume(tps []TopicPartition) error { return s.c.Resume(toKafka(tps, nil)) }

// CommitGroupOffsets implements [Source].
func (s *KafkaSource) CommitGroupOffsets(offsets map[TopicPartition]int64) error {
	if s.cfg.Group == "" || len(offsets) == 0 {
		return nil
	}
	tps := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	_, err := s.c.CommitOffsets(toKafka(tps, offsets))
	var kerr kafka.Error
	if errors.As(err, &kerr) && kerr.Code() == kafka.ErrNoOffset {
		return nil
	}
	return err
}

// Close implements [Source].
func (s *KafkaSource) Close() error {
	s.rb = nil
	if s.fatal {
		// confluent-kafka-go 2.11.1's Close waits for
		// rd_kafka_consumer_closed, which never comes once the client has
		// a fatal error (a fenced static member): it hung for good here.
		// Fixed upstream by confluent-kafka-go PR #1588 (not in 2.11.1).
		// The process is about to exit; the handle is left to it.
		return nil
	}
	return s.c.Close()
}

func toKafkaOffset(off int64) kafka.Offset {
	switch {
	case off >= 0:
		return kafka.Offset(off)
	case off == StartLatest:
		return kafka.OffsetEnd
	default:
		return kafka.OffsetBeginning
	}
}

func topicOf(tp kafka.TopicPartition) string {
	if tp.Topic == nil {
		return ""
	}
	return *tp.Topic
}

func fromKafka(list []kafka.TopicPartition) []TopicPartition {
	out := make([]TopicPartition, len(list))
	for i, tp := range list {
		out[i] = TopicPartition{Topic: topicOf(tp), Partition: tp.Partition}
	}
	return out
}

func toKafka(tps []TopicPartition, offsets map[TopicPartition]int64) []kafka.TopicPartition {
	out := make([]kafka.TopicPartition, len(tps))
	for i, tp := range tps {
		topic := tp.Topic
		out[i] = kafka.TopicPartition{Topic: &topic, Partition: tp.Partition}
		if offsets != nil {
			out[i].Offset = kafka.Offset(offsets[tp])
		}
	}
	return out
}

// Topic returns the topic the source reads.
func (s *KafkaSource) Topic() string { return s.cfg.Topic }

// CachedHighWatermark returns the partition's high watermark as last seen
// in a fetch response, without a broker round trip.
func (s *KafkaSource) CachedHighWatermark(tp TopicPartition) (int64, bool) {
	_, high, err := s.c.GetWatermarkOffsets(tp.Topic, tp.Partition)
	if err != nil || high < 0 {
		return 0, false
	}
	return high, true
}

// EndOffsets captures the high watermark of every partition of the topic:
// where a bounded run (demo, bench) stops.
func (s *KafkaSource) EndOffsets(ctx context.Context) (map[TopicPartition]int64, error) {
	parts, err := s.TopicPartitions(ctx)
	if err != nil {
		return nil, err
	}
	ends := make(map[TopicPartition]int64, len(parts))
	for _, p := range parts {
		tp := TopicPartition{Topic: s.cfg.Topic, Partition: p}
		_, high, err := s.Watermarks(tp)
		if err != nil {
			return nil, fmt.Errorf("end offset of %s[%d]: %w", tp.Topic, p, err)
		}
		ends[tp] = high
	}
	return ends, nil
}

// FetchMinBytes is the fetch.min.bytes a source with a FetchWait asks
// for: at 20,000 contract events/s (~150 bytes each: floe bench reads 3.0
// MB/s) about 90 ms of records, so at such rates the wait, not the size,
// ends a fetch; at higher rates fetches of this size come back at once.
const FetchMinBytes = 256 << 10

// MaxFetchWait bounds FetchWaitFor.
const MaxFetchWait = 100 * time.Millisecond

// FetchWaitFor is the fetch wait of a pipeline committing every trigger: a
// tenth of it, at most MaxFetchWait, and 0 (librdkafka's immediate
// answers) for triggers under 10 ms. A record's visibility is bounded by
// the trigger plus a commit; this adds at most a tenth to the first.
// Measured in BENCHMARKS.md ("Fetches that wait"): at 20,000 events/s and
// a 1 s trigger floe run's CPU without compaction (every thread, Go's and
// librdkafka's) fell from 7.1-7.6 to 5.3 CPU-s per million events with a
// 100 ms wait.
func FetchWaitFor(trigger time.Duration) time.Duration {
	w := min(trigger/10, MaxFetchWait)
	if w < time.Millisecond {
		return 0
	}
	return w
}

// consumerConfig is the librdkafka configuration of a source: floe's
// settings, then cfg.Extra (--kafka-config) over them.
func consumerConfig(cfg KafkaSourceConfig) (kafka.ConfigMap, error) {
	cm := kafka.ConfigMap{
		"bootstrap.servers":        cfg.Brokers,
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"isolation.level":          "read_committed",
		"auto.offset.reset":        "earliest",
		"enable.partition.eof":     true,
		"enable.metrics.push":      false,
		"client.id":                "floe",
		// librdkafka prefetches up to this much per assigned partition,
		// in C memory outside --max-buffer-bytes. Its default (64 MiB)
		// let a backlog on 8 partitions hold half a gigabyte; 16 MiB
		// still keeps many fetches queued. --kafka-config overrides it.
		"queued.max.messages.kbytes": 16384,
		// When a partition's queue is over those thresholds (or over
		// queued.min.messages), librdkafka postpones its next fetch by
		// this much; the default, 1000 ms, idled the pipeline whenever a
		// commit had let the queue fill: BenchmarkConsume reads 155k
		// events/s with it, 440-570k with 10-50 ms.
		"fetch.queue.backoff.ms": 20,
	}
	if ms := int(cfg.FetchWait / time.Millisecond); ms > 0 {
		cm["fetch.wait.max.ms"] = ms
		cm["fetch.min.bytes"] = FetchMinBytes
	}
	switch {
	case cfg.Group != "" && !cfg.Static:
		cm["group.id"] = cfg.Group
		if cfg.InstanceID != "" {
			cm["group.instance.id"] = cfg.InstanceID
		}
		if cfg.SessionTimeout > 0 {
			ms := int(cfg.SessionTimeout / time.Millisecond)
			cm["session.timeout.ms"] = ms
			cm["heartbeat.interval.ms"] = max(100, min(3000, ms/3))
		}
	case cfg.Group != "":
		// Static assignment: offsets are committed to the group for lag
		// monitoring, but the source never joins it.
		cm["group.id"] = cfg.Group
	case cfg.Static:
		// librdkafka insists on a group id even for a consumer that only
		// assigns partitions; it never joins or commits to this one.
		cm["group.id"] = "floe-static-assign"
	default:
		return nil, errors.New("kafka source: a consumer group is required unless partitions are assigned statically")
	}
	for k, v := range cfg.Extra {
		cm[k] = v
	}
	return cm, nil
}
