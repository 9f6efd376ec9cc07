/**
 * `virtnet up FILE…`: validate everything first (every problem at once, and
 * nothing created when there is any), then apply NetworkAttachmentDefinitions,
 * VirtualMachines and VMIs. VMIs come up concurrently, each reporting its
 * steps with their timings; `up` returns when every NIC has its lease. A VMI
 * that already runs with the same spec is left alone; one with a different
 * spec is a clash (a VMI's spec is immutable, as in KubeVirt).
 */
import { readFileSync } from 'node:fs';
import { parseManifests, validateManifests, type Problem } from '../api/manifests.ts';
import { cpuCount, memoryMiB } from '../api/quantity.ts';
import { chooseBoot, testGuest, TEST_GUEST_CMDLINE, type BootChoice } from '../node/boot.ts';
import { ensureDefaultNetwork } from '../node/config.ts';
import { launcherSpec } from '../render/launcher-spec.ts';
import { NodeRuntime, specHash, StepError, type StepReporter } from '../node/runtime.ts';
import { waitReady } from '../node/wait.ts';
import type { BootSpec } from '../../launcher/spec.ts';

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

type Obj = Record<string, any>;

interface VmiTask {
  object: Obj;
  /** Where its spec sits in the source document ("spec" or "spec.template.spec"). */
  base: string;
  source: string;
  boot: BootChoice;
  action: 'create' | 'unchanged' | 'recreate';
}

/** A running VirtualMachine's VMI, named after it (KubeVirt's VM controller). */
export function vmiFromVm(vm: Obj): Obj | undefined {
  const runs = vm.spec.running === true || ['Always', 'RerunOnFailure', 'Once'].includes(vm.spec.runStrategy);
  if (!runs) return undefined;
  const t = vm.spec.template ?? {};
  return {
    apiVersion: vm.apiVersion, kind: 'VirtualMachineInstance',
    metadata: { ...(t.metadata ?? {}), name: vm.metadata.name, namespace: vm.metadata.namespace, ownerReferences: [{ apiVersion: vm.apiVersion, kind: 'VirtualMachine', name: vm.metadata.name, controller: true }] },
    spec: t.spec,
  };
}

