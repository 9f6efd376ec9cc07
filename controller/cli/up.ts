/**
 * `virtnet up FILE…`: validate everything first (every problem at once, and
 * nothing created when there is any), then apply NetworkAttachmentDefinitions,
 * VirtualMachines and VMIs. VMIs come up concurrently, each reporting its
 * steps with their timings; `up` returns when every NIC has its lease. A VMI
 * that already runs with the same spec is left alone; one with a different
 * spec is a clash (a VMI's spec is immutable, as in KubeVirt). With -n the
 * objects are placed as `kubectl apply -n` places them (view/namespace.ts).
 */
import { validateManifests, type ApiObject, type Problem } from '../api/manifests.ts';
import { readManifestFiles } from '../view/sources.ts';
import { cpuCount, memoryMiB } from '../api/quantity.ts';
import { chooseBoot, testGuest, type BootChoice } from '../node/boot.ts';
import { ensureDefaultNetwork } from '../node/config.ts';
import { launcherSpec } from '../render/launcher-spec.ts';
import { vmiForVm } from '../render/vmi.ts';
import { runStrategyOf } from '../api/normalize.ts';
import type { VirtualMachine, VirtualMachineInstance } from '../api/schema.ts';
import { type NodeRuntime, StepError, type StepReporter } from '../node/runtime.ts';
import type { VmiRecord } from '../node/store.ts';
import { waitReady } from '../node/wait.ts';
import type { LauncherSpec } from '../../launcher/spec.ts';
import { resolveBoot, type ResolvedBoot } from '../node/disks.ts';
import type { Progress } from '../../lib/progress.ts';
import type { Output } from '../view/command.ts';
import { inNamespace } from '../view/namespace.ts';
import { vmiOf } from './validate.ts';
import { applyLiveChange } from '../node/live.ts';
import { clashMessage } from '../api/live-update.ts';

export type { Output } from '../view/command.ts';

const CLASH = 'already runs with a different spec';
const TORN_DOWN = 'the VMI was torn down meanwhile by another virtnet command (down or gc)';

/** A valid VMI, in its namespace (validation defaults it; the type says so here). */
type PlacedVmi = VirtualMachineInstance & { metadata: { namespace: string } };

function placedVmi(vmi: VirtualMachineInstance): PlacedVmi {
  return { ...vmi, metadata: { ...vmi.metadata, namespace: vmi.metadata.namespace ?? 'default' } };
}

interface VmiTask {
  object: PlacedVmi;
  /** Where its spec sits in the source document ("spec" or "spec.template.spec"). */
  base: string;
  source: string;
  boot: BootChoice;
  action: 'create' | 'unchanged' | 'recreate' | 'live';
}

export interface UpOptions {
  timeoutMs: number;
  wait: boolean;
  progress?: Progress;
  /** -n: the namespace of objects that name none; objects of another one are refused. */
  namespace?: string | undefined;
}

/** A VirtualMachine's VMI when its run strategy says it runs (on one node, `up` is the start). */
export function vmiFromVm(vm: Parameters<typeof vmiForVm>[0]) {
  return ['Always', 'RerunOnFailure', 'Once'].includes(runStrategyOf(vm as VirtualMachine)) ? vmiForVm(vm) : undefined;
}

/** The launcher's spec of a VMI, once its boot is resolved and its uid known (cloud-init's instance-id). */
function launcherSpecOf(
  vmi: VirtualMachineInstance,
  r: ResolvedBoot,
  uid: string,
  serviceCIDRs: string[],
): LauncherSpec {
  const spec = vmi.spec;
  // launcherSpec normalises the VMI's interfaces into the launcher's InterfaceSpec.
  return launcherSpec(vmi, {
    boot: r.boot,
    disks: r.disks,
    memoryMiB: memoryMiB(spec),
    cpus: cpuCount(spec),
    serviceCIDRs,
    ...(r.cloudInit && { cloudInit: { ...r.cloudInit, instanceId: uid } }),
  });
}

/** What one `up` works on: the valid objects, the VMIs to start, the VMs to stop, and every problem. */
interface Plan {
  objects: ApiObject[];
  tasks: VmiTask[];
  stops: VirtualMachine[];
  problems: Problem[];
}

/** Why a changed spec is refused: the fields, and the way out. */
function clashRule(fields: string[], name: string): string {
  return `${CLASH}: ${clashMessage(fields)}; \`virtnet down ${name}\` first`;
}

function clashProblem(rt: NodeRuntime, vmi: PlacedVmi, source: string): Problem {
  const { namespace, name } = vmi.metadata;
  const fields = rt.clashFields(namespace, name, vmi.spec);
  return {
    source,
    path: fields[0] ?? 'spec',
    rule: `VirtualMachineInstance ${namespace}/${name} ${clashRule(fields, name)}`,
  };
}

