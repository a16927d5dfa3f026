// icebird 0.3.1 inflates Avro "deflate" blocks with hyparquet-compressors'
// gunzip, a gzip decoder: after the last block of a stream it looks for a
// further gzip member 8 bytes on, and with no gzip header there it decodes
// again from byte 0 into its full buffer. A raw RFC 1951 stream that ends
// in an empty stored block (what Go's compress/flate writes, so every
// manifest iceberg-go writes) then fails with "RangeError: offset is out of
// bounds". The Avro spec's deflate codec is raw RFC 1951 (no gzip framing),
// so the stream is right and the reader is wrong. This hook hands icebird's
// Avro reader (only) a gunzip that is node's raw inflate; everything else
// of icebird, Avro parsing included, is its own.
import { inflateRawSync } from 'node:zlib'
export * from 'hyparquet-compressors'
export function gunzip(input) {
  return new Uint8Array(inflateRawSync(input))
}
