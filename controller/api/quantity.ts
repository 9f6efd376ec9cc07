/**
 * Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource
 * quantity.go) and the two numbers a launcher needs from them: guest memory
 * in MiB and the vCPU count.
 *
 * Grammar: <sign><digits>[.<digits>]<suffix>, the suffix one of the binary
 * SI ones (Ki Mi Gi Ti Pi Ei), the decimal SI ones (n u m "" k M G T P E) or
 * a decimal exponent (e3, E-2). YAML numbers are quantities too (`cpu: 2`).
 */
import { ErrorCode, VirtnetError } from '../../lib/errors.ts';
import { MAX_MEMORY_MIB, MAX_VCPUS } from '../../launcher/spec.ts';
import { child, shown, type RuleProblem } from './paths.ts';
import type { VmiSpec } from './schema.ts';

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/u;

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

export const DEFAULT_MEMORY_MIB = 128;
const MIB = 2 ** 20;
/** The largest guest the launcher starts (launcher/spec.ts): 16 TiB of memory, 512 vCPUs. */
const MAX_MEMORY_BYTES = MAX_MEMORY_MIB * MIB;
export { MAX_MEMORY_MIB, MAX_VCPUS };

/** The quantity's value in base units (bytes, cores), or undefined when it is not a quantity. */
export function parseQuantity(q: string | number): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  const m = QUANTITY.exec(q.trim() === q ? q : '');
  if (!m) return undefined;
  const [, sign, digits, exponent, suffix] = m;
  let value = Number(digits);
  if (exponent) value *= 10 ** Number(exponent.slice(1));
  else if (suffix) value *= BINARY[suffix] ?? DECIMAL[suffix] ?? 1;
  return sign === '-' ? -value : value;
}

type Quantity = string | number;

/** The guest's memory: KubeVirt reads domain.memory.guest, else the request, else the limit. */
function memoryQuantity(spec: VmiSpec): Quantity | undefined {
  const d = spec.domain;
  return d.memory?.guest ?? d.resources?.requests?.memory ?? d.resources?.limits?.memory;
}

/**
 * A count for the launcher spec, never a number QEMU cannot read: a spec
 * that skipped validation throws here rather than render <vcpu>1e+21</vcpu>.
 */
function bounded(n: number, max: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `${what} ${n} is outside 1..${max}; validate the spec first (quantityProblems)`,
    );
  }
  return n;
}

/**
 * Guest memory in MiB, rounded up (1024M is 976.6 MiB → 977); 128 when nothing asks. Throws on a spec
 * validation would refuse.
 */
export function memoryMiB(spec: VmiSpec): number {
  const q = memoryQuantity(spec);
  const bytes = q === undefined ? undefined : parseQuantity(q);
  return bytes === undefined
    ? DEFAULT_MEMORY_MIB
    : bounded(Math.ceil(bytes / MIB), MAX_MEMORY_MIB, 'guest memory (MiB)');
}

/**
 * vCPUs: the topology's product when any of cores/sockets/threads is given
 * (each defaulting to 1), else the CPU limit rounded up, else the request
 * rounded up (KubeVirt prefers the limit: converter vcpu.go uses
 * Limits[cpu].Value(), then Requests[cpu]); 1 when nothing asks. Throws on
 * a spec validation would refuse.
 */
export function cpuCount(spec: VmiSpec): number {
  return bounded(unboundedCpuCount(spec), MAX_VCPUS, 'vCPU count');
}

function unboundedCpuCount(spec: VmiSpec): number {
  const cpu = spec.domain.cpu;
  if (cpu && (cpu.cores !== undefined || cpu.sockets !== undefined || cpu.threads !== undefined)) {
    return (cpu.cores ?? 1) * (cpu.sockets ?? 1) * (cpu.threads ?? 1);
  }
  const q = spec.domain.resources?.limits?.cpu ?? spec.domain.resources?.requests?.cpu;
  const cores = q === undefined ? undefined : parseQuantity(q);
  return cores === undefined ? 1 : Math.max(1, Math.ceil(cores));
}

