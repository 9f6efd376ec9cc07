/**
 * `virtnet up FILE…`: validate everything first (every problem at once, and
 * nothing created when there is any), then apply NetworkAttachmentDefinitions,
 * VirtualMachines and VMIs. VMIs come up concurrently, each reporting its
 * steps with their timings; `up` returns when every NIC has its lease. A VMI
 * that already runs with the same spec is left alone; one with a different
 * spec is a clash (a VMI's spec is immutable, as in KubeVirt).
 */
import { validateManifests } from '../api/manifests.ts';
import { readManifestFiles } from '../view/sources.ts';
import { cpuCount, memoryMiB } from '../api/quantity.ts';
import { chooseBoot, testGuest, type BootChoice } from '../node/boot.ts';
import { ensureDefaultNetwork } from '../node/config.ts';
import { launcherSpec } from '../render/launcher-spec.ts';
import { vmiForVm } from '../render/vmi.ts';
import { runStrategyOf } from '../api/normalize.ts';
import type { VirtualMachine, VmiSpec } from '../api/schema.ts';
import { NodeRuntime, StepError, type StepReporter } from '../node/runtime.ts';
import { waitReady } from '../node/wait.ts';
import type { LauncherSpec } from '../../launcher/spec.ts';
import { resolveBoot, type ResolvedBoot } from '../node/disks.ts';
import type { Progress } from '../../lib/progress.ts';

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

type Obj = Record<string, any>;

const CLASH = "already runs with a different spec; a VMI's spec is immutable";

interface VmiTask {
  object: Obj;
  /** Where its spec sits in the source document ("spec" or "spec.template.spec"). */
  base: string;
  source: string;
  boot: BootChoice;
  action: 'create' | 'unchanged' | 'recreate';
}

/** A VirtualMachine's VMI when its run strategy says it runs (on one node, `up` is the start). */
export function vmiFromVm(vm: Obj): Obj | undefined {
  return ['Always', 'RerunOnFailure', 'Once'].includes(runStrategyOf(vm as VirtualMachine)) ? vmiForVm(vm) : undefined;
}

/** The launcher's spec of a VMI, once its boot is resolved and its uid known (cloud-init's instance-id). */
function launcherSpecOf(vmi: Obj, r: ResolvedBoot, uid: string, serviceCIDRs: string[]): LauncherSpec {
  const spec = vmi.spec as VmiSpec;
  // The VMI's normalised interfaces are the launcher's InterfaceSpec (one typed model is issue 14's work).
  return launcherSpec(vmi as never, {
    boot: r.boot,
    disks: r.disks,
    memoryMiB: memoryMiB(spec),
    cpus: cpuCount(spec),
    serviceCIDRs,
    ...(r.cloudInit && { cloudInit: { ...r.cloudInit, instanceId: uid } }),
  });
}

