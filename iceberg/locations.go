package iceberg

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go/table"
)

// FileKind says what a referenced file is.
type FileKind string

const (
	KindMetadata     FileKind = "metadata"
	KindManifestList FileKind = "manifest-list"
	KindManifest     FileKind = "manifest"
	KindData         FileKind = "data"
	KindStatistics   FileKind = "statistics"
)

// ReferencedFile is one file the table's metadata names, by its location
// string exactly as written.
type ReferencedFile struct {
	Location string
	Kind     FileKind
}

// ReferencedFiles lists every file tbl's metadata references: the current
// and previous metadata files, statistics files, and the manifest lists,
// manifests and data or delete files of every snapshot (entries marked
// deleted included: an older snapshot may still read them). Each location
// appears once.
func ReferencedFiles(ctx context.Context, tbl *table.Table) ([]ReferencedFile, error) {
	seen := map[string]bool{}
	var out []ReferencedFile
	add := func(loc string, k FileKind) {
		if loc == "" || seen[loc] {
			return
		}
		seen[loc] = true
		out = append(out, ReferencedFile{Location: loc, Kind: k})
	}
	md := tbl.Metadata()
	add(tbl.MetadataLocation(), KindMetadata)
	for e := range md.PreviousFiles() {
		add(e.MetadataFile, KindMetadata)
	}
	for sf := range md.Statistics() {
		add(sf.StatisticsPath, KindStatistics)
	}
	for psf := range md.PartitionStatistics() {
		add(psf.StatisticsPath, KindStatistics)
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("table io: %w", err)
	}
	manifests := map[string]bool{}
	for _, snap := range md.Snapshots() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		add(snap.ManifestList, KindManifestList)
		mfs, err := snap.Manifests(fsys)
		if err != nil {
			return nil, fmt.Errorf("snapshot %d: manifests: %w", snap.SnapshotID, err)
		}
		for _, mf := range mfs {
			if manifests[mf.FilePath()] {
				continue
			}
			manifests[mf.FilePath()] = true
			add(mf.FilePath(), KindManifest)
			entries, err := mf.FetchEntries(fsys, false)
			if err != nil {
				return nil, fmt.Errorf("manifest %s: %w", mf.FilePath(), err)
			}
			for _, e := range entries {
				add(e.DataFile().FilePath(), KindData)
			}
		}
	}
	return out, nil
}
