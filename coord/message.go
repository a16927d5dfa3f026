// Package coord is floe run's coordinated commit mode (--commit-mode
// coordinated, issue 14): every process of a group writes its batches'
// data files (a worker) and one of them, the process that holds partition 0
// of the source topic (the coordinator), commits the files of every worker
// in one snapshot per trigger. Workers and the coordinator talk through a
// control channel (a Kafka topic, see KafkaBus).
//
// Exactly-once rests on the table's offset fence as in the default mode:
// the coordinator accepts a worker's batch only if the table records the
// batch's From for each of its partitions (iceberg.Writer.CommitStaged),
// so a replayed or duplicated request, a request to two coordinators at
// once (a zombie that lost partition 0) or a worker that resent after a
// timeout never lands a row twice.
//
// The control messages hold commit ids, offsets, row and file counts and
// the path of a pending manifest (the data files, with the statistics the
// table's own manifests carry, are read from the object store): the same
// metadata the table holds. Nothing decrypted, no secret.
package coord

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/floe-io/floe/iceberg"
)

// Kinds of Message.
const (
	// KindFiles is a worker's request: commit these staged files.
	KindFiles = "files"
	// KindResults is the coordinator's answer to the requests of one round.
	KindResults = "results"
)

// Message is one control message.
type Message struct {
	Kind string `json:"kind"`
	// Sender identifies the sending process (for logs).
	Sender string `json:"sender,omitempty"`

	// A KindFiles request.
	Request *Request `json:"request,omitempty"`
	// A KindResults answer.
	Results []Result `json:"results,omitempty"`
}

// Request is a worker's staged batch (iceberg.Staged) on the wire. Offsets
// are in the snapshot summary's encoding (iceberg.EncodeOffsets).
type Request struct {
	CommitID     string `json:"commit_id"`
	Group        string `json:"group"`
	From         string `json:"from"`
	To           string `json:"to"`
	MaxEventTime string `json:"max_event_time,omitempty"`
	Assigned     string `json:"assigned,omitempty"`
	Manifest     string `json:"manifest,omitempty"`
	ManifestLen  int64  `json:"manifest_len,omitempty"`
	SpecID       int32  `json:"spec_id"`
	Files        int    `json:"files"`
	Rows         int64  `json:"rows"`
	Bytes        int64  `json:"bytes"`
}

// Result is the outcome of one request.
type Result struct {
	CommitID   string `json:"commit_id"`
	Status     string `json:"status"` // "committed" or "fenced"
	SnapshotID int64  `json:"snapshot_id,omitempty"`
	// Attempts are the catalog attempts of the snapshot holding it.
	Attempts int    `json:"attempts,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Result statuses.
const (
	StatusCommitted = "committed"
	StatusFenced    = "fenced"
)

func encodeRequest(s iceberg.Staged) (*Request, error) {
	r := &Request{CommitID: s.CommitID, Group: s.Group, Manifest: s.Manifest, ManifestLen: s.ManifestLen,
		SpecID: s.SpecID, Files: s.Files, Rows: s.Rows, Bytes: s.Bytes}
	var err error
	enc := func(o iceberg.Offsets) string {
		if o == nil || err != nil {
			return ""
		}
		var v string
		v, err = iceberg.EncodeOffsets(o)
		return v
	}
	r.From, r.To, r.MaxEventTime = enc(s.From), enc(s.To), enc(s.MaxEventTime)
	if len(s.Assigned) > 0 {
		as := iceberg.Offsets{}
		for _, tp := range s.Assigned {
			as[tp] = 0
		}
		r.Assigned = enc(as)
	}
	return r, err
}

func (r *Request) staged() (iceberg.Staged, error) {
	s := iceberg.Staged{CommitID: r.CommitID, Group: r.Group, Manifest: r.Manifest, ManifestLen: r.ManifestLen,
		SpecID: r.SpecID, Files: r.Files, Rows: r.Rows, Bytes: r.Bytes}
	if r.CommitID == "" || r.Group == "" {
		return s, fmt.Errorf("request without commit id or group")
	}
	var err error
	dec := func(v string) iceberg.Offsets {
		if v == "" || err != nil {
			return nil
		}
		var o iceberg.Offsets
		o, err = iceberg.DecodeOffsets(v)
		return o
	}
	s.From, s.To, s.MaxEventTime = dec(r.From), dec(r.To), dec(r.MaxEventTime)
	for tp := range dec(r.Assigned) {
		s.Assigned = append(s.Assigned, tp)
	}
	slices.SortFunc(s.Assigned, func(a, b iceberg.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return s, err
}

// Marshal encodes m.
func (m Message) Marshal() ([]byte, error) { return json.Marshal(m) }

// Unmarshal decodes a control message.
func Unmarshal(b []byte) (Message, error) {
	var m Message
	err := json.Unmarshal(b, &m)
	return m, err
}
