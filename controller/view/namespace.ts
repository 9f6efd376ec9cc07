/**
 * The namespace of every CLI (`virtnet`, `kubectl virtnet`, the cluster
 * binary's roles): `-n NS` checked where it is parsed, and manifests placed
 * as `kubectl apply -n NS` places them: an object that names no namespace goes
 * into NS; one that names another is refused (kubectl: "the namespace from the
 * provided object does not match"). Without -n, objects keep theirs and those
 * without one go to the default (virtnet: "default", normalize.ts; kubectl
 * virtnet: the context's namespace), none refused.
 */
import { InvalidArgumentError } from 'commander';
import { dns1123LabelProblem } from '../../lib/names.ts';
import type { Manifest, Problem } from '../api/manifests.ts';

/**
 * -n's value parser: a namespace is a DNS-1123 label, as the API server requires. An empty one would list every
 * namespace (kubectl's "" is all) and a bad one would end up in a path or a URL: both are bad usage (exit 2).
 */
export function namespaceFlag(value: string): string {
  const problem = dns1123LabelProblem(value);
  if (problem) throw new InvalidArgumentError(`a namespace is a DNS-1123 label: ${problem}`);
  return value;
}

interface WithMetadata {
  metadata: { namespace?: unknown };
}

function hasMetadata(object: unknown): object is WithMetadata {
  const metadata = (object as { metadata?: unknown } | null)?.metadata;
  return typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata);
}

function placed(m: Manifest, namespace: string, fromFlag: boolean): Manifest | Problem {
  // What is no object with metadata is validation's to report, with its own field path.
  if (!hasMetadata(m.object)) return m;
  const own = m.object.metadata.namespace;
  if (own === undefined) return { ...m, object: { ...m.object, metadata: { ...m.object.metadata, namespace } } };
  if (own === namespace || !fromFlag) return m;
  return {
    source: m.source,
    path: 'metadata.namespace',
    rule:
      `${JSON.stringify(own)} does not match the namespace ${JSON.stringify(namespace)} given by -n: ` +
      'leave out -n, or the field',
  };
}

/**
 * The manifests in `namespace`, or unchanged without one. With `fromFlag` (the default: `namespace` is -n's), an
 * object naming another namespace becomes a problem; without it (a default namespace) it keeps its own.
 */
export function inNamespace(
  manifests: readonly Manifest[],
  namespace: string | undefined,
  fromFlag = true,
): { manifests: Manifest[]; problems: Problem[] } {
  if (namespace === undefined) return { manifests: [...manifests], problems: [] };
  const results = manifests.map((m) => placed(m, namespace, fromFlag));
  return {
    manifests: results.filter((r): r is Manifest => 'object' in r),
    problems: results.filter((r): r is Problem => 'rule' in r),
  };
}
