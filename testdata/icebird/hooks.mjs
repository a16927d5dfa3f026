// Module resolve hook: icebird's Avro reader gets avro-deflate.mjs for
// 'hyparquet-compressors' (see there why).
export async function resolve(specifier, context, next) {
  if (specifier === 'hyparquet-compressors' && context.parentURL?.includes('/icebird/src/avro/')) {
    return next(new URL('./avro-deflate.mjs', import.meta.url).href, context)
  }
  return next(specifier, context)
}