/**
 * Every quantity of the spec parses; memory is at least 1 MiB (KubeVirt:
 * "must be greater than or equal to 1M") and at most 16 TiB, cpu is
 * positive and at most 512, topology counts are integers 1..512 whose
 * product is at most 512, and the guest memory fits under the limit
 * (KubeVirt's vmi-create-admitter rejects guest > limit). KubeVirt bounds
 * none of the sizes from above; QEMU and libvirt do (launcher/spec.ts
 * MAX_VCPUS), and an admitted VMI they refuse would only fail at start.
 * `at` is the spec's path.
 */
export function quantityProblems(spec: VmiSpec, at: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  const values = new Map<string, number>();
  const check = (path: string, q: Quantity | undefined, kind: 'memory' | 'cpu' | 'other') => {
    if (q === undefined) return;
    const v = parseQuantity(q);
    if (v === undefined)
      out.push({
        path: `${at}.${path}`,
        rule: `${shown(q)} is not a Kubernetes quantity (e.g. 64Mi, 1Gi, 512M, 100m, 2)`,
      });
    else if (kind === 'memory' && v < MIB)
      out.push({ path: `${at}.${path}`, rule: `must be at least 1Mi (is ${shown(q)})` });
    else if (kind === 'memory' && v > MAX_MEMORY_BYTES)
      out.push({
        path: `${at}.${path}`,
        rule: `must be at most 16Ti, the largest guest virtnet starts (is ${shown(q)})`,
      });
    else if (kind === 'cpu' && v > MAX_VCPUS)
      out.push({
        path: `${at}.${path}`,
        rule: `must be at most ${MAX_VCPUS}, the most vCPUs a VM gets (is ${shown(q)})`,
      });
    else if (kind !== 'memory' && v < 0)
      out.push({ path: `${at}.${path}`, rule: `must not be negative (is ${shown(q)})` });
    else if (kind === 'cpu' && v === 0)
      out.push({ path: `${at}.${path}`, rule: `must be greater than 0 (is ${shown(q)})` });
    else values.set(path, v);
  };
  const res = spec.domain.resources;
  for (const list of ['requests', 'limits'] as const) {
    for (const [name, q] of Object.entries(res?.[list] ?? {})) {
      check(
        child(`domain.resources.${list}`, name),
        q,
        name === 'memory' ? 'memory' : name === 'cpu' ? 'cpu' : 'other',
      );
    }
  }
  check('domain.memory.guest', spec.domain.memory?.guest, 'memory');
  const guest = values.get('domain.memory.guest');
  const limit = values.get('domain.resources.limits.memory');
  if (guest !== undefined && limit !== undefined && guest > limit) {
    out.push({
      path: `${at}.domain.memory.guest`,
      rule:
        `${shown(spec.domain.memory?.guest)} must not exceed domain.resources.limits.memory ` +
        `(${shown(res?.limits?.memory)})`,
    });
  }
  return [...out, ...topologyProblems(spec, at)];
}

const TOPOLOGY = ['cores', 'sockets', 'threads'] as const;

/** Each count 1..512, and their product (the vCPUs, cpuCount) at most 512 as well. */
function topologyProblems(spec: VmiSpec, at: string): RuleProblem[] {
  const cpu = spec.domain.cpu;
  const out: RuleProblem[] = [];
  for (const key of TOPOLOGY) {
    const n = cpu?.[key];
    if (n === undefined) continue;
    if (n < 1) out.push({ path: `${at}.domain.cpu.${key}`, rule: `must be at least 1 (is ${shown(n)})` });
    else if (n > MAX_VCPUS)
      out.push({
        path: `${at}.domain.cpu.${key}`,
        rule: `must be at most ${MAX_VCPUS}, the most vCPUs a VM gets (is ${shown(n)})`,
      });
  }
  if (out.length > 0 || !cpu) return out;
  const product = (cpu.cores ?? 1) * (cpu.sockets ?? 1) * (cpu.threads ?? 1);
  if (product > MAX_VCPUS) {
    const shape = TOPOLOGY.filter((k) => cpu[k] !== undefined)
      .map((k) => `${k} ${cpu[k]}`)
      .join(' × ');
    out.push({
      path: `${at}.domain.cpu`,
      rule: `${shape} is ${product} vCPUs; at most ${MAX_VCPUS} (the most vCPUs a VM gets)`,
    });
  }
  return out;
}