export async function up(
  rt: NodeRuntime,
  files: string[],
  o: Output,
  opts: { timeoutMs: number; wait: boolean; progress?: Progress },
): Promise<number> {
  const t0 = performance.now();
  const { manifests, problems } = readManifestFiles(files);
  const { objects, problems: invalid } = validateManifests(manifests, rt.validationContext());
  problems.push(...invalid);
  const tasks: VmiTask[] = [];
  const stops: Obj[] = [];
  for (const { kind, object, source } of objects.map((x, i) => ({
    ...x,
    source: (x as { source?: string }).source ?? `${i}`,
  }))) {
    const obj = object as Obj;
    let vmi: Obj | undefined = kind === 'VirtualMachineInstance' ? obj : undefined;
    if (kind === 'VirtualMachine') {
      vmi = vmiFromVm(obj);
      if (!vmi) stops.push(obj);
    }
    if (!vmi) continue;
    const base = kind === 'VirtualMachine' ? 'spec.template.spec' : 'spec';
    const chosen = chooseBoot(vmi.spec, base, { vmiName: vmi.metadata.name });
    problems.push(...chosen.problems.map((p) => ({ ...p, source })));
    const action = rt.plan(vmi.metadata.namespace, vmi.metadata.name, vmi.spec);
    if (action === 'clash')
      problems.push({
        source,
        path: 'metadata.name',
        rule: `VirtualMachineInstance ${vmi.metadata.namespace}/${vmi.metadata.name} ${CLASH}: \`virtnet down ${vmi.metadata.name}\` first`,
      });
    else if (chosen.choice) tasks.push({ object: vmi, base, source, boot: chosen.choice, action });
  }
  if (problems.length) {
    for (const p of problems) o.err(`${p.source ? `${p.source}: ` : ''}${p.path ? `${p.path}: ` : ''}${p.rule}`);
    o.err(`nothing was created: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
    return 1;
  }
  const say =
    (who: string): StepReporter =>
    (step, ms, detail) =>
      o.out(
        `${who.padEnd(24)} ${step.padEnd(18)} ${ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`}`.padEnd(
          56,
        ) + (detail ? ` ${detail}` : ''),
      );
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
      o.out(
        `${vm.metadata.namespace}/${vm.metadata.name}: stopped (runStrategy ${vm.spec.runStrategy ?? 'running: false'})`,
      );
    }
  }
  ensureDefaultNetwork(rt.cfg);
  let guest: Promise<{ kernel: string; initrd: string }> | undefined;
  const results = await Promise.all(
    tasks.map(async (task) => {
      const m = task.object.metadata;
      const who = `${m.namespace}/${m.name}`;
      const report = say(who);
      report('validate', validated, `${objects.length} object${objects.length === 1 ? '' : 's'}`);
      /** The uid of the VMI this run made (a failed create rolls itself back; a failed wait is undone below). */
      let made: string | undefined;
      try {
        const resolve = () =>
          resolveBoot(task.boot, {
            testGuest: async () => {
              const t = performance.now();
              const g = await (guest ??= testGuest(rt.cfg.projectDir, opts.progress));
              report('test guest', performance.now() - t, "no boot volume in the spec: the project's test guest");
              return g;
            },
            images: rt.images(),
            progress: opts.progress,
            report: (volume, ms, detail) => report(`image ${volume}`, ms, detail),
          });
        // Pulled and built before the lock (minutes on first use), and before any network is made.
        let resolved = task.action === 'unchanged' ? undefined : await resolve();
        try {
          // Decide again under the VMI's lock: another `up`, `down` or `gc` may have acted since validation.
          task.action = await rt.withVmiLock(m.namespace, m.name, async () => {
            const action = rt.plan(m.namespace, m.name, task.object.spec);
            if (action === 'clash') throw new StepError('validate', `${CLASH}: \`virtnet down ${m.name}\` first`);
            if (action === 'unchanged') return action;
            if (action === 'recreate') await rt.destroyLocked(m.namespace, m.name);
            const r = (resolved ??= await resolve());
            const rec = await rt.create(
              task.object,
              (made) => launcherSpecOf(task.object, r, made.object.metadata.uid as string, rt.cfg.serviceCIDRs),
              report,
              undefined,
              undefined,
              r.images,
            );
            made = rec.object.metadata.uid as string;
            return action;
          });
        } finally {
          // The record names the images now (or there is none): gc reads it, the pins may go.
          resolved?.release();
        }
        if (task.action === 'unchanged') report('unchanged', 0, 'already running with this spec');
        if (!opts.wait) return true;
        // Outside the lock a `down` may have taken it meanwhile: that is its answer, not a crash.
        const rec = rt.store.readVmi(m.namespace, m.name);
        if (!rec)
          throw new StepError('launcher', 'the VMI was torn down meanwhile by another virtnet command (down or gc)');
        await waitReady(rt, rec, report, opts.timeoutMs);
        const st = rt.status(rec);
        o.out(
          `${who}: ${st.phase}; ${st.interfaces.map((i) => `${i.name}=${i.ipAddresses?.join(',') ?? 'L2'}`).join(' ')} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
        );
        return true;
      } catch (err) {
        let e = err instanceof StepError ? err : new StepError('up', (err as Error).message);
        const current = rt.store.readVmi(m.namespace, m.name)?.object.metadata.uid;
        if (made && current !== made)
          e = new StepError(
            e.step,
            `the VMI was torn down meanwhile by another virtnet command (down or gc): ${e.reason}`,
          );
        o.err(`${who}: failed at ${e.step}: ${e.reason}`);
        // What this run made goes again, unless the VM runs and only its lease is late.
        // Only the VMI this run made: after a concurrent down, another `up` may have made a new one of the name.
        if (made && !e.step.startsWith('lease')) {
          const uid = made;
          const undone = await rt.withVmiLock(m.namespace, m.name, async () =>
            rt.store.readVmi(m.namespace, m.name)?.object.metadata.uid === uid
              ? rt.destroyLocked(m.namespace, m.name)
              : undefined,
          );
          if (undone)
            o.err(
              `${who}: rolled back${undone.problems.length ? ` (with problems: ${undone.problems.join('; ')})` : ''}`,
            );
        }
        return false;
      }
    }),
  );
  return results.every(Boolean) ? 0 : 1;
}
