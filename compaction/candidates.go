package compaction

import (
	"context"
	"fmt"

	iceberggo "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
)

// candidates is the compactor's incremental view of a table's small data
// files: the small live files of every data manifest it has read, by
// manifest path. Manifests are immutable, so a run reads only the manifests
// that appeared since the previous run (an ingest commit adds one; a
// rewrite or manifest merge replaces some) and forgets those that left the
// current snapshot's manifest list. Files at or above the small-file
// threshold are not kept: they are never rewritten.
//
// Memory: one small FileInfo (path, partition key, sizes) per small live
// file, about 200 bytes, plus each partition's values once.
type candidates struct {
	threshold int64
	manifests map[string][]FileInfo
	parts     map[string]partInfo // by specPart
	// read counts the manifests read by the last refresh.
	read int
	// coarse is the table's coarse ingest spec (iceberg.CoarseSpec), nil
	// when it has none. Its files are kept whatever their size, and the
	// default-spec files get their Parent. The view is read again when it
	// changes.
	coarse *iceberggo.PartitionSpec
}

type partInfo struct {
	spec int32
	vals map[int]any
}

func newCandidates(threshold int64) *candidates {
	return &candidates{threshold: threshold, manifests: map[string][]FileInfo{}, parts: map[string]partInfo{}}
}

// refresh brings the view to tbl's current snapshot and returns the small
// live files.
func (c *candidates) refresh(ctx context.Context, tbl *table.Table) ([]FileInfo, error) {
	c.read = 0
	head := tbl.CurrentSnapshot()
	if head == nil {
		clear(c.manifests)
		clear(c.parts)
		return nil, nil
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("table io: %w", err)
	}
	list, err := head.Manifests(fs)
	if err != nil {
		return nil, fmt.Errorf("read manifest list: %w", err)
	}
	md := tbl.Metadata()
	var coarse *iceberggo.PartitionSpec
	if cs, ok := iceberg.CoarseSpec(md); ok {
		coarse = &cs
	}
	if (coarse == nil) != (c.coarse == nil) || (coarse != nil && coarse.ID() != c.coarse.ID()) {
		clear(c.manifests)
		clear(c.parts)
		c.coarse = coarse
	}
	current := make(map[string]struct{}, len(list))
	for _, m := range list {
		if m.ManifestContent() != iceberggo.ManifestContentData {
			continue
		}
		current[m.FilePath()] = struct{}{}
		if _, ok := c.manifests[m.FilePath()]; ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		files, err := c.readManifest(fs, md, m)
		if err != nil {
			return nil, err
		}
		c.manifests[m.FilePath()] = files
		c.read++
	}
	var out []FileInfo
	used := make(map[string]struct{})
	for path, files := range c.manifests {
		if _, ok := current[path]; !ok {
			delete(c.manifests, path)
			continue
		}
		for _, f := range files {
			used[specPart(f.SpecID, f.Partition)] = struct{}{}
		}
		out = append(out, files...)
	}
	for k := range c.parts {
		if _, ok := used[k]; !ok {
			delete(c.parts, k)
		}
	}
	return out, nil
}

// readManifest keeps the small live data files of one manifest. A manifest
// whose summary counts no live file is not opened.
func (c *candidates) readManifest(fs iceio.IO, md table.Metadata, m iceberggo.ManifestFile) ([]FileInfo, error) {
	if !m.HasAddedFiles() && !m.HasExistingFiles() {
		return nil, nil
	}
	var out []FileInfo
	for e, err := range m.Entries(fs, true) {
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", m.FilePath(), err)
		}
		df := e.DataFile()
		if df.ContentType() != iceberggo.EntryContentData {
			continue
		}
		isCoarse := c.coarse != nil && df.SpecID() == int32(c.coarse.ID())
		if df.FileSizeBytes() >= c.threshold && !isCoarse {
			continue
		}
		spec := md.PartitionSpecByID(int(df.SpecID()))
		key := partitionKey(spec, df)
		if pk := specPart(df.SpecID(), key); c.parts[pk].vals == nil {
			c.parts[pk] = partInfo{spec: df.SpecID(), vals: df.Partition()}
		}
		fi := FileInfo{
			Path: df.FilePath(), SpecID: df.SpecID(), Partition: key,
			SizeBytes: df.FileSizeBytes(), Records: df.Count(), Coarse: isCoarse,
			addedBy: e.SnapshotID(),
		}
		if c.coarse != nil && !isCoarse && df.SpecID() == int32(md.DefaultPartitionSpec()) {
			fi.Parent = partitionKey(c.coarse, df)
		}
		out = append(out, fi)
	}
	return out, nil
}

// dataFile is the DataFile a rewrite deletes: path, partition and counts,
// which is all a replace commit matches on.
func (c *candidates) dataFile(md table.Metadata, f FileInfo) (iceberggo.DataFile, error) {
	p, ok := c.parts[specPart(f.SpecID, f.Partition)]
	if !ok {
		return nil, fmt.Errorf("file %s: partition %s unknown", f.Path, f.Partition)
	}
	spec := md.PartitionSpecByID(int(p.spec))
	if spec == nil {
		return nil, fmt.Errorf("file %s: partition spec %d unknown", f.Path, p.spec)
	}
	b, err := iceberggo.NewDataFileBuilder(*spec, iceberggo.EntryContentData, f.Path, iceberggo.ParquetFile,
		p.vals, nil, nil, f.Records, f.SizeBytes)
	if err != nil {
		return nil, err
	}
	return b.Build(), nil
}

// liveSet is the set of small live files the view holds, each with the
// path of the manifest holding it. Build it once per table state: it holds
// every small file of the table.
func (c *candidates) liveSet() liveFiles {
	n := 0
	for _, files := range c.manifests {
		n += len(files)
	}
	set := make(liveFiles, n)
	for m, files := range c.manifests {
		for _, f := range files {
			set[f.Path] = m
		}
	}
	return set
}

// liveFiles maps data file paths to the manifest holding each.
type liveFiles map[string]string

// all reports whether every path is in the set.
func (s liveFiles) all(paths []string) bool {
	for _, p := range paths {
		if _, ok := s[p]; !ok {
			return false
		}
	}
	return true
}

// manifests returns the paths of the manifests holding any of paths.
func (s liveFiles) manifests(paths map[string]struct{}) map[string]struct{} {
	out := make(map[string]struct{})
	for p := range paths {
		if m, ok := s[p]; ok {
			out[m] = struct{}{}
		}
	}
	return out
}

func specPart(spec int32, part string) string { return fmt.Sprintf("%d|%s", spec, part) }