function readSources(files: string[], problems: Problem[]) {
  return files.flatMap((file) => {
    let text: string;
    try {
      text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    } catch (err) {
      problems.push({ source: file, path: '', rule: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      return [];
    }
    const parsed = parseManifests(text, file);
    problems.push(...parsed.problems);
    return parsed.manifests;
  });
}

export async function up(rt: NodeRuntime, files: string[], o: Output, opts: { timeoutMs: number; wait: boolean }): Promise<number> {
  const t0 = performance.now();
  const problems: Problem[] = [];
  const manifests = readSources(files, problems);
  const { objects, problems: invalid } = validateManifests(manifests, rt.validationContext());
  problems.push(...invalid);
  const tasks: VmiTask[] = [];
  const stops: Obj[] = [];
  for (const { kind, object, source } of objects.map((x, i) => ({ ...x, source: (x as { source?: string }).source ?? `${i}` }))) {
    const obj = object as Obj;
    let vmi: Obj | undefined = kind === 'VirtualMachineInstance' ? obj : undefined;
    if (kind === 'VirtualMachine') {
      vmi = vmiFromVm(obj);
      if (!vmi) stops.push(obj);
    }
    if (!vmi) continue;
    const base = kind === 'VirtualMachine' ? 'spec.template.spec' : 'spec';
    const chosen = chooseBoot(vmi.spec, base);
    problems.push(...chosen.problems.map((p) => ({ ...p, source })));
    const rec = rt.store.readVmi(vmi.metadata.namespace, vmi.metadata.name);
    let action: VmiTask['action'] = 'create';
    if (rec && rt.live(rec)) {
      if (rec.specHash === specHash(vmi.spec)) action = 'unchanged';
      else problems.push({ source, path: 'metadata.name', rule: `VirtualMachineInstance ${vmi.metadata.namespace}/${vmi.metadata.name} already runs with a different spec; a VMI's spec is immutable: \`virtnet down ${vmi.metadata.name}\` first` });
    } else if (rec) action = 'recreate';
    if (chosen.choice) tasks.push({ object: vmi, base, source, boot: chosen.choice, action });
  }
  if (problems.length) {
    for (const p of problems) o.err(`${p.source ? `${p.source}: ` : ''}${p.path ? `${p.path}: ` : ''}${p.rule}`);
    o.err(`nothing was created: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
    return 1;
  }
  const say = (who: string): StepReporter => (step, ms, detail) =>
    o.out(`${who.padEnd(24)} ${step.padEnd(18)} ${ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`}`.padEnd(56) + (detail ? ` ${detail}` : ''));
  const validated = performance.now() - t0;
  if (!tasks.length) o.out(`valid: ${objects.length} object${objects.length === 1 ? '' : 's'} applied, no VM to start`);
  for (const { kind, object } of objects) {
    if (kind === 'NetworkAttachmentDefinition') rt.store.saveObject('nads', object as Obj);
    if (kind === 'VirtualMachine') rt.store.saveObject('vms', object as Obj);
  }
  for (const vm of stops) {
    const rec = rt.store.readVmi(vm.metadata.namespace, vm.metadata.name);
    if (rec?.object.metadata.ownerReferences?.some((r: Obj) => r.kind === 'VirtualMachine')) {
      await rt.destroy(vm.metadata.namespace, vm.metadata.name);
      o.out(`${vm.metadata.namespace}/${vm.metadata.name}: stopped (runStrategy ${vm.spec.runStrategy ?? 'running: false'})`);
    }
  }
  ensureDefaultNetwork(rt.cfg);
  let guest: Promise<{ kernel: string; initrd: string }> | undefined;
  const results = await Promise.all(tasks.map(async (task) => {
    const m = task.object.metadata;
    const who = `${m.namespace}/${m.name}`;
    const report = say(who);
    report('validate', validated, `${objects.length} object${objects.length === 1 ? '' : 's'}`);
    /** Whether this run made the VMI (a failed create rolls itself back; a failed wait is undone below). */
    let made = false;
    try {
      let boot: BootSpec | undefined;
      if (task.action !== 'unchanged' && task.boot.testGuest) {
        const t = performance.now();
        const g = await (guest ??= testGuest(rt.cfg.projectDir));
        report('test guest', performance.now() - t, 'no boot volume in the spec: the project\'s test guest');
        boot = { kernel: g.kernel, initrd: g.initrd, cmdline: task.boot.cmdline };
      } else if (!task.boot.testGuest) boot = task.boot.boot;
      // Decide again under the VMI's lock: another `up`, `down` or `gc` may have acted since validation.
      task.action = await rt.withVmiLock(m.namespace, m.name, async () => {
        const rec = rt.store.readVmi(m.namespace, m.name);
        if (rec && rt.live(rec)) {
          if (rec.specHash !== specHash(task.object.spec)) throw new StepError('validate', 'already runs with a different spec; a VMI\'s spec is immutable: `virtnet down` it first');
          return 'unchanged';
        }
        if (rec) await rt.destroyLocked(m.namespace, m.name);
        const spec = task.object.spec;
        const b: BootSpec = boot ?? (await (guest ??= testGuest(rt.cfg.projectDir)).then((g) => ({ kernel: g.kernel, initrd: g.initrd, cmdline: TEST_GUEST_CMDLINE })));
        await rt.create(task.object, () => launcherSpec(task.object as never, { boot: b, memoryMiB: memoryMiB(spec), cpus: cpuCount(spec), serviceCIDRs: rt.cfg.serviceCIDRs }), report);
        made = true;
        return rec ? 'recreate' : 'create';
      });
      if (task.action === 'unchanged') report('unchanged', 0, 'already running with this spec');
      if (!opts.wait) return true;
      const rec = rt.store.readVmi(m.namespace, m.name)!;
      await waitReady(rt, rec, report, opts.timeoutMs);
      const st = rt.status(rec);
      o.out(`${who}: ${st.phase}; ${st.interfaces.map((i) => `${i.name}=${i.ipAddresses?.join(',') ?? 'L2'}`).join(' ')} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      return true;
    } catch (err) {
      const e = err instanceof StepError ? err : new StepError('up', (err as Error).message);
      o.err(`${who}: failed at ${e.step}: ${e.reason}`);
      // What this run made goes again, unless the VM runs and only its lease is late.
      if (made && !e.step.startsWith('lease')) {
        const { problems } = await rt.destroy(m.namespace, m.name);
        o.err(`${who}: rolled back${problems.length ? ` (with problems: ${problems.join('; ')})` : ''}`);
      }
      return false;
    }
  }));
  return results.every(Boolean) ? 0 : 1;
}
