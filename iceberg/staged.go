package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// CommitIDsKey is the snapshot summary key of a coordinated snapshot (one
// snapshot holding the batches of several processes): the commit ids of
// the batches it holds, comma-separated. The snapshot's CommitIDKey holds
// the coordinator's own id for the round. A batch is found in the table
// (after an unknown outcome) by either key.
const CommitIDsKey = "floe.commit-ids"

// listed says whether id is one of the comma-separated ids of list.
func listed(list, id string) bool {
	if list == "" || id == "" {
		return false
	}
	for s := range strings.SplitSeq(list, ",") {
		if s == id {
			return true
		}
	}
	return false
}

// holds says whether a snapshot summary names commit id under key, directly
// or, for CommitIDKey, in a coordinated snapshot's CommitIDsKey list.
func holds(props iceberggo.Properties, key, id string) bool {
	if props[key] == id {
		return true
	}
	return key == CommitIDKey && listed(props[CommitIDsKey], id)
}

// Staged is a batch whose data files are written but not committed: what a
// worker of a coordinated group (floe run --commit-mode coordinated) hands
// the coordinator, which commits the batches of every worker in one
// snapshot (CommitStaged). The data files are listed in a manifest (Avro,
// the table's own manifest format) written next to the table's metadata,
// so the coordinator learns them, with the statistics the table's
// manifests carry, from the object store and not from the message.
type Staged struct {
	CommitID     string
	Group        string
	From, To     Offsets
	MaxEventTime Offsets
	Assigned     []TopicPartition
	// Manifest is the path of the pending manifest listing the data
	// files; "" for a batch without rows (it only records offsets).
	Manifest string
	// ManifestLen is the manifest's size in bytes.
	ManifestLen int64
	// SpecID is the partition spec the files were written with.
	SpecID int32

	Rows, Bytes   int64
	Files         int
	WriteDuration time.Duration

	files []iceberggo.DataFile // the worker's own copy, for Discard
}

// Stage writes b's records as data files and a pending manifest listing
// them, without committing anything. It takes ownership of b.Records. The
// files are named after b.CommitID (a UUID is generated when it is empty).
func (w *Writer) Stage(ctx context.Context, b Batch) (Staged, error) {
	recs := newRecordSet(b.Records)
	defer recs.releaseRest()
	start := w.cfg.now()
	if err := validateBatch(&b, recs); err != nil {
		return Staged{}, err
	}
	if b.CommitID == "" {
		b.CommitID = uuid.NewString()
	}
	s := Staged{CommitID: b.CommitID, Group: b.Group, From: b.From.Clone(), To: b.To.Clone(),
		MaxEventTime: b.MaxEventTime.Clone(), Assigned: slices.Clone(b.Assigned)}
	tbl := w.Table()
	w.cfg.stage("write", b.CommitID)
	files, err := w.writeFiles(ctx, tbl, b.CommitID, recs)
	if err != nil {
		return s, fmt.Errorf("stage %s: write data files: %w", b.CommitID, markUnavailable(err, true))
	}
	s.files = files
	for _, df := range files {
		s.Rows += df.Count()
		s.Bytes += df.FileSizeBytes()
	}
	s.Files = len(files)
	if len(files) > 0 {
		if err := w.writePending(ctx, tbl, &s); err != nil {
			removeFiles(ctx, tbl, files)
			return s, fmt.Errorf("stage %s: write pending manifest: %w", b.CommitID, markUnavailable(err, true))
		}
	}
	s.WriteDuration = w.cfg.now().Sub(start)
	return s, nil
}

// pendingSnapshotID is the snapshot id a pending manifest's entries carry:
// they are not in any snapshot yet, and the coordinator adds the data
// files, not the entries.
const pendingSnapshotID = -1

func (w *Writer) writePending(ctx context.Context, tbl *table.Table, s *Staged) error {
	locs, err := tbl.LocationProvider()
	if err != nil {
		return err
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return err
	}
	sid := int64(pendingSnapshotID)
	entries := make([]iceberggo.ManifestEntry, len(s.files))
	for i, df := range s.files {
		entries[i] = iceberggo.NewManifestEntry(iceberggo.EntryStatusADDED, &sid, nil, nil, df)
	}
	path := locs.NewMetadataLocation("floe-pending-" + s.CommitID + ".avro")
	var buf bytes.Buffer
	spec := tbl.Spec()
	if _, err := iceberggo.WriteManifest(path, &buf, tbl.Metadata().Version(), spec, tbl.Schema(), sid, entries); err != nil {
		return err
	}
	if err := storeFile(fs, path, buf.Bytes()); err != nil {
		return err
	}
	s.Manifest, s.ManifestLen, s.SpecID = path, int64(buf.Len()), int32(spec.ID())
	return nil
}

