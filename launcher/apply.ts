/**
 * The launcher's applier: probes what the kernel has, applies a PodPlan in
 * the pod netns (the launcher runs inside it), and tears it down again.
 * What teardown needs (the pod as discovered, the sysctls it changed) is
 * saved first, so that a teardown after a crash restores the pod too.
 */
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { applyLinkOps, ipJson, type IpLink } from '../lib/iproute.ts';
import { applyNft } from '../lib/nft.ts';
import { ensureSysctl, readSysctl } from '../lib/sysctl.ts';
import { shortHash, urandom } from '../lib/names.ts';
import { exec } from '../lib/exec.ts';
import { randomMac } from '../lib/cidr.ts';
import type { PodNetwork } from './discover.ts';
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
  nics: Array<Pick<NicPlan, 'names'>>;
  sysctls: Record<string, string>;
}

const SAVED = 'pod-original.json';

function save(stateDir: string, saved: SavedPod): void {
  const file = join(stateDir, SAVED);
  writeFileSync(`${file}.tmp`, JSON.stringify(saved, null, 2));
  renameSync(`${file}.tmp`, file);
}

export async function applyPodPlan(stateDir: string, original: PodNetwork, plan: PodPlan): Promise<void> {
  const sysctls = Object.fromEntries(Object.keys(plan.sysctls).map((k) => [k, readSysctl(k)]));
  save(stateDir, { original, nics: plan.nics.map((n) => ({ names: n.names })), sysctls });
  try {
    for (const [k, v] of Object.entries(plan.sysctls)) ensureSysctl(k, v);
    await applyLinkOps(plan.ops);
    await applyLinkOps(plan.ops6, undefined, { ipv6Rules: true });
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
  const current = await ipJson<IpLink[]>(['link', 'show']);
  const restore = planRestore(saved.original, saved.nics, current);
  // -force: go on past lines for things already gone.
  await applyLinkOps(restore.ops, undefined, { force: true });
  await applyLinkOps(restore.ops6, undefined, { ipv6Rules: true, force: true });
  for (const [k, v] of Object.entries(saved.sysctls)) ensureSysctl(k, v);
}

export function freshMacs(n: number): string[] {
  return Array.from({ length: n }, () => randomMac(urandom));
}
