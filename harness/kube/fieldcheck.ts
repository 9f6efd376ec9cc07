// Server-side field validation, which kubectl asks for with
// ?fieldValidation=Strict on create, update and patch (its default since 1.27):
// a field the kind's schema does not declare fails the request with 400
// instead of being dropped.
// https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation
//
// Checked: custom resources that carry their CRD's structural schema, walked
// as the apiserver's pruning walks it, and their metadata against ObjectMeta.
// Not checked: built-in kinds (the Go types' fields are not known here) and
// duplicate keys (JSON.parse keeps the last). Ignore and Warn change nothing,
// as this server does not prune.
import { isBuiltin, type JsonSchema, type ResourceDef } from './resources.ts';
import { badRequest } from './status.ts';
import { isPlainObject } from './util.ts';

const OBJECT_META = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

/** Fields of v that schema does not declare, as dotted paths with [i] for list elements. */
function unknownFields(v: unknown, schema: JsonSchema, path: string, out: string[]): void {
  if (Array.isArray(v)) {
    if (isPlainObject(schema.items))
      v.forEach((e, i) => unknownFields(e, schema.items as JsonSchema, `${path}[${i}]`, out));
    return;
  }
  if (!isPlainObject(v) || schema['x-kubernetes-embedded-resource'] === true) return;
  const props = isPlainObject(schema.properties) ? (schema.properties as Record<string, JsonSchema>) : undefined;
  const extra = schema.additionalProperties;
  const open = schema['x-kubernetes-preserve-unknown-fields'] === true || extra === true;
  for (const [key, child] of Object.entries(v)) {
    const at = path ? `${path}.${key}` : key;
    if (props?.[key]) unknownFields(child, props[key]!, at, out);
    else if (isPlainObject(extra)) unknownFields(child, extra as JsonSchema, at, out);
    else if (!open && schema.type === 'object') out.push(at);
  }
}

/** The unknown fields of a whole object (or of a merge patch, which has an object's shape). */
export function unknownFieldsOf(def: ResourceDef, body: unknown): string[] {
  if (isBuiltin(def) || !def.schema || !isPlainObject(body)) return [];
  const out: string[] = [];
  const { metadata, ...rest } = body;
  if (isPlainObject(metadata))
    for (const key of Object.keys(metadata)) if (!OBJECT_META.has(key)) out.push(`metadata.${key}`);
  unknownFields(rest, def.schema, '', out);
  return out;
}

/** Throws 400 as the strict decoder does when the request asked for fieldValidation=Strict and a field is unknown. */
export function checkFields(def: ResourceDef, query: URLSearchParams, body: unknown): void {
  const mode = query.get('fieldValidation') ?? '';
  if (!['', 'Ignore', 'Warn', 'Strict'].includes(mode)) {
    throw badRequest(`fieldValidation: Unsupported value: "${mode}": supported values: "Ignore", "Strict", "Warn"`);
  }
  if (mode !== 'Strict') return;
  const unknown = unknownFieldsOf(def, body);
  if (unknown.length === 0) return;
  const fields = unknown.map((f) => `unknown field "${f}"`).join(', ');
  throw badRequest(
    `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${fields}`,
  );
}