// ReadStaged reads the data files of a staged batch from its pending
// manifest (none for a batch without one).
func (w *Writer) ReadStaged(ctx context.Context, s Staged) ([]iceberggo.DataFile, error) {
	if s.Manifest == "" {
		return nil, nil
	}
	tbl := w.Table()
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, markUnavailable(err, true)
	}
	f, err := fs.Open(s.Manifest)
	if err != nil {
		return nil, fmt.Errorf("pending manifest of %s: %w", s.CommitID, markUnavailable(err, true))
	}
	defer f.Close()
	mf := iceberggo.NewManifestFile(tbl.Metadata().Version(), s.Manifest, s.ManifestLen, s.SpecID, pendingSnapshotID).Build()
	entries, err := iceberggo.ReadManifest(mf, f, true)
	if err != nil {
		return nil, fmt.Errorf("pending manifest of %s: %w", s.CommitID, err)
	}
	files := make([]iceberggo.DataFile, len(entries))
	for i, e := range entries {
		files[i] = e.DataFile()
	}
	if len(files) != s.Files {
		return nil, fmt.Errorf("pending manifest of %s lists %d files, the request says %d", s.CommitID, len(files), s.Files)
	}
	return files, nil
}

// Discard removes a staged batch's data files and pending manifest: call it
// only when the batch provably cannot land (fenced).
func (w *Writer) Discard(ctx context.Context, s Staged) {
	tbl := w.Table()
	removeFiles(ctx, tbl, s.files)
	w.Settle(ctx, s)
}

// Settle removes a staged batch's pending manifest once the batch is in
// the table (its data files now belong to the table).
func (w *Writer) Settle(ctx context.Context, s Staged) {
	if s.Manifest == "" {
		return
	}
	if fs, err := w.Table().FS(ctx); err == nil {
		_ = fs.Remove(s.Manifest)
	}
}

// StagedStatus is what became of a staged batch in a coordinated commit.
type StagedStatus int

const (
	// StagedCommitted: the batch is in the table (SnapshotID holds it).
	StagedCommitted StagedStatus = iota + 1
	// StagedFenced: the table's offsets for one of the batch's partitions
	// moved past its From, and it is not in the table: it never will be.
	StagedFenced
	// StagedDeferred: not decided by this commit (the table does not yet
	// record the batch's From, or its files could not be read); try
	// again later.
	StagedDeferred
)

func (s StagedStatus) String() string {
	switch s {
	case StagedCommitted:
		return "committed"
	case StagedFenced:
		return "fenced"
	case StagedDeferred:
		return "deferred"
	}
	return "unknown"
}

// StagedOutcome is the outcome of one staged batch.
type StagedOutcome struct {
	CommitID   string
	Status     StagedStatus
	SnapshotID int64
	Reason     string
}

// CoordinatedResult describes one coordinated commit.
type CoordinatedResult struct {
	// Outcomes are per request, in the requests' order.
	Outcomes []StagedOutcome
	// SnapshotID is the snapshot this commit added (0 if none).
	SnapshotID int64
	// Attempts counts catalog attempts; Accepted the batches it added.
	Attempts, Accepted int
	Duration           time.Duration
}

