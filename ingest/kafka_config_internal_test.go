package ingest

import "testing"

// The consumer's prefetch is bounded (it is C memory outside
// --max-buffer-bytes) and --kafka-config still wins over floe's settings.
func TestConsumerConfigBoundsPrefetch(t *testing.T) {
	cm, err := consumerConfig(KafkaSourceConfig{Brokers: "b:9092", Topic: "t", Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cm["queued.max.messages.kbytes"]; got != 16384 {
		t.Fatalf("queued.max.messages.kbytes = %v, want 16384", got)
	}
	if got := cm["fetch.queue.backoff.ms"]; got != 20 {
		t.Fatalf("fetch.queue.backoff.ms = %v, want 20 (librdkafka's 1000 idles a consumer that fell behind)", got)
	}
	if cm["group.id"] != "g" || cm["isolation.level"] != "read_committed" || cm["enable.auto.commit"] != false {
		t.Fatalf("consumer settings lost: %v", cm)
	}
	cm, err = consumerConfig(KafkaSourceConfig{Brokers: "b:9092", Topic: "t", Group: "g",
		Extra: map[string]string{"queued.max.messages.kbytes": "4096"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := cm["queued.max.messages.kbytes"]; got != "4096" {
		t.Fatalf("--kafka-config did not override: %v", got)
	}
	if _, err := consumerConfig(KafkaSourceConfig{Brokers: "b:9092", Topic: "t"}); err == nil {
		t.Fatal("no group and no static assignment accepted")
	}
}
