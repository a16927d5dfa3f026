package iceberg

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// Snapshot summary keys.
const (
	// OffsetsKeyPrefix + group holds {"<topic>":{"<partition>":<next>}}.
	OffsetsKeyPrefix = "floe.offsets."
	// CommitIDKey holds the batch's commit id.
	CommitIDKey = "floe.commit-id"
	// MaxEventTimeKeyPrefix + group holds, in the offsets' encoding, the
	// largest event_time (Unix ms) committed so far for each partition the
	// snapshot's batch had rows from; merged over ancestors like offsets.
	MaxEventTimeKeyPrefix = "floe.max-event-time."
	// ValidThroughKeyPrefix + group holds the group's valid-through
	// watermark as of the snapshot, in Unix milliseconds: the smallest,
	// over every partition whose offset the table records for the group
	// and every partition the committing process is assigned, of the
	// largest event_time committed from that partition. Every partition
	// has committed records up to that event time; records with an earlier
	// event time may still arrive late (as with the Kafka Connect sink's
	// kafka.connect.vtts). Absent while one of those partitions has no
	// committed row yet.
	ValidThroughKeyPrefix = "floe.valid-through."
)

// MaxEventTimeKey returns the snapshot summary key for group's per-partition
// event-time maxima.
func MaxEventTimeKey(group string) string { return MaxEventTimeKeyPrefix + group }

// ValidThroughKey returns the snapshot summary key for group's valid-through
// watermark.
func ValidThroughKey(group string) string { return ValidThroughKeyPrefix + group }

// ValidThrough is the watermark of a group whose recorded offsets are
// offsets and whose per-partition event-time maxima are maxEvent: the
// minimum of maxEvent over the partitions of offsets. ok is false when
// offsets is empty or a partition of it has no maximum.
func ValidThrough(offsets, maxEvent Offsets) (ms int64, ok bool) {
	for tp := range offsets {
		m, has := maxEvent[tp]
		if !has {
			return 0, false
		}
		if !ok || m < ms {
			ms, ok = m, true
		}
	}
	return ms, ok
}

// OffsetsKey returns the snapshot summary key for group's offsets.
func OffsetsKey(group string) string { return OffsetsKeyPrefix + group }

// EncodeOffsets renders o as the summary value {"<topic>":{"<partition>":<next>}}.
func EncodeOffsets(o Offsets) (string, error) {
	m := make(map[string]map[string]int64)
	for tp, next := range o {
		p := m[tp.Topic]
		if p == nil {
			p = make(map[string]int64)
			m[tp.Topic] = p
		}
		p[strconv.FormatInt(int64(tp.Partition), 10)] = next
	}
	b, err := json.Marshal(m) // map keys are sorted: stable output
	if err != nil {
		return "", err
	}

	return string(b), nil
}

// DecodeOffsets parses a summary value written by EncodeOffsets.
func DecodeOffsets(s string) (Offsets, error) {
	var m map[string]map[string]int64
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode offsets: %w", err)
	}
	o := make(Offsets)
	for topic, parts := range m {
		for p, next := range parts {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("decode offsets: topic %q: partition %q: %w", topic, p, err)
			}
			o[TopicPartition{Topic: topic, Partition: int32(n)}] = next
		}
	}

	return o, nil
}

// offsetsMemo is the merged offsets of one group as of one snapshot, so a
// later walk stops there instead of going back to the first snapshot.
type offsetsMemo struct {
	tableUUID  uuid.UUID
	snapshotID int64
	offsets    Offsets
}

// Offsets returns the next offsets to read for group, as recorded in the
// table: the table is reloaded, then the walk goes from the current snapshot
// back through its parents and the newest value per partition wins.
// Partitions never committed by group are absent.
//
// Repeated calls only read the snapshots added since the previous call.
func (w *Writer) Offsets(ctx context.Context, group string) (Offsets, error) {
	if err := w.Refresh(ctx); err != nil {
		return nil, err
	}
	o, err := w.offsetsAt(w.Table(), group)
	if err != nil {
		return nil, err
	}

	return o.Clone(), nil
}

// offsetsAt computes group's offsets as of tbl's current snapshot, using and
// updating the memo. The result must not be modified.
func (w *Writer) offsetsAt(tbl *table.Table, group string) (Offsets, error) {
	return w.mergedAt(tbl, OffsetsKey(group))
}

// mergedAt merges the values of summary key (offsets-encoded) over tbl's
// current snapshot and its ancestors, newest per partition winning, using
// and updating the memo. The result must not be modified.
func (w *Writer) mergedAt(tbl *table.Table, key string) (Offsets, error) {
	md := tbl.Metadata()
	head := md.CurrentSnapshot()
	if head == nil {
		return Offsets{}, nil
	}

	w.mu.Lock()
	memo, ok := w.memo[key]
	w.mu.Unlock()
	if ok && memo.tableUUID != md.TableUUID() {
		ok = false
	}
	if ok && memo.snapshotID == head.SnapshotID {
		return memo.offsets, nil
	}

	// Collect newest to oldest until the memoized snapshot or the oldest
	// retained one.
	var (
		chain   []string
		base    Offsets
		visited = make(map[int64]struct{})
	)
	for s := head; s != nil; {
		if ok && s.SnapshotID == memo.snapshotID {
			base = memo.offsets
			break
		}
		if _, seen := visited[s.SnapshotID]; seen {
			return nil, fmt.Errorf("snapshot %d: parent cycle in table metadata", s.SnapshotID)
		}
		visited[s.SnapshotID] = struct{}{}
		if s.Summary != nil {
			if v, has := s.Summary.Properties[key]; has {
				chain = append(chain, v)
			}
		}
		if s.ParentSnapshotID == nil {
			break
		}
		s = md.SnapshotByID(*s.ParentSnapshotID)
	}

	merged := make(Offsets, len(base))
	for k, v := range base {
		merged[k] = v
	}
	for _, v := range slices.Backward(chain) { // oldest first: newer overwrite
		o, err := DecodeOffsets(v)
		if err != nil {
			return nil, fmt.Errorf("table %s: summary %s: %w", tbl.Identifier(), key, err)
		}
		for k, n := range o {
			merged[k] = n
		}
	}

	w.mu.Lock()
	w.memo[key] = offsetsMemo{tableUUID: md.TableUUID(), snapshotID: head.SnapshotID, offsets: merged}
	w.mu.Unlock()

	return merged, nil
}

// fence checks that, for every partition of the batch (From and To), the
// table either has no offset recorded for the group or has exactly From[tp].
// It describes the partitions that do not match.
func fence(recorded Offsets, b *Batch) []string {
	parts := make(map[TopicPartition]struct{}, len(b.To))
	for tp := range b.To {
		parts[tp] = struct{}{}
	}
	for tp := range b.From {
		parts[tp] = struct{}{}
	}
	var bad []string
	for tp := range parts {
		have, ok := recorded[tp]
		if !ok {
			continue
		}
		start, hasStart := b.From[tp]
		if !hasStart || have != start {
			from := "none"
			if hasStart {
				from = strconv.FormatInt(start, 10)
			}
			bad = append(bad, fmt.Sprintf("%s[%d]: table has %d, batch starts at %s", tp.Topic, tp.Partition, have, from))
		}
	}
	slices.Sort(bad)

	return bad
}