// CommitStaged commits the staged batches reqs (of any workers) in one
// snapshot through the Writer's Committer. Each batch is, in order, looked
// for in the table (already there: committed, its snapshot given) and
// fenced against the group's offsets as the table records them plus the
// batches accepted before it into the same snapshot: From must equal the
// recorded offset of each of its partitions. A batch whose From is behind
// the recorded offset (or which has no From where one is recorded) is
// fenced; one whose From is ahead of it (the table has not caught up with
// what the worker read) is deferred. The snapshot records the merged
// offsets and event-time maxima under the group's usual keys, and the
// accepted batches' commit ids under CommitIDsKey.
//
// The table is reloaded first, and on every conflict, and the decisions
// are taken again on the reloaded table. An error means nothing was
// committed by this call (or, wrapping ErrUnknownOutcome, that it is not
// known): every request is then undecided.
func (w *Writer) CommitStaged(ctx context.Context, reqs []Staged) (CoordinatedResult, error) {
	start := w.cfg.now()
	res := CoordinatedResult{Outcomes: make([]StagedOutcome, len(reqs))}
	files := make([][]iceberggo.DataFile, len(reqs))
	readErr := make([]error, len(reqs))
	for i, r := range reqs {
		files[i], readErr[i] = w.ReadStaged(ctx, r)
	}
	roundID := uuid.NewString()
	cres, err := w.c.Commit(ctx, CommitRequest{
		IDKey: CommitIDKey, ID: roundID, Attempts: w.cfg.maxAttempts, Resume: true,
		Stage: func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
			var (
				accepted []int
				add      []iceberggo.DataFile
				// per group: the offsets as recorded plus accepted batches
				after  = map[string]Offsets{}
				merged = map[string]*Batch{}
				groups []string
				seen   = map[string]int{}
			)
			for i, r := range reqs {
				out := StagedOutcome{CommitID: r.CommitID}
				if j, dup := seen[r.CommitID]; dup {
					// The same request twice (a replayed or resent
					// message): it shares the first copy's fate.
					res.Outcomes[i] = res.Outcomes[j]
					continue
				}
				seen[r.CommitID] = i
				if id, ok := findSnapshot(base, CommitIDKey, r.CommitID); ok {
					out.Status, out.SnapshotID = StagedCommitted, id
					res.Outcomes[i] = out
					continue
				}
				rec, ok := after[r.Group]
				if !ok {
					recorded, err := w.offsetsAt(base, r.Group)
					if err != nil {
						return err
					}
					rec = recorded.Clone()
					after[r.Group] = rec
				}
				b := Batch{Group: r.Group, From: r.From, To: r.To}
				if bad := fence(rec, &b); len(bad) > 0 {
					out.Status, out.Reason = StagedDeferred, strings.Join(bad, "; ")
					if behind(rec, &b) {
						out.Status = StagedFenced
					}
					res.Outcomes[i] = out
					continue
				}
				if readErr[i] != nil {
					out.Status, out.Reason = StagedDeferred, readErr[i].Error()
					res.Outcomes[i] = out
					continue
				}
				maps.Copy(rec, r.To)
				m := merged[r.Group]
				if m == nil {
					m = &Batch{Group: r.Group, To: Offsets{}, MaxEventTime: Offsets{}}
					merged[r.Group] = m
					groups = append(groups, r.Group)
				}
				maps.Copy(m.To, r.To)
				for tp, ms := range r.MaxEventTime {
					if prev, ok := m.MaxEventTime[tp]; !ok || ms > prev {
						m.MaxEventTime[tp] = ms
					}
				}
				m.Assigned = append(m.Assigned, r.Assigned...)
				accepted = append(accepted, i)
				add = append(add, files[i]...)
				out.Status = StagedCommitted // if this attempt lands
				res.Outcomes[i] = out
			}
			res.Accepted = len(accepted)
			if len(accepted) == 0 {
				return ErrNoChange
			}
			ids := make([]string, len(accepted))
			for k, i := range accepted {
				ids[k] = reqs[i].CommitID
			}
			props := iceberggo.Properties{CommitIDKey: roundID, CommitIDsKey: strings.Join(ids, ",")}
			for _, g := range groups {
				m := merged[g]
				enc, err := EncodeOffsets(m.To)
				if err != nil {
					return err
				}
				props[OffsetsKey(g)] = enc
				recorded, err := w.offsetsAt(base, g)
				if err != nil {
					return err
				}
				if props, err = w.watermarkProps(base, m, recorded, props); err != nil {
					return err
				}
			}
			w.cfg.stage("commit", roundID)
			return stageAppend(ctx, tx, add, props)
		},
	})
	res.Attempts = cres.Attempts
	res.Duration = w.cfg.now().Sub(start)
	if err != nil {
		for i := range res.Outcomes {
			res.Outcomes[i] = StagedOutcome{CommitID: reqs[i].CommitID, Status: StagedDeferred, Reason: err.Error()}
		}
		res.Accepted = 0
		return res, fmt.Errorf("coordinated commit %s: %w", roundID, err)
	}
	if !cres.Committed {
		res.Accepted = 0
		return res, nil // every request committed before or not acceptable
	}
	res.SnapshotID = cres.SnapshotID
	for i := range res.Outcomes {
		if res.Outcomes[i].Status == StagedCommitted && res.Outcomes[i].SnapshotID == 0 {
			res.Outcomes[i].SnapshotID = cres.SnapshotID
		}
	}
	return res, nil
}

// behind says whether the batch can never land on a table recording rec:
// for one of its partitions the table records an offset other than the
// batch's From, and it is past From (or the batch has no From). Offsets
// in the table only move forward, so that stays true.
func behind(rec Offsets, b *Batch) bool {
	for tp := range b.To {
		have, ok := rec[tp]
		if !ok {
			continue
		}
		from, hasFrom := b.From[tp]
		if !hasFrom || have > from {
			return true
		}
	}
	for tp, from := range b.From {
		if have, ok := rec[tp]; ok && have > from {
			return true
		}
	}
	return false
}

// Where says, from the table as it is now, what became of a staged batch
// whose answer did not come: committed (in the table), fenced (can never
// land), or neither (deferred: still pending somewhere, or lost).
func (w *Writer) Where(ctx context.Context, s Staged) (StagedOutcome, error) {
	out := StagedOutcome{CommitID: s.CommitID, Status: StagedDeferred}
	if err := w.Refresh(ctx); err != nil {
		return out, err
	}
	tbl := w.Table()
	if id, ok := findSnapshot(tbl, CommitIDKey, s.CommitID); ok {
		out.Status, out.SnapshotID = StagedCommitted, id
		return out, nil
	}
	rec, err := w.offsetsAt(tbl, s.Group)
	if err != nil {
		return out, err
	}
	b := Batch{Group: s.Group, From: s.From, To: s.To}
	if bad := fence(rec, &b); len(bad) > 0 && behind(rec, &b) {
		out.Status, out.Reason = StagedFenced, strings.Join(bad, "; ")
	}
	return out, nil
}

// ErrNotAnswered is wrapped by a coordinated worker's commit that got no
// answer: the same batch may be committed again (it is resumed).
var ErrNotAnswered = errors.New("iceberg: coordinated commit: no answer from the coordinator")
