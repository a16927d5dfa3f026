package ingest

import (
	"testing"
	"time"
)

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

// A source that joins its group is a static member under InstanceID with
// floe's session timeout; a statically assigned one never sends either
// (it never joins, and a commit with an instance id would be fenced).
func TestConsumerConfigGroupMembership(t *testing.T) {
	cm, err := consumerConfig(KafkaSourceConfig{Brokers: "b:9092", Topic: "t", Group: "g", InstanceID: "pod-0", SessionTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if cm["group.instance.id"] != "pod-0" || cm["session.timeout.ms"] != 10000 || cm["heartbeat.interval.ms"] != 3000 {
		t.Fatalf("membership settings: %v", cm)
	}
	cm, err = consumerConfig(KafkaSourceConfig{Brokers: "b:9092", Topic: "t", Group: "g", SessionTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm["group.instance.id"]; ok || cm["heartbeat.interval.ms"] != 666 {
		t.Fatalf("dynamic member with a 2s session: %v", cm)
	}
	cm, err = consumerConfig(KafkaSourceConfig{Brokers: "b:9092", Topic: "t", Group: "g", Static: true, InstanceID: "pod-0", SessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, hasID := cm["group.instance.id"]
	_, hasSession := cm["session.timeout.ms"]
	if hasID || hasSession || cm["group.id"] != "g" {
		t.Fatalf("static assignment: %v", cm)
	}
}

// A fetch wait becomes librdkafka's fetch.wait.max.ms with floe's
// fetch.min.bytes; without one librdkafka's defaults stay; --kafka-config
// wins over both.
func TestConsumerConfigFetchWait(t *testing.T) {
	cm, err := consumerConfig(KafkaSourceConfig{Brokers: "b:9092", Topic: "t", Group: "g", FetchWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if cm["fetch.wait.max.ms"] != 100 || cm["fetch.min.bytes"] != FetchMinBytes {
		t.Fatalf("fetch settings: %v", cm)
	}
	cm, err = consumerConfig(KafkaSourceConfig{Brokers: "b:9092", Topic: "t", Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm["fetch.min.bytes"]; ok {
		t.Fatalf("fetch.min.bytes set without a fetch wait: %v", cm)
	}
	cm, err = consumerConfig(KafkaSourceConfig{Brokers: "b:9092", Topic: "t", Group: "g", FetchWait: 100 * time.Millisecond,
		Extra: map[string]string{"fetch.min.bytes": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if cm["fetch.min.bytes"] != "1" || cm["fetch.wait.max.ms"] != 100 {
		t.Fatalf("--kafka-config did not override: %v", cm)
	}
}
