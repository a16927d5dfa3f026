package compaction

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// replaceSnapshot builds the replace snapshot of a rewrite itself, instead
// of through iceberg-go's rewrite producer, which reads every manifest of
// the table and holds all their entries to find the files to delete: O(live
// files) in time and memory per commit attempt, inside the committer's turn.
//
// Here only the manifests that hold an input are read (the candidates view
// knows which: it read each manifest once when it appeared), streamed entry
// by entry into a new manifest where the inputs are DELETED and everything
// else EXISTING with its original snapshot id and sequence numbers; every
// other manifest is carried into the new manifest list unread, except those
// left with DELETED entries only by an earlier snapshot, which are dropped. The outputs
// go into one new manifest per partition spec. The snapshot (operation
// "replace", the usual summary counts and totals, the carried props) and
// the main branch's move to it are returned as catalog updates for the
// Committer, which pins them to base.
//
// It returns errNotLive when an input is not in the manifests the view says
// hold it (the view is refreshed on base first, so that means a concurrent
// commit removed it).
type replaceSnapshot struct {
	base   *table.Table
	md     table.Metadata
	fs     iceio.WriteFileIO
	locs   table.LocationProvider
	snapID int64
	commit uuid.UUID
	n      int // manifests written
	// written are the files this attempt wrote, removed if it is not sent.
	written []string
}

var errNotLive = errors.New("an input file is no longer live")

// buildReplace returns the updates that replace the inputs of work (the
// set of their paths) with their outputs on base. touched names, by
// manifest path, the manifests holding inputs.
func buildReplace(ctx context.Context, base *table.Table, work []staged, inputs, touched map[string]struct{}, props iceberggo.Properties) (_ []table.Update, written []string, err error) {
	md := base.Metadata()
	head := base.CurrentSnapshot()
	if head == nil {
		return nil, nil, errNotLive
	}
	fsys, err := base.FS(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("table io: %w", err)
	}
	wfs, ok := fsys.(iceio.WriteFileIO)
	if !ok {
		return nil, nil, errors.New("table io cannot write")
	}
	locs, err := table.LoadLocationProvider(md.Location(), md.Properties())
	if err != nil {
		return nil, nil, err
	}
	r := &replaceSnapshot{base: base, md: md, fs: wfs, locs: locs, commit: uuid.New()}
	r.snapID = newSnapshotID(md)
	defer func() {
		if err != nil {
			r.removeWritten()
		}
	}()

	list, err := head.Manifests(fsys)
	if err != nil {
		return nil, nil, fmt.Errorf("read manifest list: %w", err)
	}
	var (
		out []iceberggo.ManifestFile
		sum changes
	)
	for _, m := range list {
		if dead(m) {
			// Only DELETED entries, of an earlier snapshot: they belong
			// to that snapshot, not to this one (Java drops them too).
			continue
		}
		if _, ok := touched[m.FilePath()]; !ok || m.ManifestContent() != iceberggo.ManifestContentData {
			out = append(out, m)
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		mf, err := r.rewriteManifest(m, inputs, &sum)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, mf)
	}
	if sum.deletedFiles != int64(len(inputs)) {
		return nil, nil, fmt.Errorf("%w: %d of %d inputs found in the manifests holding them", errNotLive, sum.deletedFiles, len(inputs))
	}
	added, err := r.addedManifests(work, &sum)
	if err != nil {
		return nil, nil, err
	}
	// New manifests first, as iceberg-go and Java order them.
	out = append(added, out...)

	seq := md.LastSequenceNumber() + 1
	listPath := locs.NewMetadataLocation(fmt.Sprintf("snap-%d-1-%s.avro", r.snapID, r.commit))
	if err := r.writeFile(listPath, func(w io.Writer) error {
		parent := head.SnapshotID
		return iceberggo.WriteManifestList(md.Version(), w, r.snapID, &parent, &seq, 0, out)
	}); err != nil {
		return nil, nil, fmt.Errorf("write manifest list: %w", err)
	}

	schemaID := md.CurrentSchema().ID
	parent := head.SnapshotID
	snap := table.Snapshot{
		SnapshotID:       r.snapID,
		ParentSnapshotID: &parent,
		SequenceNumber:   seq,
		TimestampMs:      max(time.Now().UnixMilli(), md.LastUpdatedMillis()),
		ManifestList:     listPath,
		Summary:          &table.Summary{Operation: table.OpReplace, Properties: sum.summary(head, props)},
		SchemaID:         &schemaID,
	}
	return []table.Update{
		table.NewAddSnapshotUpdate(&snap),
		table.NewSetSnapshotRefUpdate(table.MainBranch, r.snapID, table.BranchRef, -1, -1, -1),
	}, r.written, nil
}

