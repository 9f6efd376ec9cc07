/**
 * TypeBox schema → the openAPIV3Schema of a CustomResourceDefinition.
 *
 * Kubernetes accepts only *structural* schemas (apiextensions v1, "Specifying
 * a structural schema"): every node has a `type` (or
 * x-kubernetes-preserve-unknown-fields / x-kubernetes-int-or-string), no $ref,
 * no `const`, no patternProperties, `properties` and `additionalProperties`
 * never together, and logical junctors (anyOf, ...) only in restricted forms.
 * The TypeBox schemas of schema.ts use a small vocabulary on purpose, and this
 * file maps each piece onto that dialect:
 *
 *   Object, open      → properties + x-kubernetes-preserve-unknown-fields (no pruning)
 *   Object, closed    → properties only; the apiserver prunes or, under
 *                       strict field validation (kubectl's default), rejects unknown keys
 *   Record            → additionalProperties: <value schema>
 *   enum of literals  → type: string + enum
 *   string | number   → x-kubernetes-int-or-string (a quantity)
 *   Unknown           → x-kubernetes-preserve-unknown-fields
 *   maxLength, maxItems, maxProperties → as they are (size bounds, schema-network.ts BOUNDS)
 *
 * Anything else throws, so a new TypeBox construct in schema.ts cannot slip
 * into the CRD unconverted. TypeBox's symbol keys never reach the output.
 */
import { Kind, type TSchema } from '@sinclair/typebox';

export type JsonSchema = { [key: string]: unknown };

const PRESERVE = 'x-kubernetes-preserve-unknown-fields';

/** A root schema: `metadata` is left to the apiserver, as CRDs must. */
export function crdSchema(root: TSchema): JsonSchema {
  const out = convert(root);
  const props = out.properties as Record<string, JsonSchema>;
  props.metadata = { type: 'object' };
  return out;
}

/** The size bounds a schema carries; structural schemas allow each on its type. */
const BOUND_KEYWORDS = ['maxLength', 'maxItems', 'maxProperties'] as const;

function bounds(s: TSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const key of BOUND_KEYWORDS) if (typeof s[key] === 'number') out[key] = s[key];
  return out;
}

function convert(s: TSchema): JsonSchema {
  const kind = (s as { [Kind]?: string })[Kind];
  const doc = { ...(typeof s.description === 'string' && { description: s.description }), ...bounds(s) };
  switch (kind) {
    case 'String':
      return { type: 'string', ...doc };
    case 'Integer':
      return { type: 'integer', ...doc };
    case 'Number':
      return { type: 'number', ...doc };
    case 'Boolean':
      return { type: 'boolean', ...doc };
    case 'Literal':
      return literals([s], doc);
    case 'Unknown':
      return { [PRESERVE]: true, ...doc };
    case 'Array':
      return { type: 'array', items: convert(s.items as TSchema), ...doc };
    case 'Union':
      return union(s.anyOf as TSchema[], doc);
    case 'Record': {
      const [value] = Object.values(s.patternProperties as Record<string, TSchema>);
      if (!value) throw new TypeError('openapi: a Record without a value schema');
      return { type: 'object', additionalProperties: convert(value), ...doc };
    }
    case 'Object': {
      const properties: Record<string, JsonSchema> = {};
      for (const [key, value] of Object.entries(s.properties as Record<string, TSchema>))
        properties[key] = convert(value);
      const out: JsonSchema = { type: 'object', properties, ...doc };
      const required = s.required as string[] | undefined;
      if (required?.length) out.required = [...required];
      if (s.additionalProperties !== false) out[PRESERVE] = true;
      return out;
    }
    default:
      throw new TypeError(`openapi: TypeBox kind ${String(kind)} has no structural form`);
  }
}

function literals(variants: TSchema[], doc: object): JsonSchema {
  const values = variants.map((v) => v.const as unknown);
  if (!values.every((v) => typeof v === 'string')) throw new TypeError('openapi: only string literals are supported');
  return { type: 'string', enum: values, ...doc };
}

function union(variants: TSchema[], doc: object): JsonSchema {
  const kinds = variants.map((v) => (v as { [Kind]?: string })[Kind]);
  if (kinds.every((k) => k === 'Literal')) return literals(variants, doc);
  if (kinds.length === 2 && kinds.includes('String') && kinds.includes('Number'))
    return { 'x-kubernetes-int-or-string': true, ...doc };
  throw new TypeError(`openapi: a union of ${kinds.join(', ')} has no structural form`);
}