/** The task of one valid object, if it makes a VMI; its boot and clash problems go to `problems`. */
function taskOf(rt: NodeRuntime, a: ApiObject, source: string, problems: Problem[]): VmiTask | undefined {
  const made = a.kind === 'VirtualMachine' ? runningVmi(a.object) : vmiOf(a);
  if (!made) return undefined;
  const vmi = placedVmi(made.vmi);
  const base = made.base;
  const chosen = chooseBoot(vmi.spec, base, { vmiName: vmi.metadata.name });
  problems.push(...chosen.problems.map((p) => ({ ...p, source })));
  const action = rt.plan(vmi.metadata.namespace, vmi.metadata.name, vmi.spec);
  if (action === 'clash') problems.push(clashProblem(rt, vmi, source));
  else if (chosen.choice) return { object: vmi, base, source, boot: chosen.choice, action };
  return undefined;
}

function runningVmi(vm: VirtualMachine): { vmi: VirtualMachineInstance; base: string } | undefined {
  const vmi = vmiFromVm(vm);
  return vmi && { vmi: vmi as VirtualMachineInstance, base: 'spec.template.spec' };
}

function plan(rt: NodeRuntime, files: string[], namespace: string | undefined): Plan {
  const read = readManifestFiles(files);
  const placed = inNamespace(read.manifests, namespace);
  const { objects, problems: invalid } = validateManifests(placed.manifests, rt.validationContext());
  const problems = [...read.problems, ...placed.problems, ...invalid];
  const tasks: VmiTask[] = [];
  const stops: VirtualMachine[] = [];
  objects.forEach((a, i) => {
    const source = (a as { source?: string }).source ?? `${i}`;
    if (a.kind === 'VirtualMachine' && !vmiFromVm(a.object)) stops.push(a.object);
    const task = taskOf(rt, a, source, problems);
    if (task) tasks.push(task);
  });
  return { objects, tasks, stops, problems };
}

