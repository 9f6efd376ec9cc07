/**
 * "namespace/name": how Kubernetes names a namespaced object in one string
 * (client-go's cache keys, kubectl's references, KubeVirt's
 * multus.networkName, the Multus annotations). The one place that joins
 * and splits it.
 */

export interface ObjectRef {
  namespace: string;
  name: string;
}

/** `namespace/name`. */
export function objectKey(ref: ObjectRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/**
 * "name" or "namespace/name" → its parts, the namespace defaulting to
 * `namespace`. Splits at the first "/": whether the parts are valid names
 * is the caller's rule (rules-networks.ts reports it).
 */
export function parseObjectKey(key: string, namespace: string): ObjectRef {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** A reference in its full "namespace/name" form, the namespace defaulting to `namespace`. */
export function qualifiedKey(key: string, namespace: string): string {
  return objectKey(parseObjectKey(key, namespace));
}
