package catalog

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// richMetadata is a format-2 table's metadata with every field floe's
// metadata encoder writes: snapshots (from..to, summaries with floe's
// properties), a branch and a tag, two schemas, two specs, a sort order,
// statistics and partition statistics, properties and a metadata log.
func richMetadata(t *testing.T, base table.Metadata, from, to int64) table.Metadata {
	t.Helper()
	b, err := table.MetadataBuilderFromBase(base, fmt.Sprintf("file:///wh/t/metadata/%05d-5b3c0a16-5cf4-4c8a-9b8e-3f1f0c2d9a41.metadata.json", from))
	if err != nil {
		t.Fatal(err)
	}
	var parent *int64
	if cur := base.CurrentSnapshot(); cur != nil {
		id := cur.SnapshotID
		parent = &id
	}
	for id := from; id <= to; id++ {
		schema := 0
		s := &table.Snapshot{
			SnapshotID: 1<<62 + id, ParentSnapshotID: parent, SequenceNumber: base.LastSequenceNumber() + id - from + 1,
			TimestampMs: time.Now().UnixMilli() + id, ManifestList: fmt.Sprintf("file:///wh/t/metadata/snap-%d.avro", id),
			Summary: &table.Summary{Operation: table.OpAppend, Properties: iceberggo.Properties{
				"added-records": "20123", "floe.offsets.soak": `{"soak.payments":{"0":123398,"1":"\u00e9\"x"}}`,
			}},
			SchemaID: &schema,
		}
		if err := b.AddSnapshot(s); err != nil {
			t.Fatal(err)
		}
		if err := b.SetSnapshotRef(table.MainBranch, s.SnapshotID, table.BranchRef); err != nil {
			t.Fatal(err)
		}
		parent = &s.SnapshotID
	}
	if err := b.SetSnapshotRef("audit", *parent, table.TagRef, table.WithMaxRefAgeMs(86_400_000)); err != nil {
		t.Fatal(err)
	}
	if err := b.SetStatistics(table.StatisticsFile{SnapshotID: *parent, StatisticsPath: "file:///wh/t/stats.puffin",
		FileSizeInBytes: 10, FileFooterSizeInBytes: 4, BlobMetadata: []table.BlobMetadata{{
			Type: table.BlobTypeApacheDatasketchesThetaV1, SnapshotID: *parent, SequenceNumber: 1, Fields: []int32{1},
			Properties: map[string]string{"ndv": "3"},
		}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPartitionStatistics(table.PartitionStatisticsFile{SnapshotID: *parent, StatisticsPath: "file:///wh/t/p.parquet", FileSizeInBytes: 9}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetProperties(iceberggo.Properties{"k": fmt.Sprint(to), "write.metadata.delete-after-commit.enabled": "true"}); err != nil {
		t.Fatal(err)
	}
	md, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return md
}

func baseMetadata(t *testing.T) table.Metadata {
	t.Helper()
	sc := iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: "transaction_id", Type: iceberggo.PrimitiveTypes.String, Required: true},
		iceberggo.NestedField{ID: 2, Name: "currency", Type: iceberggo.PrimitiveTypes.String},
		iceberggo.NestedField{ID: 3, Name: "merchant_id", Type: iceberggo.PrimitiveTypes.String},
	)
	spec := iceberggo.NewPartitionSpec(
		iceberggo.PartitionField{SourceIDs: []int{2}, FieldID: 1000, Name: "currency", Transform: iceberggo.IdentityTransform{}},
		iceberggo.PartitionField{SourceIDs: []int{3}, FieldID: 1001, Name: "merchant_id", Transform: iceberggo.IdentityTransform{}},
	)
	order, err := table.NewSortOrder(1, []table.SortField{{SourceIDs: []int{3}, Transform: iceberggo.IdentityTransform{}, Direction: table.SortASC, NullOrder: table.NullsFirst}})
	if err != nil {
		t.Fatal(err)
	}
	md, err := table.NewMetadata(sc, &spec, order, "file:///wh/t", iceberggo.Properties{table.PropertyFormatVersion: "2"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := table.MetadataBuilderFromBase(md, "")
	if err != nil {
		t.Fatal(err)
	}
	coarse := iceberggo.NewPartitionSpecID(1,
		iceberggo.PartitionField{SourceIDs: []int{2}, FieldID: 1000, Name: "currency", Transform: iceberggo.IdentityTransform{}})
	if err := b.AddPartitionSpec(&coarse, false); err != nil {
		t.Fatal(err)
	}
	sc2 := iceberggo.NewSchema(1, append(sc.Fields(), iceberggo.NestedField{ID: 4, Name: "status", Type: iceberggo.PrimitiveTypes.String})...)
	if err := b.AddSchema(sc2); err != nil {
		t.Fatal(err)
	}
	if err := b.SetCurrentSchemaID(1); err != nil {
		t.Fatal(err)
	}
	if md, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	return md
}

// TestMetadataJSON: the encoder writes what json.Marshal writes (the same
// JSON values) commit after commit, for metadata with every field it
// handles, keeps one encoding per retained snapshot, and a document that
// differs from json.Marshal's in its first check turns it off.
func TestMetadataJSON(t *testing.T) {
	md := baseMetadata(t)
	var m metadataJSON
	check := func(md table.Metadata) {
		t.Helper()
		got, err := m.encode(md)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(got, want) {
			t.Fatalf("encoded metadata differs from json.Marshal's:\n%s\n%s", got, want)
		}
		if _, err := table.ParseMetadataBytes(got); err != nil {
			t.Fatalf("iceberg-go cannot parse the encoded metadata: %v", err)
		}
		if m.off {
			t.Fatal("the encoder turned itself off")
		}
	}
	check(md) // no snapshots
	md = richMetadata(t, md, 1, 40)
	check(md)
	md = richMetadata(t, md, 41, 45)
	check(md)

	// Expiry: the cache keeps the retained snapshots only.
	b, err := table.MetadataBuilderFromBase(md, "file:///wh/t/metadata/00046-5b3c0a16-5cf4-4c8a-9b8e-3f1f0c2d9a41.metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	var old []int64
	for _, s := range md.Snapshots()[:30] {
		old = append(old, s.SnapshotID)
	}
	if err := b.RemoveSnapshots(old, false); err != nil {
		t.Fatal(err)
	}
	if md, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	check(md)
	var retained []int64
	for _, s := range md.Snapshots() {
		retained = append(retained, s.SnapshotID)
	}
	if cached := slices.Sorted(maps.Keys(m.snaps)); !slices.Equal(cached, retained) {
		t.Errorf("cached snapshots %v, want the retained %v", cached, retained)
	}

	// A snapshot of a known id written again by another attempt of its
	// commit (a new manifest list) is encoded again.
	last := md.Snapshots()[len(md.Snapshots())-1]
	stale := m.snaps[last.SnapshotID]
	stale.list = "file:///wh/t/metadata/snap-an-earlier-attempt.avro"
	stale.enc = []byte(`{"snapshot-id":1}`)
	m.snaps[last.SnapshotID] = stale
	check(md)

	// The check at the first document: a wrong encoding is not written.
	first := md.Snapshots()[0]
	bad := metadataJSON{snaps: map[int64]snapshotJSON{first.SnapshotID: {enc: []byte(`{"snapshot-id":1}`), list: first.ManifestList, seq: first.SequenceNumber}}}
	got, err := bad.encode(md)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(md)
	if !bad.off || !sameJSON(got, want) {
		t.Errorf("a document that differs from json.Marshal's: off=%v, written as json.Marshal's: %v", bad.off, sameJSON(got, want))
	}
}

// BenchmarkMetadataJSON: encoding a metadata.json of 800 snapshots after a
// commit added one, with iceberg-go's json.Marshal and with the encoder
// that keeps each snapshot's encoding.
//
//	go test -run '^$' -bench BenchmarkMetadataJSON ./catalog/
func BenchmarkMetadataJSON(b *testing.B) {
	t := &testing.T{}
	md := richMetadata(t, baseMetadata(t), 1, 800)
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(md); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		var m metadataJSON
		if _, err := m.encode(md); err != nil {
			b.Fatal(err)
		}
		delete(m.snaps, md.CurrentSnapshot().SnapshotID) // the new one
		for b.Loop() {
			if _, err := m.encode(md); err != nil {
				b.Fatal(err)
			}
			delete(m.snaps, md.CurrentSnapshot().SnapshotID)
		}
	})
}
