/**
 * The bad-input corpus (issue 11, "Widen the net"): hostile inputs kept as
 * data in cases/*.yaml, one file per kind of input, so that a new case is a
 * few lines of YAML. Every case names the field its error must name and a
 * regular expression for the rule (case-insensitive), not the full message,
 * so that wording may change while the meaning must not.
 *
 * Inputs may use two directives, expanded before a case runs:
 *   { $repeat: "ab", times: 3 }   → "ababab" (a string), or a list of `times`
 *                                   copies when $repeat is not a string;
 *   { $list: "a", times: 3 }       → ["a", "a", "a"] (copies of any value);
 *   { $concat: ["a", {$repeat: "b", times: 2}] } → "abb".
 * Cases that edit a base document (a VMI, an AdmissionReview) say
 * `set: { "spec.domain.devices.interfaces[0].name": "x" }` and `unset: [path]`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { VirtnetError } from '../../lib/errors.ts';

export const CASE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'cases');

/** What every case has; the rest is the kind's own input. */
export interface CaseBase {
  name: string;
  /** A substring the error's field (or message) must contain. */
  field: string;
  /** A regular expression the rule must match, case-insensitively. */
  rule: string;
}

export type Doc = any;

/** The cases of one data file, directives expanded; names must be unique within it. */
export function loadCases<T extends CaseBase>(file: string): Array<T & Doc> {
  const raw: unknown = parse(readFileSync(join(CASE_DIR, file), 'utf8'), { maxAliasCount: 100 });
  assert.ok(Array.isArray(raw), `${file}: must be a YAML list of cases`);
  const seen = new Set<string>();
  return raw.map((c: Doc, i: number) => {
    assert.ok(typeof c?.name === 'string' && c.name, `${file}[${i}]: a case needs a name`);
    assert.ok(!seen.has(c.name), `${file}: duplicate case name ${JSON.stringify(c.name)}`);
    seen.add(c.name);
    assert.ok(
      typeof c.field === 'string' && typeof c.rule === 'string',
      `${file}: case ${c.name} needs field and rule`,
    );
    new RegExp(c.rule, 'iu'); // a broken pattern fails at load, not as a silent mismatch
    return expand(c) as T & Doc;
  });
}

/** The data files of the corpus, for the count per kind. */
export function caseFiles(): string[] {
  return readdirSync(CASE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

export function expand(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(expand);
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Record<string, unknown>;
  if ('$repeat' in o) {
    const times = o.times;
    assert.ok(typeof times === 'number' && Number.isInteger(times) && times >= 0, '$repeat needs an integer times');
    const unit = expand(o.$repeat);
    return typeof unit === 'string' ? unit.repeat(times) : Array.from({ length: times }, () => structuredClone(unit));
  }
  if ('$list' in o) {
    const times = o.times;
    assert.ok(typeof times === 'number' && Number.isInteger(times) && times >= 0, '$list needs an integer times');
    return Array.from({ length: times }, () => structuredClone(expand(o.$list)));
  }
  if ('$concat' in o) {
    assert.ok(Array.isArray(o.$concat), '$concat needs a list');
    return o.$concat.map((x) => String(expand(x))).join('');
  }
  // Own keys only, defined rather than assigned, so that a "__proto__" key in a case stays a plain key.
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o))
    Object.defineProperty(out, k, { value: expand(x), enumerable: true, writable: true, configurable: true });
  return out;
}

/** "a.b[2].c" → ["a", "b", 2, "c"]; a key with dots is written ["k.e.y"]. */
function pathKeys(path: string): Array<string | number> {
  const keys: Array<string | number> = [];
  for (const m of path.matchAll(/\["([^"]+)"\]|\[(\d+)\]|([^.[\]]+)/gu)) {
    keys.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3]!));
  }
  return keys;
}

/** A copy of `base` with the case's `set` and `unset` applied. */
export function patched(base: Doc, set: Record<string, unknown> = {}, unset: string[] = []): Doc {
  const doc = structuredClone(base);
  const walk = (path: string, create: boolean): { parent: Doc; key: string | number } => {
    const keys = pathKeys(path);
    let node = doc;
    for (const [i, k] of keys.slice(0, -1).entries()) {
      if (node[k] === undefined || node[k] === null || typeof node[k] !== 'object') {
        assert.ok(create, `unset ${path}: no ${String(k)}`);
        node[k] = typeof keys[i + 1] === 'number' ? [] : {};
      }
      node = node[k];
    }
    return { parent: node, key: keys.at(-1)! };
  };
  for (const [path, value] of Object.entries(set)) {
    const { parent, key } = walk(path, true);
    Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
  }
  for (const path of unset) {
    const { parent, key } = walk(path, false);
    if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
    else delete parent[key];
  }
  return doc;
}

/**
 * The message names the field and states the rule. A report of several
 * problems is given as its records: one record must do both, so that a case
 * cannot pass by one problem's field and another's rule.
 */
export function assertNames(text: string, c: CaseBase, what = 'error', records: string[] = [text]): void {
  assert.ok(
    text.includes(c.field),
    `${what} does not name the field ${JSON.stringify(c.field)}: ${text.slice(0, 400)}`,
  );
  const re = new RegExp(c.rule, 'iu');
  assert.ok(
    records.some((r) => r.includes(c.field) && re.test(r)),
    `${what} has no record naming ${JSON.stringify(c.field)} that states the rule /${c.rule}/: ${text.slice(0, 600)}`,
  );
}

/** `fn` throws a VirtnetError (not a TypeError or a crash) naming the field and the rule. */
export function assertTypedError(fn: () => unknown, c: CaseBase): VirtnetError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown !== undefined, `accepted; expected an error naming ${c.field}`);
  assert.ok(thrown instanceof VirtnetError, `not a typed error: ${(thrown as Error)?.stack ?? String(thrown)}`);
  assertNames(thrown.message, c);
  return thrown;
}

/** One of the problems (path + rule) names the field and states the rule. */
export function assertProblem(problems: Array<{ path: string; rule: string; source?: string }>, c: CaseBase): void {
  assert.ok(problems.length > 0, `accepted; expected a problem at ${c.field}`);
  const re = new RegExp(c.rule, 'iu');
  const hit = problems.find((p) => `${p.path}: ${p.rule}`.includes(c.field) && re.test(`${p.path}: ${p.rule}`));
  assert.ok(
    hit,
    `no problem names ${JSON.stringify(c.field)} with /${c.rule}/; got:\n${problems
      .map((p) => `  ${p.path}: ${p.rule}`)
      .join('\n')
      .slice(0, 1500)}`,
  );
}
