/**
 * Structure checks: TypeBox's Value.Errors turned into one readable problem
 * per bad field.
 *
 * TypeBox reports JSON pointers (/spec/domain/devices/interfaces/0/name) and
 * messages such as "Expected union value"; this file renders the path the way
 * Kubernetes does (spec.domain.devices.interfaces[0].name, using the document
 * itself to tell list indexes from map keys) and the message from the schema
 * that failed (enum values, the allowed keys of a closed object). A union
 * fails as one error (TypeBox does not descend into its variants in the main
 * iteration), so there is no anyOf noise; the first error of a path wins.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { child, index, type RuleProblem } from './paths.ts';

/** Unknown keys that are real fields elsewhere: say where they belong. */
const HINTS: Record<string, string> = {
  vmNetworkCIDR: 'vmNetworkCIDR belongs to a pod network (networks[].pod.vmNetworkCIDR)',
  vmIPv6NetworkCIDR: 'vmIPv6NetworkCIDR belongs to a pod network (networks[].pod.vmIPv6NetworkCIDR)',
  networkName: 'networkName belongs to multus (networks[].multus.networkName)',
};

export function structureProblems(schema: TSchema, value: unknown): RuleProblem[] {
  const out = new Map<string, string>();
  for (const error of Value.Errors(schema, value)) {
    const path = fieldPath(error.path, value);
    if (!out.has(path)) out.set(path, message(error));
  }
  return [...out].map(([path, rule]) => ({ path, rule }));
}

/** JSON pointer → field path; an array's segment becomes [i], a key that is not an identifier ["key"]. */
export function fieldPath(pointer: string, root: unknown): string {
  let path = '';
  let node: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) {
      path = index(path, Number(key));
      node = node[Number(key)];
    } else {
      path = child(path, key);
      node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return path === '' ? '(root)' : path;
}

function kindOf(schema: TSchema): string | undefined {
  return (schema as { [Kind]?: string })[Kind];
}

const TYPE_NAMES: Record<string, string> = {
  String: 'a string', Integer: 'an integer', Number: 'a number', Boolean: 'true or false',
  Object: 'an object (a mapping)', Record: 'an object (a mapping)', Array: 'a list',
};

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}

function message(e: ValueError): string {
  const s = e.schema;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.ObjectAdditionalProperties: {
      const key = e.path.slice(e.path.lastIndexOf('/') + 1).replaceAll('~1', '/').replaceAll('~0', '~');
      const allowed = Object.keys((s.properties ?? {}) as object).join(', ');
      return HINTS[key] ?? `unknown field "${key}" (allowed here: ${allowed})`;
    }
    case ValueErrorType.Union: {
      const variants = (s.anyOf ?? []) as TSchema[];
      if (variants.every((v) => kindOf(v) === 'Literal')) {
        return `must be one of ${variants.map((v) => JSON.stringify(v.const)).join(', ')} (is ${describe(e.value)})`;
      }
      return `must be a string or a number (a quantity such as 1Gi or 500m), not ${describe(e.value)}`;
    }
    case ValueErrorType.Literal:
      return `must be ${JSON.stringify(s.const)} (is ${describe(e.value)})`;
    default: {
      const name = TYPE_NAMES[kindOf(s) ?? ''];
      if (name && e.value === undefined) return 'is required';
      if (name) return `must be ${name}, not ${describe(e.value)}`;
      return e.message;
    }
  }
}
