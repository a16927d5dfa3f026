package compaction

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
)

// Summary keys the compactor adds to its own snapshots.
const (
	// KindKey says why the compactor committed: "rewrite" or "checkpoint".
	KindKey = "floe.compaction"
	// RunIDKey identifies one commit for unknown-outcome resolution.
	RunIDKey = "floe.compaction-id"
)

// groupOffsets merges, per consumer group, the offsets recorded in head and
// its ancestors, newest value per partition winning, exactly as
// iceberg.Writer.Offsets does. The walk stops before the first snapshot for
// which keep(snapshot, depth) is false (depth 0 is head); nil keeps all.
func groupOffsets(md table.Metadata, head *table.Snapshot, keep func(*table.Snapshot, int) bool) (map[string]iceberg.Offsets, error) {
	return groupValues(md, head, keep, iceberg.OffsetsKeyPrefix)
}

// groupEventTimes merges the per-partition event-time maxima of every group
// the same way (iceberg.MaxEventTimeKeyPrefix).
func groupEventTimes(md table.Metadata, head *table.Snapshot, keep func(*table.Snapshot, int) bool) (map[string]iceberg.Offsets, error) {
	return groupValues(md, head, keep, iceberg.MaxEventTimeKeyPrefix)
}

// groupValues merges the offsets-encoded summary values under prefix+group.
func groupValues(md table.Metadata, head *table.Snapshot, keep func(*table.Snapshot, int) bool, prefix string) (map[string]iceberg.Offsets, error) {
	out := make(map[string]iceberg.Offsets)
	seen := make(map[int64]struct{})
	for s, depth := head, 0; s != nil; depth++ {
		if keep != nil && !keep(s, depth) {
			break
		}
		if _, dup := seen[s.SnapshotID]; dup {
			return nil, fmt.Errorf("snapshot %d: parent cycle in table metadata", s.SnapshotID)
		}
		seen[s.SnapshotID] = struct{}{}
		if s.Summary != nil {
			for k, v := range s.Summary.Properties {
				group, ok := strings.CutPrefix(k, prefix)
				if !ok {
					continue
				}
				o, err := iceberg.DecodeOffsets(v)
				if err != nil {
					return nil, fmt.Errorf("snapshot %d: %s: %w", s.SnapshotID, k, err)
				}
				merged := out[group]
				if merged == nil {
					merged = make(iceberg.Offsets)
					out[group] = merged
				}
				for tp, next := range o {
					if _, newer := merged[tp]; !newer {
						merged[tp] = next
					}
				}
			}
		}
		if s.ParentSnapshotID == nil {
			break
		}
		s = md.SnapshotByID(*s.ParentSnapshotID)
	}
	return out, nil
}

func equalGroupOffsets(a, b map[string]iceberg.Offsets) bool {
	return maps.EqualFunc(a, b, func(x, y iceberg.Offsets) bool { return maps.Equal(x, y) })
}

// retained predicts which ancestors of the head ExpireSnapshots keeps with
// keepLast and olderThan at time now: the walk keeps a snapshot while it is
// among the last keepLast or younger than olderThan, and stops at the first
// that is neither.
func retained(now time.Time, keepLast int, olderThan time.Duration) func(*table.Snapshot, int) bool {
	nowMs := now.UnixMilli()
	return func(s *table.Snapshot, depth int) bool {
		return depth < keepLast || nowMs-s.TimestampMs <= olderThan.Milliseconds()
	}
}

// carryProps renders the merged offsets of every group as of tbl's head,
// for the summary of a snapshot committed on top of it: the values are the
// ones already recorded, so a Writer's fence sees no change. The groups'
// event-time maxima and valid-through watermarks are carried the same way.
func carryProps(tbl *table.Table, kind, runID string) (iceberggo.Properties, error) {
	props := iceberggo.Properties{KindKey: kind, RunIDKey: runID}
	head := tbl.CurrentSnapshot()
	if head == nil {
		return props, nil
	}
	all, err := groupOffsets(tbl.Metadata(), head, nil)
	if err != nil {
		return nil, err
	}
	events, err := groupEventTimes(tbl.Metadata(), head, nil)
	if err != nil {
		return nil, err
	}
	for group, o := range all {
		if len(o) == 0 {
			continue
		}
		enc, err := iceberg.EncodeOffsets(o)
		if err != nil {
			return nil, fmt.Errorf("group %q: %w", group, err)
		}
		props[iceberg.OffsetsKey(group)] = enc
		if vt, ok := iceberg.ValidThrough(o, events[group]); ok {
			props[iceberg.ValidThroughKey(group)] = strconv.FormatInt(vt, 10)
		}
	}
	for group, e := range events {
		if len(e) == 0 {
			continue
		}
		enc, err := iceberg.EncodeOffsets(e)
		if err != nil {
			return nil, fmt.Errorf("group %q: %w", group, err)
		}
		props[iceberg.MaxEventTimeKey(group)] = enc
	}
	return props, nil
}