// rewriteManifest copies m's live entries into a new manifest, inputs as
// DELETED (kept in the snapshot that removes them, as the spec has it), the
// rest EXISTING.
func (r *replaceSnapshot) rewriteManifest(m iceberggo.ManifestFile, inputs map[string]struct{}, sum *changes) (iceberggo.ManifestFile, error) {
	mf, err := r.writeManifest(m.PartitionSpecID(), func(mw *iceberggo.ManifestWriter) error {
		for e, err := range m.Entries(r.fs, true) {
			if err != nil {
				return fmt.Errorf("read manifest %s: %w", m.FilePath(), err)
			}
			df := e.DataFile()
			if _, ok := inputs[df.FilePath()]; ok {
				sum.deleted(df)
				err = mw.Delete(e)
			} else {
				err = mw.Existing(e)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rewrite manifest %s: %w", m.FilePath(), err)
	}
	return mf, nil
}

// addedManifests writes the outputs of work as ADDED entries, one manifest
// per partition spec.
func (r *replaceSnapshot) addedManifests(work []staged, sum *changes) ([]iceberggo.ManifestFile, error) {
	bySpec := make(map[int32][]iceberggo.DataFile)
	var order []int32
	for _, w := range work {
		for _, df := range w.result.NewDataFiles {
			if _, ok := bySpec[df.SpecID()]; !ok {
				order = append(order, df.SpecID())
			}
			bySpec[df.SpecID()] = append(bySpec[df.SpecID()], df)
		}
	}
	var out []iceberggo.ManifestFile
	for _, id := range order {
		mf, err := r.writeManifest(id, func(mw *iceberggo.ManifestWriter) error {
			for _, df := range bySpec[id] {
				sum.added(df)
				if err := mw.Add(iceberggo.NewManifestEntry(iceberggo.EntryStatusADDED, &r.snapID, nil, nil, df)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("write added manifest: %w", err)
		}
		out = append(out, mf)
	}
	return out, nil
}

// writeManifest writes a new data manifest of the given partition spec for
// the replace snapshot, its entries added by fill.
func (r *replaceSnapshot) writeManifest(specID int32, fill func(*iceberggo.ManifestWriter) error) (iceberggo.ManifestFile, error) {
	spec := r.md.PartitionSpecByID(int(specID))
	if spec == nil {
		return nil, fmt.Errorf("partition spec %d unknown", specID)
	}
	path := r.locs.NewMetadataLocation(r.manifestName())
	var mf iceberggo.ManifestFile
	err := r.writeFile(path, func(w io.Writer) error {
		cw := &countingWriter{w: w}
		mw, err := iceberggo.NewManifestWriter(r.md.Version(), cw, *spec, r.md.CurrentSchema(), r.snapID)
		if err != nil {
			return err
		}
		if err := fill(mw); err != nil {
			return err
		}
		if err := mw.Close(); err != nil {
			return err
		}
		mf, err = mw.ToManifestFile(path, cw.n)
		return err
	})
	return mf, err
}

func (r *replaceSnapshot) manifestName() string {
	r.n++
	return fmt.Sprintf("%s-m%d.avro", r.commit, r.n-1)
}

// writeFile creates path and lets fill write it.
func (r *replaceSnapshot) writeFile(path string, fill func(io.Writer) error) error {
	f, err := r.fs.Create(path)
	if err != nil {
		return err
	}
	r.written = append(r.written, path)
	if err := fill(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (r *replaceSnapshot) removeWritten() {
	removeFiles(r.fs, r.written)
}

// removeFiles deletes paths, ignoring failures (orphan cleanup removes what
// is left).
func removeFiles(fs iceio.IO, paths []string) {
	for _, p := range paths {
		_ = fs.Remove(p)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// newSnapshotID returns a positive snapshot id the table does not hold yet.
func newSnapshotID(md table.Metadata) int64 {
	for {
		u := uuid.New()
		var id int64
		for i := range 8 {
			id = id<<8 | int64(u[i]^u[i+8])
		}
		if id < 0 {
			id = -id
		}
		if id > 0 && md.SnapshotByID(id) == nil {
			return id
		}
	}
}

// changes counts what a replace snapshot adds and deletes, for its summary.
type changes struct {
	addedFiles, deletedFiles     int64
	addedRecords, deletedRecords int64
	addedSize, removedSize       int64
	partitions                   map[string]struct{}
}

func (c *changes) added(df iceberggo.DataFile) {
	c.addedFiles++
	c.addedRecords += df.Count()
	c.addedSize += df.FileSizeBytes()
	c.partition(df)
}

func (c *changes) deleted(df iceberggo.DataFile) {
	c.deletedFiles++
	c.deletedRecords += df.Count()
	c.removedSize += df.FileSizeBytes()
	c.partition(df)
}

func (c *changes) partition(df iceberggo.DataFile) {
	if c.partitions == nil {
		c.partitions = make(map[string]struct{})
	}
	c.partitions[fmt.Sprintf("%d|%v", df.SpecID(), df.Partition())] = struct{}{}
}

// summary returns props plus the counts of the change and the table's
// totals after it (carried from head's totals when head has them).
func (c *changes) summary(head *table.Snapshot, props iceberggo.Properties) iceberggo.Properties {
	out := make(iceberggo.Properties, len(props)+16)
	for k, v := range props {
		out[k] = v
	}
	set := func(k string, v int64) { out[k] = strconv.FormatInt(v, 10) }
	set("added-data-files", c.addedFiles)
	set("deleted-data-files", c.deletedFiles)
	set("added-records", c.addedRecords)
	set("deleted-records", c.deletedRecords)
	set("added-files-size", c.addedSize)
	set("removed-files-size", c.removedSize)
	set("changed-partition-count", int64(len(c.partitions)))
	var prev iceberggo.Properties
	if head.Summary != nil {
		prev = head.Summary.Properties
	}
	total := func(k string, delta int64) {
		v, err := strconv.ParseInt(prev[k], 10, 64)
		if err != nil {
			return // head has no total: none after either
		}
		set(k, v+delta)
	}
	total("total-data-files", c.addedFiles-c.deletedFiles)
	total("total-records", c.addedRecords-c.deletedRecords)
	total("total-files-size", c.addedSize-c.removedSize)
	for _, k := range []string{"total-delete-files", "total-position-deletes", "total-equality-deletes"} {
		total(k, 0)
	}
	return out
}
