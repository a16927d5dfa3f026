// Reads Iceberg tables with icebird (an Iceberg implementation in
// JavaScript sharing no code with iceberg-go: its own metadata JSON, Avro
// manifest list and manifest readers, Parquet through hyparquet) and prints
// one JSON line per table: {"table", "rows": [...], "files": [{"path",
// "partition", "record_count", "spec_id"}]}.
//
// Argument: a JSON array of {"table_url", "metadata_file", "s3_endpoint"?}.
// Locations are resolved literally, as Hadoop's Path, Trino and Java's
// S3FileIO do: file://PATH is the file PATH byte for byte (no
// percent-decoding), and s3://bucket/KEY is the object KEY, fetched from
// s3_endpoint (path-style) with the key percent-encoded for HTTP.
import { readFile, stat } from 'node:fs/promises'
import { register } from 'node:module'

// icebird's Avro deflate decoding is broken for Go-written streams: see
// avro-deflate.mjs. Registered before icebird is loaded.
register('./hooks.mjs', import.meta.url)
const { icebergMetadata, icebergManifests, icebergRead } = await import('icebird')

const realFetch = globalThis.fetch
let s3Endpoint = ''

const safe = (k, v) => {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
  return v
}

// Each byte of the key but unreserved ones and '/' as %XX.
function encodeKey(key) {
  let out = ''
  for (const b of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(b)
    if (/[A-Za-z0-9\-._~\/]/.test(c)) out += c
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

function rangeOf(init) {
  const h = new Headers(init?.headers)
  const r = h.get('Range')
  if (!r) return undefined
  const m = /^bytes=(\d+)-(\d*)$/.exec(r)
  if (!m) throw new Error('bad range ' + r)
  return [Number(m[1]), m[2] === '' ? undefined : Number(m[2]) + 1]
}

globalThis.fetch = async (url, init) => {
  url = String(url)
  if (url.startsWith('file://')) {
    let path = url.slice('file://'.length)
    if (path.startsWith('localhost/')) path = path.slice('localhost'.length)
    let buf
    try {
      if (init?.method === 'HEAD') {
        const st = await stat(path)
        return new Response(null, { status: 200, headers: { 'Content-Length': String(st.size) } })
      }
      buf = await readFile(path)
    } catch (e) {
      return new Response('not found: ' + path, { status: 404 })
    }
    const r = rangeOf(init)
    if (r) return new Response(buf.subarray(r[0], r[1]), { status: 206 })
    return new Response(buf, { status: 200 })
  }
  // icebird turns s3://bucket/key into https://bucket.s3.amazonaws.com/key.
  const m = /^https:\/\/([^./]+)\.s3\.amazonaws\.com\/(.*)$/s.exec(url)
  if (m && s3Endpoint) {
    return realFetch(`${s3Endpoint}/${m[1]}/${encodeKey(m[2])}`, init)
  }
  return new Response('no such location: ' + url, { status: 404 })
}

const tables = JSON.parse(process.argv[2])
for (const t of tables) {
  s3Endpoint = t.s3_endpoint ?? ''
  const metadata = await icebergMetadata({ tableUrl: t.table_url, metadataFileName: t.metadata_file })
  const manifests = await icebergManifests(metadata)
  const files = []
  for (const { entries } of manifests) {
    for (const e of entries) {
      if (e.status === 2) continue
      files.push({ path: e.data_file.file_path, partition: e.data_file.partition, record_count: e.data_file.record_count, spec_id: e.data_file.spec_id })
    }
  }
  const rows = await icebergRead({ tableUrl: t.table_url, metadata })
  console.log(JSON.stringify({ table: t.table_url, rows, files }, safe))
}