function refuse(problems: Problem[], o: Output): number {
  for (const p of problems) o.err(`${p.source ? `${p.source}: ` : ''}${p.path ? `${p.path}: ` : ''}${p.rule}`);
  o.err(`nothing was created: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  return 1;
}

function duration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`;
}

/** One line per step: who, the step, how long, and what it did. */
function stepLines(o: Output, who: string): StepReporter {
  return (step, ms, detail) =>
    o.out(`${who.padEnd(24)} ${step.padEnd(18)} ${duration(ms)}`.padEnd(56) + (detail ? ` ${detail}` : ''));
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** NADs and VMs are kept as they are; a VM whose run strategy says stopped takes its VMI down. */
async function applyObjects(rt: NodeRuntime, p: Plan, o: Output): Promise<void> {
  for (const { kind, object } of p.objects) {
    if (kind === 'NetworkAttachmentDefinition') rt.store.saveObject('nads', object);
    if (kind === 'VirtualMachine') rt.store.saveObject('vms', object);
  }
  for (const vm of p.stops) {
    const { namespace = 'default', name } = vm.metadata;
    const rec = rt.store.readVmi(namespace, name);
    if (!rec?.object.metadata.ownerReferences?.some((r) => r.kind === 'VirtualMachine')) continue;
    await rt.destroy(namespace, name);
    o.out(`${namespace}/${name}: stopped (runStrategy ${vm.spec.runStrategy ?? 'running: false'})`);
  }
}

/** The uid the runtime gave a VMI's record (cloud-init's instance-id, and how a rollback knows its own VMI). */
function uidOf(rec: VmiRecord): string {
  return rec.object.metadata.uid;
}

/** What every task of one `up` shares: the output, the options, the start and the test guest (built once). */
interface Run {
  rt: NodeRuntime;
  o: Output;
  opts: UpOptions;
  t0: number;
  validatedMs: number;
  objectCount: number;
  guest?: Promise<{ kernel: string; initrd: string }>;
}

function resolverFor(run: Run, task: VmiTask, report: StepReporter): () => Promise<ResolvedBoot> {
  return () =>
    resolveBoot(task.boot, {
      testGuest: async () => {
        const t = performance.now();
        const g = await (run.guest ??= testGuest(run.rt.cfg.projectDir, run.opts.progress));
        report('test guest', performance.now() - t, "no boot volume in the spec: the project's test guest");
        return g;
      },
      images: run.rt.images(),
      progress: run.opts.progress,
      report: (volume, ms, detail) => report(`image ${volume}`, ms, detail),
    });
}

/**
 * Create the VMI under its lock, deciding again there (another `up`, `down` or
 * `gc` may have acted since validation). Returns the uid of the VMI it made.
 */
async function createLocked(run: Run, task: VmiTask, report: StepReporter): Promise<string | undefined> {
  const { rt } = run;
  const { namespace, name } = task.object.metadata;
  const resolve = resolverFor(run, task, report);
  // Pulled and built before the lock (minutes on first use), and before any network is made.
  // A running VMI needs no boot source: unchanged, or changed live.
  let resolved = task.action === 'unchanged' || task.action === 'live' ? undefined : await resolve();
  let made: string | undefined;
  try {
    task.action = await rt.withVmiLock(namespace, name, async () => {
      const action = rt.plan(namespace, name, task.object.spec);
      if (action === 'clash')
        throw new StepError('validate', clashRule(rt.clashFields(namespace, name, task.object.spec), name));
      if (action === 'unchanged') return action;
      if (action === 'live') {
        const rec = rt.store.readVmi(namespace, name);
        if (!rec) throw new StepError('launcher', TORN_DOWN);
        await applyLiveChange(rt, rec, task.object.spec, report, run.opts.timeoutMs);
        return action;
      }
      if (action === 'recreate') await rt.destroyLocked(namespace, name);
      const r = (resolved ??= await resolve());
      const spec = (rec: VmiRecord) => launcherSpecOf(task.object, r, uidOf(rec), rt.cfg.serviceCIDRs);
      made = uidOf(await rt.create(task.object, spec, report, undefined, undefined, r.images));
      return action;
    });
  } finally {
    // The record names the images now (or there is none): gc reads it, the pins may go.
    resolved?.release();
  }
  return made;
}

async function waitLeases(
  run: Run,
  task: VmiTask,
  report: StepReporter,
  who: string,
  watching: (uid: string) => void,
): Promise<void> {
  const { namespace, name } = task.object.metadata;
  // Outside the lock a `down` may have taken it meanwhile: that is its answer, not a crash.
  const rec = run.rt.store.readVmi(namespace, name);
  if (!rec) throw new StepError('launcher', TORN_DOWN);
  watching(rec.object.metadata.uid);
  await waitReady(run.rt, rec, report, run.opts.timeoutMs);
  const st = run.rt.status(rec);
  const ips = st.interfaces.map((i) => `${i.name}=${i.ipAddresses?.join(',') ?? 'L2'}`).join(' ');
  run.o.out(`${who}: ${st.phase}; ${ips} (${((performance.now() - run.t0) / 1000).toFixed(1)} s)`);
}

/**
 * After a failure, under the VMI's lock (so a racing `down` or `gc` has
 * finished): whether the VMI this run made is still the one recorded, and if
 * so it goes again, unless the VM runs and only its lease is late. After a
 * concurrent down, another `up` may have made a new one of the name: that one
 * is left alone, and this run's failure is that it was torn down meanwhile.
 */
async function settleFailure(run: Run, task: VmiTask, ids: { made?: string; watched?: string }, err: unknown) {
  const e = err instanceof StepError ? err : new StepError('up', (err as Error).message);
  const { made, watched = made } = ids;
  if (!watched) return { e, undone: undefined };
  const { rt } = run;
  const { namespace, name } = task.object.metadata;
  return rt.withVmiLock(namespace, name, async () => {
    // Torn down: the VMI waited on is gone, or it was not the one this run made.
    const current = rt.store.readVmi(namespace, name)?.object.metadata.uid;
    if (current !== watched || (made !== undefined && made !== watched)) {
      return { e: new StepError(e.step, `${TORN_DOWN}: ${e.reason}`), undone: undefined };
    }
    const rollBack = made === watched && !e.step.startsWith('lease');
    return { e, undone: rollBack ? await rt.destroyLocked(namespace, name) : undefined };
  });
}

/** One VMI from its validation to its leases; false when it failed (and was rolled back). */
async function bringUp(run: Run, task: VmiTask): Promise<boolean> {
  const who = `${task.object.metadata.namespace}/${task.object.metadata.name}`;
  const report = stepLines(run.o, who);
  report('validate', run.validatedMs, plural(run.objectCount, 'object'));
  const ids: { made?: string; watched?: string } = {};
  try {
    const made = await createLocked(run, task, report);
    if (made) ids.made = made;
    if (task.action === 'unchanged') report('unchanged', 0, 'already running with this spec');
    if (task.action === 'live') report('live', 0, 'applied to the running VM');
    if (run.opts.wait) await waitLeases(run, task, report, who, (uid) => (ids.watched = uid));
    return true;
  } catch (err) {
    const { e, undone } = await settleFailure(run, task, ids, err);
    run.o.err(`${who}: failed at ${e.step}: ${e.reason}`);
    if (undone)
      run.o.err(
        `${who}: rolled back${undone.problems.length ? ` (with problems: ${undone.problems.join('; ')})` : ''}`,
      );
    return false;
  }
}

export async function up(rt: NodeRuntime, files: string[], o: Output, opts: UpOptions): Promise<number> {
  const t0 = performance.now();
  const p = plan(rt, files, opts.namespace);
  if (p.problems.length) return refuse(p.problems, o);
  const run: Run = { rt, o, opts, t0, validatedMs: performance.now() - t0, objectCount: p.objects.length };
  if (!p.tasks.length) o.out(`valid: ${plural(p.objects.length, 'object')} applied, no VM to start`);
  await applyObjects(rt, p, o);
  ensureDefaultNetwork(rt.cfg);
  const results = await Promise.all(p.tasks.map((task) => bringUp(run, task)));
  return results.every(Boolean) ? 0 : 1;
}
