// Reads Parquet files with hyparquet and prints one JSON line per file:
// {"file", "num_rows", "created_by", "rows": [...]}. Values are made JSON
// safe (byte arrays without a STRING annotation stay bytes: utf8 false):
// bigint -> decimal string, Uint8Array -> hex, Date -> ISO string.
import { parquetReadObjects, parquetMetadataAsync, asyncBufferFromFile } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

const safe = (k, v) => {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
  return v
}
for (const f of process.argv.slice(2)) {
  const file = await asyncBufferFromFile(f)
  const md = await parquetMetadataAsync(file)
  const rows = await parquetReadObjects({ file, compressors, utf8: false })
  console.log(JSON.stringify({ file: f, num_rows: Number(md.num_rows), created_by: md.created_by, rows }, safe))
}
