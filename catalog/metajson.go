package catalog

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"

	"github.com/apache/iceberg-go/table"
)

// metadataJSON encodes table metadata (format version 2) as iceberg-go's
// json.Marshal does, field for field, but keeps each snapshot's encoding:
// snapshots never change once written, and a table that retains ten
// minutes of one-second commits lists ~600-900 of them in every
// metadata.json, which json.Marshal encoded again on every commit (the
// larger part of a commit's CPU once a table retains a few hundred
// snapshots; BENCHMARKS.md, "The commit path without loading"). Everything else
// (schemas, specs, properties, refs, logs) is encoded afresh each time.
//
// The first document it writes is checked against json.Marshal's (the same
// JSON values, key order aside); if they differ, it hands every later call
// to json.Marshal. Not safe for concurrent use.
type metadataJSON struct {
	snaps   map[int64]snapshotJSON
	checked bool
	off     bool // the check failed: json.Marshal
}

// snapshotJSON is a snapshot's encoding, with what tells a snapshot of the
// same id written by another attempt of the same commit (iceberg-go's retry
// rebuilds it with a new manifest list) from the one encoded.
type snapshotJSON struct {
	enc  []byte
	list string
	seq  int64
}

func (m *metadataJSON) encode(md table.Metadata) ([]byte, error) {
	if m.off || md.Version() != 2 {
		return json.Marshal(md)
	}
	out, err := m.build(md)
	if err != nil {
		return nil, err
	}
	if !m.checked {
		m.checked = true
		ref, err := json.Marshal(md)
		if err != nil {
			return nil, err
		}
		if !sameJSON(out, ref) {
			m.off, m.snaps = true, nil
			return ref, nil
		}
	}
	return out, nil
}

func (m *metadataJSON) build(md table.Metadata) (_ []byte, err error) {
	b := make([]byte, 0, 4096+len(m.snaps)*1200)
	// appendJSON appends v's JSON; the first error is build's.
	appendJSON := func(b []byte, v any) []byte {
		enc, merr := json.Marshal(v)
		if merr != nil && err == nil {
			err = merr
		}
		return append(b, enc...)
	}
	// optional appends the field name: v unless it has no elements (n),
	// as json.Marshal's omitempty does.
	optional := func(b []byte, name string, n int, v any) []byte {
		if n == 0 {
			return b
		}
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		return appendJSON(b, v)
	}
	b = append(b, `{"format-version":2,"table-uuid":"`...)
	b = append(b, md.TableUUID().String()...)
	b = append(b, `","location":`...)
	b = appendJSON(b, md.Location())
	b = append(b, `,"last-sequence-number":`...)
	b = strconv.AppendInt(b, md.LastSequenceNumber(), 10)
	b = append(b, `,"last-updated-ms":`...)
	b = strconv.AppendInt(b, md.LastUpdatedMillis(), 10)
	b = append(b, `,"last-column-id":`...)
	b = strconv.AppendInt(b, int64(md.LastColumnID()), 10)
	b = append(b, `,"schemas":`...)
	b = appendJSON(b, md.Schemas())
	b = append(b, `,"current-schema-id":`...)
	b = strconv.AppendInt(b, int64(md.CurrentSchema().ID), 10)
	b = append(b, `,"partition-specs":`...)
	b = appendJSON(b, md.PartitionSpecs())
	b = append(b, `,"default-spec-id":`...)
	b = strconv.AppendInt(b, int64(md.DefaultPartitionSpec()), 10)
	if id := md.LastPartitionSpecID(); id != nil {
		b = append(b, `,"last-partition-id":`...)
		b = strconv.AppendInt(b, int64(*id), 10)
	}
	p := md.Properties()
	b = optional(b, "properties", len(p), p)

	snaps := md.Snapshots()
	if len(snaps) > 0 {
		if m.snaps == nil {
			m.snaps = make(map[int64]snapshotJSON, len(snaps))
		}
		live := make(map[int64]struct{}, len(snaps))
		b = append(b, `,"snapshots":[`...)
		for i := range snaps {
			s := &snaps[i]
			live[s.SnapshotID] = struct{}{}
			c, ok := m.snaps[s.SnapshotID]
			if !ok || c.list != s.ManifestList || c.seq != s.SequenceNumber {
				c = snapshotJSON{list: s.ManifestList, seq: s.SequenceNumber}
				if c.enc, err = json.Marshal(s); err != nil {
					return nil, err
				}
				m.snaps[s.SnapshotID] = c
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, c.enc...)
		}
		b = append(b, ']')
		maps.DeleteFunc(m.snaps, func(id int64, _ snapshotJSON) bool { _, ok := live[id]; return !ok })
	}
	if s := md.CurrentSnapshot(); s != nil {
		b = append(b, `,"current-snapshot-id":`...)
		b = strconv.AppendInt(b, s.SnapshotID, 10)
	}
	first := true
	for e := range md.SnapshotLogs() {
		if first {
			b, first = append(b, `,"snapshot-log":[`...), false
		} else {
			b = append(b, ',')
		}
		b = append(b, `{"snapshot-id":`...)
		b = strconv.AppendInt(b, e.SnapshotID, 10)
		b = append(b, `,"timestamp-ms":`...)
		b = strconv.AppendInt(b, e.TimestampMs, 10)
		b = append(b, '}')
	}
	if !first {
		b = append(b, ']')
	}
	log := slices.Collect(md.PreviousFiles())
	b = optional(b, "metadata-log", len(log), log)
	b = append(b, `,"sort-orders":`...)
	b = appendJSON(b, md.SortOrders())
	b = append(b, `,"default-sort-order-id":`...)
	b = strconv.AppendInt(b, int64(md.DefaultSortOrder()), 10)
	refs := maps.Collect(md.Refs())
	b = optional(b, "refs", len(refs), refs)
	stats := slices.Collect(md.Statistics())
	b = optional(b, "statistics", len(stats), stats)
	pstats := slices.Collect(md.PartitionStatistics())
	b = optional(b, "partition-statistics", len(pstats), pstats)
	keys := slices.Collect(md.EncryptionKeys())
	b = optional(b, "encryption-keys", len(keys), keys)
	b = append(b, '}')
	if err != nil {
		return nil, err
	}
	return b, nil
}

// sameJSON reports whether a and b hold the same JSON value (numbers
// compared as written: snapshot ids do not fit a float64).
func sameJSON(a, b []byte) bool {
	decode := func(raw []byte) (any, error) {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		err := d.Decode(&v)
		return v, err
	}
	x, err := decode(a)
	if err != nil {
		return false
	}
	y, err := decode(b)
	if err != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// metadataEncoders holds a metadataJSON per table location.
type metadataEncoders struct {
	mu  sync.Mutex
	enc map[string]*metadataJSON
}

// encode encodes md with its table's encoder.
func (e *metadataEncoders) encode(md table.Metadata) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		e.enc = make(map[string]*metadataJSON)
	}
	m := e.enc[md.Location()]
	if m == nil {
		m = &metadataJSON{}
		e.enc[md.Location()] = m
	}
	return m.encode(md)
}
