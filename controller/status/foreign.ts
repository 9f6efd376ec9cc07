/**
 * The pod annotations that the controller reads but does not write: the
 * launcher's report (virtnet.io/launcher-status, copied by the node agent)
 * and Multus's network-status. Anyone who may patch a pod can write them, so
 * each value is checked field by field after JSON.parse: a bad one is
 * reported with the field and the rule, and ignored, never dereferenced
 * (`"nics": 5` once crashed every reconcile of its VMI). The launcher
 * report's shape is launcher/status.ts's (parseLauncherReport), the same
 * check the node agent applies to status.json.
 */
import { parseLauncherReport, type LauncherReport } from '../../launcher/status.ts';
import type { NetworkStatus } from '../../netattach/status.ts';
import { isObj } from '../../lib/json.ts';

export type Checked<T> = { value: T; problem?: undefined } | { value?: undefined; problem: string };

type Obj = Record<string, unknown>;
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** A field check: undefined when fine, else the rule broken (the caller adds the path). */
type Rule = (v: unknown) => string | undefined;

const string: Rule = (v) => (typeof v === 'string' ? undefined : `must be a string, not ${describe(v)}`);
const boolean: Rule = (v) => (typeof v === 'boolean' ? undefined : `must be true or false, not ${describe(v)}`);
const number: Rule = (v) =>
  typeof v === 'number' && Number.isFinite(v) ? undefined : `must be a number, not ${describe(v)}`;
const optional =
  (rule: Rule): Rule =>
  (v) =>
    v === undefined ? undefined : rule(v);

/** The launcher's report from its annotation text. */
export function checkLauncherReport(text: string, key: string): Checked<LauncherReport> {
  try {
    return { value: parseLauncherReport(text, key) };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

/** The first problem of a list whose every item must pass `item` (which returns "path: rule" relative to the item). */
function listProblem(
  v: unknown,
  path: string,
  item: (x: unknown, at: string) => string | undefined,
): string | undefined {
  if (!Array.isArray(v)) return `${path}: must be a list, not ${describe(v)}`;
  for (const [i, x] of v.entries()) {
    const p = item(x, `${path}[${i}]`);
    if (p) return p;
  }
  return undefined;
}

function objectProblem(v: unknown, path: string, fields: Record<string, Rule>): string | undefined {
  if (!isObj(v)) return `${path || 'the value'}: must be an object, not ${describe(v)}`;
  for (const [name, rule] of Object.entries(fields)) {
    const p = rule(v[name]);
    if (p) return `${path ? `${path}.` : ''}${name}: ${p}`;
  }
  return undefined;
}

const stringList = (x: unknown, at: string) =>
  listProblem(x, at, (s, p) => (typeof s === 'string' ? undefined : `${p}: must be a string, not ${describe(s)}`));

function networkStatusProblem(v: unknown, at: string): string | undefined {
  const fields = {
    name: string,
    interface: optional(string),
    mac: optional(string),
    mtu: optional(number),
    default: optional(boolean),
  };
  const entry = v as Obj;
  return (
    objectProblem(v, at, fields) ??
    (entry.ips === undefined ? undefined : stringList(entry.ips, `${at}.ips`)) ??
    (entry.gateway === undefined ? undefined : stringList(entry.gateway, `${at}.gateway`))
  );
}

/** Multus's k8s.v1.cni.cncf.io/network-status: a list of entries, each naming its network. */
export function checkNetworkStatus(v: unknown): Checked<NetworkStatus[]> {
  const problem = listProblem(v, '(the list)', networkStatusProblem);
  return problem ? { problem } : { value: v as NetworkStatus[] };
}

/**
 * An annotation's JSON, checked: absent is no value and no problem; unparsable or misshapen is a problem naming the
 * annotation.
 */
export function readNetworkStatus(
  annotations: Record<string, unknown>,
  key: string,
): { value?: NetworkStatus[]; problem?: string } {
  const text = annotations[key];
  if (text === undefined) return {};
  if (typeof text !== 'string') return { problem: `annotation ${key}: must be a string, not ${describe(text)}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { problem: `annotation ${key}: not JSON (${(err as Error).message})` };
  }
  const checked = checkNetworkStatus(parsed);
  return checked.problem === undefined
    ? { value: checked.value }
    : { problem: `annotation ${key}: ${checked.problem}` };
}

/** The launcher's report from the pod's annotation: absent is no value and no problem. */
export function readLauncherReport(
  annotations: Record<string, unknown>,
  key: string,
): { value?: LauncherReport; problem?: string } {
  const text = annotations[key];
  if (text === undefined) return {};
  if (typeof text !== 'string') return { problem: `annotation ${key}: must be a string, not ${describe(text)}` };
  const checked = checkLauncherReport(text, key);
  return checked.problem === undefined ? { value: checked.value } : { problem: `annotation ${checked.problem}` };
}
