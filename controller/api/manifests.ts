/**
 * The API's entry points: manifests (YAML or JSON, several documents, `kind:
 * List` expanded) → validated, normalised objects, with every problem of the
 * batch reported at once, each naming its document and field.
 *
 * Per object: kind and apiVersion, then the structure (schema.ts via
 * structure.ts), then, if the structure holds, the semantic rules (rules.ts:
 * their code relies on the types), then normalisation (normalize.ts). Over the
 * batch: two objects of one kind, namespace and name clash (so do a VM and a
 * VMI of one name: the VM's VMI takes its name), and the batch's own NADs
 * count as existing for `multus.networkName`.
 */
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseAllDocuments } from 'yaml';
import {
  NAD_API_VERSION,
  NAD_KIND,
  NadError,
  validateNad,
  type NetworkAttachmentDefinition,
} from '../../netattach/nad.ts';
import { DEFAULT_NAMESPACE, normalizeVm, normalizeVmi } from './normalize.ts';
import { vmiProblems, vmProblems, type RuleEnv, type RuleProblem } from './rules.ts';
import type { ReservedCidr } from './rules-networks.ts';
import {
  API_VERSIONS,
  VirtualMachineInstanceSchema,
  VirtualMachineSchema,
  type VirtualMachine,
  type VirtualMachineInstance,
} from './schema.ts';
import { boundProblems, structureProblems } from './structure.ts';
import type { NodePolicy } from '../../cni/policy.ts';

export interface Problem {
  source?: string;
  path: string;
  rule: string;
}
export interface Manifest {
  source: string;
  object: unknown;
}
export interface ValidationContext {
  nadExists?(namespace: string, name: string): boolean;
  /** The node's pod subnets and service CIDRs, which a masquerade VM subnet must not overlap. */
  reservedCidrs?: ReservedCidr[];
  /** The node policy this node's plugins run under (cni/policy.ts); else this process's. */
  nadPolicy?: NodePolicy;
}
export type ApiObject =
  | { kind: 'VirtualMachineInstance'; object: VirtualMachineInstance }
  | { kind: 'VirtualMachine'; object: VirtualMachine }
  | { kind: 'NetworkAttachmentDefinition'; object: NetworkAttachmentDefinition };

const KINDS = ['VirtualMachineInstance', 'VirtualMachine', NAD_KIND] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Documents of a file, numbered from 1 in file order (empty ones skipped but counted). */
export function parseManifests(text: string, file: string): { manifests: Manifest[]; problems: Problem[] } {
  const manifests: Manifest[] = [];
  const problems: Problem[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: false, merge: true });
  const list = Array.isArray(docs) ? docs : [];
  list.forEach((doc, i) => {
    const source = `${file}#${i + 1}`;
    const [error] = doc.errors; // the first: later ones are usually its echoes
    if (error) {
      problems.push({
        source,
        path: '',
        rule: `YAML syntax error at line ${lineCol(text, error.pos[0])}: ${error.message}`,
      });
      return;
    }
    const object: unknown = doc.toJS({ maxAliasCount: 100 });
    if (object === null || object === undefined) return;
    if (isObj(object) && object.kind === 'List') {
      if (!Array.isArray(object.items)) problems.push({ source, path: 'items', rule: 'a List needs a list of items' });
      else
        object.items.forEach((item: unknown, j) => manifests.push({ source: `${source}.items[${j}]`, object: item }));
    } else manifests.push({ source, object });
  });
  return { manifests, problems };
}

function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `${line}:${offset - before.lastIndexOf('\n')}`;
}

/** Kubernetes reads a null field as an absent one. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isObj(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== null)
      .map(([k, x]) => [k, dropNulls(x)]),
  );
}

interface Checked {
  source: string;
  problems: RuleProblem[];
  vmi?: VirtualMachineInstance;
  vm?: VirtualMachine;
  nad?: NetworkAttachmentDefinition;
}

/**
 * A VMI's or VM's size bounds, first and on the document as given: an
 * oversized one gets no further check (not even the copy without nulls),
 * since reporting its size is enough, and cheap (structure.ts boundProblems).
 */
