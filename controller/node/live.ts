/**
 * A live change to a running VMI on one node (KubeVirt's interface hotplug,
 * done as multus-dynamic-networks-controller and virt-handler do it): the
 * CNI ADD of each new attachment into the running sandbox, then the launcher
 * is given the new spec (spec.json, its generation bumped) and plugs, unplugs
 * or sets link states; then the CNI DEL of each attachment whose NIC the
 * guest has released. Every attachment is journaled in the record before its
 * ADD, so a crash leaves nothing that down or gc does not DEL. A failure is
 * an error that leaves the VM running with its other NICs as they were.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileDurable } from '../../lib/durable.ts';
import { nextFileChange } from '../../lib/watch.ts';
import { parseLauncherSpec, type LauncherSpec } from '../../launcher/spec.ts';
import { statusFile, type LauncherStatus } from '../../launcher/status.ts';
import { attachOne, detachOne, type AttachmentRequest } from '../../netattach/attach.ts';
import { networkStatus } from '../../netattach/status.ts';
import { normalizedInterfaces } from '../api/normalize.ts';
import type { VmiSpec } from '../api/schema.ts';
import { launcherSpec } from '../render/launcher-spec.ts';
import { launcherPodNetworkAnnotations } from '../render/networks.ts';
import { type NodeRuntime, StepError, specHash, type StepReporter } from './runtime.ts';
import { attachOptions, planAttachments, podRef } from './sandbox.ts';
import type { VmiRecord } from './store.ts';
import type { NetworkAttachmentDefinition } from '../../netattach/nad.ts';

/** Where a live change's attachments come from on a cluster: the pod's own annotations and the cluster's NADs. */
export interface LivePod {
  annotations: Record<string, string>;
  lookupNad: (ns: string, name: string) => NetworkAttachmentDefinition | undefined;
}

/** The attachments the new spec wants that the sandbox lacks, and those it has that the new spec drops. */
function attachmentChanges(rt: NodeRuntime, rec: VmiRecord, spec: VmiSpec, pod?: LivePod) {
  const { namespace } = rec.object.metadata;
  const annotations =
    pod?.annotations ??
    launcherPodNetworkAnnotations({ namespace, interfaces: normalizedInterfaces(spec), networks: spec.networks ?? [] });
  let wanted: AttachmentRequest[];
  try {
    wanted = planAttachments(rt.cfg, rt.store, namespace, annotations, pod?.lookupNad);
  } catch (e) {
    // A missing or invalid NAD: refused before anything is made.
    throw new StepError('validate', (e as Error).message);
  }
  const have = new Set(rec.attachments.map((a) => a.ifname));
  const keep = new Set(wanted.map((a) => a.ifname));
  return { add: wanted.filter((a) => !have.has(a.ifname)), drop: rec.attachments.filter((a) => !keep.has(a.ifname)) };
}

/** The launcher's spec for the new VMI spec: the running one's frozen fields, the new NICs, the next generation. */
function nextLauncherSpec(running: LauncherSpec, rec: VmiRecord, spec: VmiSpec): LauncherSpec {
  const nics = launcherSpec({ metadata: rec.object.metadata, spec }, { ...running, serviceCIDRs: [] });
  return {
    ...running,
    interfaces: nics.interfaces,
    networks: nics.networks,
    generation: (running.generation ?? 0) + 1,
  };
}

async function cniAdd(rt: NodeRuntime, rec: VmiRecord, req: AttachmentRequest, report: StepReporter) {
  const t = performance.now();
  // Journaled first: after a crash in the ADD, down and gc DEL it from the record (sandbox.ts destroySandbox).
  rec.attachments.push(req);
  rt.store.writeVmi(rec);
  try {
    const attached = await attachOne(podRef(rec), req, attachOptions(rt.cfg));
    const st = networkStatus(req.name, attached.result, req.isDefault);
    rec.networkStatus = [...(rec.networkStatus ?? []).filter((s) => s.interface !== req.ifname), ...st];
    rt.store.writeVmi(rec);
    report(`cni add ${req.ifname}`, performance.now() - t, st.flatMap((s) => s.ips ?? []).join(' ') || 'L2');
  } catch (e) {
    rec.attachments = rec.attachments.filter((a) => a !== req);
    rt.store.writeVmi(rec);
    throw new StepError(`cni add ${req.ifname}`, (e as Error).message);
  }
}

