// Label and field selectors, as list and watch requests take them.
// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
// https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
import { isBuiltin, type ResourceDef } from './resources.ts';
import { badRequest } from './status.ts';

type Obj = Record<string, any>;
export type Selector = (obj: Obj) => boolean;

type LabelOp = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';
interface Requirement {
  key: string;
  op: LabelOp;
  values: string[];
}

const TOKEN = /\s*(\(|\)|,|!=|==|=|!|>|<|[^\s(),!=<>]+)/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex; // a failed sticky match resets lastIndex
    const m = TOKEN.exec(text);
    if (!m) {
      if (text.slice(at).trim() === '') break;
      throw badRequest(`unable to parse requirement: invalid label selector: ${JSON.stringify(text)}`);
    }
    tokens.push(m[1]!);
  }
  return tokens;
}

const SYMBOLS = new Set(['(', ')', ',', '!=', '==', '=', '!', '>', '<']);

/** Parses the labels.Parse grammar: `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3`. */
export function parseLabelSelector(text: string): Requirement[] {
  const t = tokenize(text);
  let i = 0;
  const bad = (why: string) =>
    badRequest(`unable to parse requirement: ${why} in label selector ${JSON.stringify(text)}`);
  const ident = () => {
    const tok = t[i];
    if (tok === undefined || SYMBOLS.has(tok)) throw bad('expected a label key or value');
    i += 1;
    return tok;
  };
  const value = () => (t[i] === undefined || t[i] === ',' || t[i] === ')' ? '' : ident());
  const reqs: Requirement[] = [];
  while (i < t.length) {
    let req: Requirement;
    if (t[i] === '!') {
      i += 1;
      req = { key: ident(), op: '!exists', values: [] };
    } else {
      const key = ident();
      const op = t[i];
      if (op === undefined || op === ',') req = { key, op: 'exists', values: [] };
      else if (op === '=' || op === '==' || op === '!=') {
        i += 1;
        req = { key, op: op === '!=' ? '!=' : '=', values: [value()] };
      } else if (op === '>' || op === '<') {
        i += 1;
        req = { key, op: op === '>' ? 'gt' : 'lt', values: [ident()] };
      } else if (op === 'in' || op === 'notin') {
        i += 1;
        if (t[i++] !== '(') throw bad(`expected '(' after ${op}`);
        const values: string[] = [];
        while (t[i] !== ')') {
          if (t[i] === undefined) throw bad("expected ')'");
          if (t[i] === ',') {
            i += 1;
            continue;
          }
          values.push(ident());
        }
        i += 1;
        req = { key, op, values };
      } else throw bad(`unexpected ${JSON.stringify(op)}`);
    }
    reqs.push(req);
    if (i < t.length && t[i++] !== ',') throw bad("expected ','");
  }
  return reqs;
}

function matchesRequirement(labels: Record<string, string>, r: Requirement): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case 'exists':
      return has;
    case '!exists':
      return !has;
    case '=':
      return has && v === r.values[0];
    case '!=':
      return !has || v !== r.values[0]; // != also matches objects without the label
    case 'in':
      return has && r.values.includes(v!);
    case 'notin':
      return !has || !r.values.includes(v!);
    case 'gt':
      return has && Number(v) > Number(r.values[0]);
    case 'lt':
      return has && Number(v) < Number(r.values[0]);
  }
}

export function labelSelector(text: string | null): Selector {
  if (!text) return () => true;
  const reqs = parseLabelSelector(text);
  return (obj) => reqs.every((r) => matchesRequirement(obj.metadata?.labels ?? {}, r));
}

// Field selectors work only on fields each type registers (its GetAttrs); custom
// resources offer just metadata.name and metadata.namespace.
const SELECTABLE: Record<string, string[]> = {
  pods: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  events: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'type',
  ],
  namespaces: ['status.phase'],
  nodes: ['spec.unschedulable'], // pkg/registry/core/node NodeToSelectableFields
};

/**
 * Fields a type's GetAttrs always renders, also when the object leaves them out: a Node's spec.unschedulable is "false"
 * then.
 */
const RENDERED_DEFAULTS: Record<string, Record<string, string>> = {
  nodes: { 'spec.unschedulable': 'false' },
};

function fieldValue(obj: Obj, path: string, def: ResourceDef): string {
  let v: any = obj;
  for (const part of path.split('.')) v = v?.[part];
  const absent = (isBuiltin(def) && RENDERED_DEFAULTS[def.plural]?.[path]) || '';
  return v === undefined || v === null ? absent : String(v);
}

/** Splits on unescaped commas; `\,` `\=` `\\` escape, as fields.ParseSelector allows. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      cur += c + text[i + 1];
      i += 1;
    } else if (c === ',') {
      terms.push(cur);
      cur = '';
    } else cur += c;
  }
  terms.push(cur);
  return terms.filter((s) => s.trim() !== '');
}

export function fieldSelector(text: string | null, def: ResourceDef): Selector {
  if (!text) return () => true;
  const allowed = ['metadata.name', 'metadata.namespace', ...(isBuiltin(def) ? (SELECTABLE[def.plural] ?? []) : [])];
  const terms = splitTerms(text).map((term) => {
    const m = /^\s*([^!=\s]+)\s*(!=|==|=)(.*)$/s.exec(term);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const [, field, op, raw] = m as unknown as [string, string, string, string];
    if (!allowed.includes(field)) {
      throw badRequest(
        isBuiltin(def)
          ? `field label not supported: ${field}`
          : `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`,
      );
    }
    return { field, negate: op === '!=', value: raw.replace(/\\(.)/g, '$1') };
  });
  return (obj) => terms.every(({ field, negate, value }) => (fieldValue(obj, field, def) === value) !== negate);
}