function sizeProblems(doc: unknown): RuleProblem[] {
  if (!isObj(doc)) return [];
  if (doc.kind === 'VirtualMachineInstance') return boundProblems(VirtualMachineInstanceSchema, doc);
  if (doc.kind === 'VirtualMachine') return boundProblems(VirtualMachineSchema, doc);
  return [];
}

/** Kind, apiVersion and structure of one manifest. */
function check(m: Manifest, ctx?: ValidationContext): Checked {
  const c: Checked = { source: m.source, problems: [] };
  const oversized = sizeProblems(m.object);
  if (oversized.length) return { ...c, problems: oversized };
  const obj = dropNulls(m.object);
  if (!isObj(obj))
    return { ...c, problems: [{ path: '(root)', rule: 'a document must be an object with apiVersion and kind' }] };
  const kind = obj.kind;
  if (kind === NAD_KIND) {
    try {
      const nad = validateNad(obj, ctx?.nadPolicy ? { policy: ctx.nadPolicy } : {});
      nad.metadata.namespace ??= DEFAULT_NAMESPACE;
      return { ...c, nad };
    } catch (err) {
      if (err instanceof NadError) return { ...c, problems: [{ path: err.field, rule: err.rule }] };
      throw err;
    }
  }
  if (kind !== 'VirtualMachineInstance' && kind !== 'VirtualMachine') {
    const rule =
      `${kind === undefined ? 'is required' : `unsupported kind ${JSON.stringify(kind)}`} ` +
      `(supported: ${KINDS.join(', ')})`;
    return { ...c, problems: [{ path: 'kind', rule }] };
  }
  if (!(API_VERSIONS as readonly unknown[]).includes(obj.apiVersion)) {
    const rule =
      `${obj.apiVersion === undefined ? 'is required' : `${JSON.stringify(obj.apiVersion)} is not served`} for ` +
      `${kind} (supported: ${API_VERSIONS.join(', ')}; ${NAD_KIND} is ${NAD_API_VERSION})`;
    return { ...c, problems: [{ path: 'apiVersion', rule }] };
  }
  const schema = kind === 'VirtualMachine' ? VirtualMachineSchema : VirtualMachineInstanceSchema;
  const problems = structureProblems(schema, obj);
  if (problems.length) {
    // All problems come back together: the semantic rules still run on a
    // copy without the malformed fields, when that copy holds together.
    const pruned = withoutBadFields(schema, obj);
    if (!pruned) return { ...c, problems };
    const semantic =
      kind === 'VirtualMachine'
        ? vmProblems(pruned as VirtualMachine, {
            namespace: (pruned as VirtualMachine).metadata.namespace ?? DEFAULT_NAMESPACE,
          })
        : vmiProblems(pruned as VirtualMachineInstance, {
            namespace: (pruned as VirtualMachineInstance).metadata.namespace ?? DEFAULT_NAMESPACE,
          });
    return { ...c, problems: [...problems, ...semantic.filter(notAbout(problems))] };
  }
  return kind === 'VirtualMachine' ? { ...c, vm: obj as VirtualMachine } : { ...c, vmi: obj as VirtualMachineInstance };
}

/**
 * Whether a semantic problem is news next to the structure problems: not at
 * or under a malformed (removed) field, and not a consequence of a removal
 * ("every network needs an interface"), which names the removed field.
 * Linear: a set of removed paths, each problem's ancestors looked up in it.
 */
function notAbout(structure: RuleProblem[]): (p: RuleProblem) => boolean {
  const removed = new Set(structure.map((q) => q.path));
  const names = [
    ...new Set(
      structure.map(
        (q) =>
          q.path
            .replace(/\[\d+\]$/u, '')
            .split('.')
            .at(-1) ?? q.path,
      ),
    ),
  ];
  return (p) => !ancestorsOf(p.path).some((a) => removed.has(a)) && !names.some((n) => p.rule.includes(n));
}

/** `a.b[2].c` → a.b[2].c, a.b[2], a.b, a. */
function ancestorsOf(path: string): string[] {
  const out = [path];
  for (let i = path.length - 1; i > 0; i--) if (path[i] === '.' || path[i] === '[') out.push(path.slice(0, i));
  return out;
}

