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
import { child, index, shown, type RuleProblem } from './paths.ts';

/** Unknown keys that are real fields elsewhere: say where they belong. */
const HINTS: Record<string, string> = {
  vmNetworkCIDR: 'vmNetworkCIDR belongs to a pod network (networks[].pod.vmNetworkCIDR)',
  vmIPv6NetworkCIDR: 'vmIPv6NetworkCIDR belongs to a pod network (networks[].pod.vmIPv6NetworkCIDR)',
  networkName: 'networkName belongs to multus (networks[].multus.networkName)',
};

/** Enough to show what is too big; a document past its bounds gets no further check. */
const MAX_BOUND_PROBLEMS = 20;

/**
 * The size bounds alone (maxItems, maxLength, maxProperties), checked
 * before anything else: an oversized list is reported without visiting its
 * items, so a 32k-interface VMI costs one comparison, not 32k item checks
 * (TypeBox's Value.Errors visits every item of a list that is too long).
 * Values of the wrong type are left to structureProblems.
 */
export function boundProblems(schema: TSchema, value: unknown): RuleProblem[] {
  const out: RuleProblem[] = [];
  visitBounds(schema, value, '', value, out);
  return out;
}

function visitBounds(s: TSchema, v: unknown, pointer: string, root: unknown, out: RuleProblem[]): void {
  if (out.length >= MAX_BOUND_PROBLEMS) return;
  const report = (rule: string) => out.push({ path: fieldPath(pointer, root), rule });
  switch (kindOf(s)) {
    case 'String':
      if (typeof v === 'string' && typeof s.maxLength === 'number' && v.length > s.maxLength)
        report(`${shown(v)} must be at most ${s.maxLength} characters (is ${v.length})`);
      return;
    case 'Array':
      if (!Array.isArray(v)) return;
      if (typeof s.maxItems === 'number' && v.length > s.maxItems) {
        report(`must have at most ${s.maxItems} items (has ${v.length})`);
        return;
      }
      v.forEach((item, i) => visitBounds(s.items as TSchema, item, `${pointer}/${i}`, root, out));
      return;
    case 'Union':
      for (const variant of s.anyOf as TSchema[])
        if (kindOf(variant) === 'String') visitBounds(variant, v, pointer, root, out);
      return;
    case 'Object':
    case 'Record':
      visitObjectBounds(s, v, pointer, root, out);
      return;
    default:
  }
}

function visitObjectBounds(s: TSchema, v: unknown, pointer: string, root: unknown, out: RuleProblem[]): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) {
    out.push({
      path: fieldPath(pointer, root),
      rule: `must have at most ${s.maxProperties} keys (has ${keys.length})`,
    });
    return;
  }
  const escapeKey = (k: string) => k.replaceAll('~', '~0').replaceAll('/', '~1');
  if (kindOf(s) === 'Record') {
    const [valueSchema] = Object.values(s.patternProperties as Record<string, TSchema>);
    if (valueSchema) for (const k of keys) visitBounds(valueSchema, obj[k], `${pointer}/${escapeKey(k)}`, root, out);
    return;
  }
  for (const [k, propSchema] of Object.entries(s.properties as Record<string, TSchema>)) {
    if (k in obj) visitBounds(propSchema, obj[k], `${pointer}/${escapeKey(k)}`, root, out);
  }
}

/** Type and shape problems of a document within its size bounds (manifests.ts runs boundProblems first). */
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
  String: 'a string',
  Integer: 'an integer',
  Number: 'a number',
  Boolean: 'true or false',
  Object: 'an object (a mapping)',
  Record: 'an object (a mapping)',
  Array: 'a list',
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
      const key = e.path
        .slice(e.path.lastIndexOf('/') + 1)
        .replaceAll('~1', '/')
        .replaceAll('~0', '~');
      const allowed = Object.keys((s.properties ?? {}) as object).join(', ');
      // Own keys only: a field named toString or __proto__ must not find Object.prototype's.
      return (
        (Object.hasOwn(HINTS, key) ? HINTS[key] : undefined) ?? `unknown field "${key}" (allowed here: ${allowed})`
      );
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
