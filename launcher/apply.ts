/**
 * The launcher's applier: probes what the kernel has, applies a PodPlan in
 * the pod netns (the launcher runs inside it), and tears it down again.
 * What teardown needs (the pod as discovered, the sysctls it changed) is
 * saved first, so that a teardown after a crash restores the pod too.
 */
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { applyLinkOps, ipJson, type IpLink } from '../lib/iproute.ts';
import { applyNft, dropTable } from '../lib/nft.ts';
import { MASQUERADE_TABLE } from './plan/masquerade-rules.ts';
import { ensureSysctl, readSysctl } from '../lib/sysctl.ts';
import { shortHash, urandom } from '../lib/names.ts';
import { exec } from '../lib/exec.ts';
import { randomMac } from '../lib/cidr.ts';
import type { PodInterface, PodNetwork } from './discover.ts';
import type { PodPlan, NicPlan } from './plan/types.ts';
import { planRestore } from './plan/restore.ts';

/** Whether this kernel can make dummy links: try one (these machines' kernels cannot). */
export async function probeDummyLinks(): Promise<boolean> {
  const name = `vnp${shortHash(String(process.pid) + Date.now(), 8)}`;
  const made = await exec(['ip', 'link', 'add', 'name', name, 'type', 'dummy'], { allowFailure: true });
  if (made.exitCode !== 0) return false;
  await exec(['ip', 'link', 'del', 'dev', name], { allowFailure: true });
  return true;
}

export interface SavedPod {
  original: PodNetwork;
  nics: Array<Pick<NicPlan, 'names' | 'index'>>;
  sysctls: Record<string, string>;
  /** nftables tables the plan made, dropped on teardown. */
  nftTables?: string[];
}

const SAVED = 'pod-original.json';

function save(stateDir: string, saved: SavedPod): void {
  const file = join(stateDir, SAVED);
  writeFileSync(`${file}.tmp`, JSON.stringify(saved, null, 2));
  renameSync(`${file}.tmp`, file);
}

/** The value of a sysctl now, or undefined for a link that does not exist (yet). */
function sysctlNow(key: string): string | undefined {
  try {
    return readSysctl(key);
  } catch {
    return undefined;
  }
}

export async function applyPodPlan(stateDir: string, original: PodNetwork, plan: PodPlan): Promise<void> {
  // Only namespace-wide keys need restoring; per-link ones go with links we made.
  const sysctls = Object.fromEntries(
    Object.keys(plan.sysctls).flatMap((k) => {
      const v = sysctlNow(k);
      return v === undefined ? [] : [[k, v]];
    }),
  );
  const nftTables = plan.nft.length ? [MASQUERADE_TABLE] : [];
  save(stateDir, { original, nics: plan.nics.map((n) => ({ names: n.names, index: n.index })), sysctls, nftTables });
  try {
    await applyLinkOps(plan.ops);
    await applyLinkOps(plan.ops6, undefined, { ipv6Rules: true });
    // After the links: some keys belong to links this plan made.
    for (const [k, v] of Object.entries(plan.sysctls)) ensureSysctl(k, v);
    await applyNft(plan.nft);
  } catch (err) {
    await teardownPod(stateDir).catch(() => undefined);
    throw err;
  }
}

/** Put the pod back as CNI left it. Idempotent; a no-op when nothing was saved. */
export async function teardownPod(stateDir: string): Promise<void> {
  const file = join(stateDir, SAVED);
  if (!existsSync(file)) return;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedPod;
  const current = await ipJson<IpLink[]>(['addr', 'show']);
  const restore = planRestore(saved.original, saved.nics, current);
  // -force: go on past lines for things already gone.
  await applyLinkOps(restore.ops, undefined, { force: true });
  await applyLinkOps(restore.ops6, undefined, { ipv6Rules: true, force: true });
  await applyNft((saved.nftTables ?? []).flatMap((t) => dropTable('inet', t)));
  for (const [k, v] of Object.entries(saved.sysctls)) if (sysctlNow(k) !== undefined) ensureSysctl(k, v);
}

function readSaved(stateDir: string): SavedPod | undefined {
  const file = join(stateDir, SAVED);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SavedPod) : undefined;
}

/**
 * Wire one NIC into a running pod (hotplug): journaled first, as applyPodPlan does, with its pod interface as
 * discovered, so that a teardown after a crash restores it too; undone on failure.
 */
export async function applyLiveNic(
  stateDir: string,
  pod: PodInterface,
  nic: Pick<NicPlan, 'names' | 'index'>,
  plan: Pick<PodPlan, 'ops' | 'ops6' | 'sysctls'>,
): Promise<void> {
  const saved = readSaved(stateDir);
  // applyPodPlan saved it at the start; without it a teardown could not restore what this makes.
  if (!saved) throw new Error(`hotplug: ${join(stateDir, SAVED)} is missing: the pod was never wired`);
  const original = {
    ...saved.original,
    interfaces: [...saved.original.interfaces.filter((i) => i.name !== pod.name), pod],
  };
  const sysctls = { ...saved.sysctls };
  for (const k of Object.keys(plan.sysctls)) {
    const v = k in sysctls ? undefined : sysctlNow(k);
    if (v !== undefined) sysctls[k] = v;
  }
  const nics = [...saved.nics.filter((n) => n.names.podIf !== nic.names.podIf), { names: nic.names, index: nic.index }];
  save(stateDir, { ...saved, original, nics, sysctls });
  try {
    await applyLinkOps(plan.ops);
    await applyLinkOps(plan.ops6, undefined, { ipv6Rules: true });
    for (const [k, v] of Object.entries(plan.sysctls)) ensureSysctl(k, v);
  } catch (err) {
    await unwireNic(stateDir, nic.names.podIf).catch(() => undefined);
    throw err;
  }
}

/**
 * Put one NIC's pod interface back as CNI left it (unplug), then forget it, so that the CNI DEL that follows
 * finds the interface it made. Idempotent: a NIC already unwired, or never journaled, is nothing to do.
 */
export async function unwireNic(stateDir: string, podIf: string): Promise<void> {
  const saved = readSaved(stateDir);
  const nic = saved?.nics.find((n) => n.names.podIf === podIf);
  if (!saved || !nic) return;
  const current = await ipJson<IpLink[]>(['addr', 'show']);
  const restore = planRestore(saved.original, [nic], current);
  await applyLinkOps(restore.ops, undefined, { force: true });
  await applyLinkOps(restore.ops6, undefined, { ipv6Rules: true, force: true });
  const original = { ...saved.original, interfaces: saved.original.interfaces.filter((i) => i.name !== podIf) };
  save(stateDir, { ...saved, original, nics: saved.nics.filter((n) => n !== nic) });
}

export function freshMacs(n: number): string[] {
  return Array.from({ length: n }, () => randomMac(urandom));
}