/**
 * A copy of `obj` with each malformed field removed, or undefined when that
 * cannot make it valid (a missing required field, or a bad list element,
 * whose removal would shift the indexes that problem paths name).
 */
function withoutBadFields(schema: TSchema, obj: Record<string, unknown>): Record<string, unknown> | undefined {
  const copy = structuredClone(obj);
  for (let round = 0; round < 5; round++) {
    const errors = [...Value.Errors(schema, copy)];
    if (!errors.length) return copy;
    for (const e of errors) {
      const keys = e.path
        .split('/')
        .slice(1)
        .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
      const last = keys.pop();
      let parent: unknown = copy;
      for (const k of keys)
        parent = isObj(parent) || Array.isArray(parent) ? (parent as Record<string, unknown>)[k] : undefined;
      if (last === undefined || !isObj(parent) || !(last in parent)) return undefined;
      delete parent[last];
    }
  }
  return undefined;
}

export function validateManifests(
  manifests: Manifest[],
  ctx?: ValidationContext,
): { objects: ApiObject[]; problems: Problem[] } {
  const checked = manifests.map((m) => check(m, ctx));
  const nads = new Set(checked.flatMap((c) => (c.nad ? [`${c.nad.metadata.namespace}/${c.nad.metadata.name}`] : [])));
  const ctxNad = ctx?.nadExists?.bind(ctx);
  const nadExists = ctxNad && ((ns: string, name: string) => nads.has(`${ns}/${name}`) || ctxNad(ns, name));
  const objects: ApiObject[] = [];
  const problems: Problem[] = [];
  const owners = new Map<string, { source: string; kind: string }>();
  for (const c of checked) {
    const env: RuleEnv = {
      namespace: (c.vm ?? c.vmi)?.metadata.namespace ?? DEFAULT_NAMESPACE,
      ...(nadExists && { nadExists }),
      ...(ctx?.reservedCidrs && { reservedCidrs: ctx.reservedCidrs }),
    };
    if (c.vmi) c.problems.push(...vmiProblems(c.vmi, env));
    if (c.vm) c.problems.push(...vmProblems(c.vm, env));
    const obj: ApiObject | undefined = c.problems.length
      ? undefined
      : c.vmi
        ? { kind: 'VirtualMachineInstance', object: normalizeVmi(c.vmi) }
        : c.vm
          ? { kind: 'VirtualMachine', object: normalizeVm(c.vm) }
          : c.nad
            ? { kind: NAD_KIND, object: c.nad }
            : undefined;
    if (obj) {
      const clash = nameClash(obj, owners, c.source);
      if (clash) c.problems.push(clash);
      else objects.push(obj);
    }
    problems.push(...c.problems.map((p) => ({ source: c.source, ...p })));
  }
  return { objects, problems };
}

/** The first owner of a name keeps it; a VM and a VMI share one name space (a VM's VMI is named after it). */
function nameClash(
  obj: ApiObject,
  owners: Map<string, { source: string; kind: string }>,
  source: string,
): RuleProblem | undefined {
  const { name, namespace = DEFAULT_NAMESPACE } = obj.object.metadata;
  const key = `${obj.kind === NAD_KIND ? NAD_KIND : 'VirtualMachine'}/${namespace}/${name}`;
  const first = owners.get(key);
  if (first === undefined) {
    owners.set(key, { source, kind: obj.kind });
    return undefined;
  }
  const why =
    first.kind === obj.kind ? '' : ` as a ${first.kind} (a VirtualMachine's VirtualMachineInstance takes its name)`;
  return {
    path: 'metadata.name',
    rule: `name clash: ${obj.kind} ${namespace}/${name} is already defined by ${first.source}${why}`,
  };
}

/** One line per problem: `source: path: rule`. */
export function formatProblems(problems: Problem[]): string {
  return problems
    .map((p) => [p.source, p.path, p.rule].filter((x) => x !== undefined && x !== '').join(': '))
    .join('\n');
}

export { normalizedInterfaces, runStrategyOf } from './normalize.ts';
export { memoryMiB, cpuCount } from './quantity.ts';
