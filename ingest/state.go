package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/floe-io/floe/schema"
)

// SourceEvent is a change of a source's membership in its consumer group,
// reported to [KafkaSourceConfig.OnEvent] (for the state log and metrics).
type SourceEvent struct {
	// Kind is one of the SourceAssigned... constants.
	Kind string
	// Partitions is how many partitions the change concerns.
	Partitions int
	// TopicPartitions are those partitions (for SourceAssigned, the whole
	// new assignment).
	TopicPartitions []TopicPartition
	// Err is the error of a SourceFenced event.
	Err error
}

// Kinds of SourceEvent.
const (
	// SourceAssigned: the group gave this process partitions.
	SourceAssigned = "assigned"
	// SourceRevoked: partitions were taken back in a rebalance (what the
	// batch held of them was committed first).
	SourceRevoked = "revoked"
	// SourceLost: the assignment was lost without a rebalance (the
	// session timed out, or the member was fenced): another member may
	// already own the partitions.
	SourceLost = "lost"
	// SourceFenced: another process joined the group with this process's
	// instance id; the consumer cannot go on.
	SourceFenced = "fenced"
)

// FencedError stops a source whose static group membership was taken over
// by another process with the same instance id (Kafka's
// FENCED_INSTANCE_ID): two processes are configured with one id.
type FencedError struct {
	Group, InstanceID string
	Err               error
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("kafka: fenced out of consumer group %q: another process joined it with the same instance id %q "+
		"(--instance-id, default the host name); give every process of a group its own id: %v", e.Group, e.InstanceID, e.Err)
}

func (e *FencedError) Unwrap() error { return e.Err }

// OutageObserver is an [Observer] that is also told when the pipeline
// starts and stops retrying because something it depends on is down. Unlike
// the Observer's other calls, these may come from the goroutine committing
// in the background, so implementations must synchronise themselves.
type OutageObserver interface {
	// OutageBegan reports the first failed attempt against what.
	OutageBegan(what string, err error)
	// OutageEnded reports the first success after an outage of what.
	OutageEnded(what string, lasted time.Duration)
}

// OutageOf names the dependency a transient (retried) error comes from:
// OutageRegistry, OutageCatalog, OutageStorage, or "ingest".
func OutageOf(err error) string {
	if errors.Is(err, schema.ErrRegistryUnavailable) {
		return OutageRegistry
	}
	if what := outageOf(err); what != "" {
		return what
	}
	return "ingest"
}
