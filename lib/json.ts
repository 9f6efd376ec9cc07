/** Foreign JSON (a config, an annotation, a file): the one test for "a JSON object", before any field is read. */
export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
