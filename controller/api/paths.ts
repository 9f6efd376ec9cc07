/**
 * Field paths as Kubernetes prints them (k8s.io/apimachinery validation
 * field.Path): `spec.domain.devices.interfaces[1].macAddress`, and map keys
 * that are not plain identifiers in brackets, `metadata.annotations["k8s.v1.cni.cncf.io/networks"]`.
 */

/**
 * A value as a rule quotes it: JSON, cut after 100 characters (so a 2 MiB
 * string does not end up in a message). The dnsmasq value rules use the same.
 */
export { showValue as shown } from '../../lib/show.ts';

/** One problem with one field; manifests.ts adds the document it came from. */
export interface RuleProblem {
  path: string;
  rule: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/u;

/** `parent.key`, or `parent["key"]` when the key is not an identifier; a bare key at the root. */
export function child(parent: string, key: string): string {
  if (!IDENT.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

export function index(parent: string, i: number): string {
  return `${parent}[${i}]`;
}