/** DEL an attachment whose NIC is gone; its IP goes back to the IPAM store. Returns the DEL's error, if any. */
async function cniDel(rt: NodeRuntime, rec: VmiRecord, req: AttachmentRequest, report: StepReporter) {
  const t = performance.now();
  const err = await detachOne(podRef(rec), req, attachOptions(rt.cfg));
  if (err) return `cni del ${req.ifname}: ${err.message}`;
  rec.attachments = rec.attachments.filter((a) => a.ifname !== req.ifname);
  rec.networkStatus = (rec.networkStatus ?? []).filter((s) => s.interface !== req.ifname);
  rt.store.writeVmi(rec);
  report(`cni del ${req.ifname}`, performance.now() - t, 'released');
  return undefined;
}

/** Wait for the launcher to report the generation it was given: it has then done all it could of it. */
async function launcherApplied(rt: NodeRuntime, rec: VmiRecord, generation: number, timeoutMs: number) {
  const dir = rt.store.launcherDir(rec.netns);
  const end = performance.now() + timeoutMs;
  for (;;) {
    const st = rt.launcherStatus(rec);
    if ((st?.observedGeneration ?? 0) >= generation) return st!;
    if (!rt.launcherAlive(rec)) throw new StepError('live change', 'the launcher exited');
    if (performance.now() > end)
      throw new StepError(
        'live change',
        `the launcher did not apply generation ${generation} within ${timeoutMs / 1000} s`,
      );
    await nextFileChange(dir, basename(statusFile(dir)), 100);
  }
}

/** Where the change stands once the launcher has reported: what failed, and which drops may be DELeted. */
function outcome(st: LauncherStatus, added: AttachmentRequest[], dropped: AttachmentRequest[]) {
  const wired = new Set(st.nics.map((n) => n.podInterface));
  return {
    failedAdds: added.filter((a) => !wired.has(a.ifname)),
    released: dropped.filter((a) => !wired.has(a.ifname)),
    error: st.liveError,
  };
}

/**
 * Apply `spec` to the running VMI `rec` (under its lock; NodeRuntime.plan said 'live'; on a cluster, `pod`
 * says which attachments the launcher pod now asks for). On success the record holds the new spec; on a
 * failure it keeps the old one, so that the same change again retries what is missing.
 */
export async function applyLiveChange(
  rt: NodeRuntime,
  rec: VmiRecord,
  spec: VmiSpec,
  report: StepReporter,
  timeoutMs: number,
  pod?: LivePod,
): Promise<void> {
  const specFile = join(rt.store.launcherDir(rec.netns), 'spec.json');
  const running = parseLauncherSpec(JSON.parse(readFileSync(specFile, 'utf8')));
  const { add, drop } = attachmentChanges(rt, rec, spec, pod);
  const added: AttachmentRequest[] = [];
  try {
    for (const req of add) {
      await cniAdd(rt, rec, req, report);
      added.push(req);
    }
  } catch (e) {
    for (const req of added.reverse()) await cniDel(rt, rec, req, report);
    throw e;
  }
  const next = nextLauncherSpec(running, rec, spec);
  const t = performance.now();
  writeFileDurable(specFile, JSON.stringify(next, null, 2));
  const st = await launcherApplied(rt, rec, next.generation!, timeoutMs);
  const done = outcome(st, added, drop);
  report('live change', performance.now() - t, `generation ${next.generation}`);
  const problems: string[] = [];
  for (const req of [...done.failedAdds, ...done.released]) {
    const problem = await cniDel(rt, rec, req, report);
    if (problem) problems.push(problem);
  }
  if (done.error || problems.length)
    throw new StepError('live change', [done.error, ...problems].filter(Boolean).join('; '));
  rec.object = { ...rec.object, spec };
  rec.specHash = specHash(spec);
  rt.store.writeVmi(rec);
}
