/**
 * `-n NS` for manifests, as `kubectl apply -n NS` treats them: an object that
 * names no namespace goes into NS; one that names another is refused (kubectl:
 * "the namespace from the provided object does not match"). Without -n the
 * objects keep theirs, and those without one are in "default" (normalize.ts).
 */
import type { Manifest, Problem } from '../api/manifests.ts';

interface WithMetadata {
  metadata: { namespace?: unknown };
}

function hasMetadata(object: unknown): object is WithMetadata {
  const metadata = (object as { metadata?: unknown } | null)?.metadata;
  return typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata);
}

function placed(m: Manifest, namespace: string): Manifest | Problem {
  // What is no object with metadata is validation's to report, with its own field path.
  if (!hasMetadata(m.object)) return m;
  const own = m.object.metadata.namespace;
  if (own === undefined) return { ...m, object: { ...m.object, metadata: { ...m.object.metadata, namespace } } };
  if (own === namespace) return m;
  return {
    source: m.source,
    path: 'metadata.namespace',
    rule:
      `${JSON.stringify(own)} does not match the namespace ${JSON.stringify(namespace)} given by -n: ` +
      'leave out -n, or the field',
  };
}

/** The manifests in `namespace` (-n), or unchanged without it; objects of another namespace become problems. */
export function inNamespace(
  manifests: readonly Manifest[],
  namespace: string | undefined,
): { manifests: Manifest[]; problems: Problem[] } {
  if (namespace === undefined) return { manifests: [...manifests], problems: [] };
  const results = manifests.map((m) => placed(m, namespace));
  return {
    manifests: results.filter((r): r is Manifest => 'object' in r),
    problems: results.filter((r): r is Problem => 'rule' in r),
  };
}
