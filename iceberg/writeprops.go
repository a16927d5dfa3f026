package iceberg

import iceberggo "github.com/apache/iceberg-go"

// TunedWriteProperties are table properties that make a Parquet writer
// cheaper per data file (BENCHMARKS.md has the figures). A commit with
// thousands of partitions writes thousands of small files, so the fixed
// cost of a file, not the cost of a row, dominates:
//
//   - zstd level 1 instead of the codec's default (3);
//   - no dictionary for uniqueColumns, the columns whose values are
//     (nearly) unique per row: a dictionary is built, then thrown away by
//     the cost fallback.
//
// Set them when the table is created (catalog.EnsureTable's props) or with
// a SetProperties transaction; the writers read them from the table.
func TunedWriteProperties(uniqueColumns ...string) iceberggo.Properties {
	p := iceberggo.Properties{
		"write.parquet.compression-codec": "zstd",
		"write.parquet.compression-level": "1",
	}
	for _, col := range uniqueColumns {
		p["write.parquet.dict-encoding-enabled.column."+col] = "false"
	}
	return p
}
