/**
 * What one VMI's sandboxes left on this node, found without its record: for
 * a record that is corrupt (a journal cut short by a power loss before
 * journals were fsync'd) or absent while its directory exists. Its netns
 * name cannot be derived, `vn-` + a hash of namespace, name and the uid that
 * `create` drew at random; so the evidence is what the sandbox wrote where
 * this node keeps state:
 *   - the CNI result cache: each entry carries the pod's namespace and name
 *     (CNI_ARGS K8S_POD_NAMESPACE, K8S_POD_NAME = virt-launcher-<vmi>), its
 *     uid, the container id, the netns path, and the config that DEL needs
 *     to release the IPs;
 *   - launchers/<netns>/spec.json, which names the VMI (and status.json, the
 *     launcher's pid).
 * Only this state directory's evidence counts: a netns with none here may be
 * another node's (several share one host in tests), and is never touched.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../../lib/process.ts';
import type { AttachmentRequest } from '../../netattach/attach.ts';
import { cachedAll, cachedList, type CacheEntry } from '../../netattach/cache.ts';
import { readStatus } from '../../launcher/status.ts';
import { SANDBOX_NAME, type Store, type VmiKey } from './store.ts';

/** One sandbox of the VMI, as far as the evidence tells. */
export interface Remains {
  netns: string;
  /** '' when only the launcher's directory was found (its ADDs never cached). */
  containerID: string;
  uid: string;
  /** The cached attachments, as the journal would have had them: DEL needs their config. */
  attachments: AttachmentRequest[];
  /** Whether its launcher still runs (status.json's pid, with the launcher directory on its command line). */
  launcherRuns: boolean;
}

const NETNS_PATH = /^\/(?:var\/)?run\/netns\/(vn-[0-9a-f]{10})$/u;

function cniArg(e: CacheEntry, name: string): string | undefined {
  return Array.isArray(e.cniArgs) ? e.cniArgs.find((a) => Array.isArray(a) && a[0] === name)?.[1] : undefined;
}

function cachedOf(store: Store, key: VmiKey): CacheEntry[] {
  return cachedAll(store.cniCacheDir).filter(
    (e) =>
      cniArg(e, 'K8S_POD_NAMESPACE') === key.namespace &&
      cniArg(e, 'K8S_POD_NAME') === `virt-launcher-${key.name}` &&
      NETNS_PATH.test(e.netns),
  );
}

function launcherNames(store: Store, netns: string): VmiKey | undefined {
  try {
    const spec = JSON.parse(readFileSync(join(store.launcherDir(netns), 'spec.json'), 'utf8')) as {
      name?: unknown;
      namespace?: unknown;
    };
    return typeof spec.name === 'string' && typeof spec.namespace === 'string'
      ? { namespace: spec.namespace, name: spec.name }
      : undefined;
  } catch {
    return undefined;
  }
}

function launcherRuns(store: Store, netns: string): boolean {
  const dir = store.launcherDir(netns);
  return isAlive(readStatus(dir)?.pid, dir);
}

/**
 * The sandboxes of `key` that evidence shows, one per netns. `claimed`:
 * netns names that valid records hold (a launcher directory of theirs is
 * never this VMI's, whatever its spec.json says).
 */
export function findRemains(store: Store, key: VmiKey, claimed: ReadonlySet<string>): Remains[] {
  const byNetns = new Map<string, Remains>();
  const get = (netns: string) => {
    let r = byNetns.get(netns);
    if (!r) byNetns.set(netns, (r = { netns, containerID: '', uid: '', attachments: [], launcherRuns: false }));
    return r;
  };
  for (const e of cachedOf(store, key)) {
    const r = get(NETNS_PATH.exec(e.netns)![1]!);
    r.containerID = e.containerId;
    r.uid = cniArg(e, 'K8S_POD_UID') ?? '';
    r.attachments.push({
      name: e.networkName,
      list: cachedList(e),
      ifname: e.ifName,
      isDefault: false,
      ...(e.capabilityArgs && { capabilityArgs: e.capabilityArgs }),
    });
  }
  for (const netns of store.launcherNetnses()) {
    if (claimed.has(netns) || !SANDBOX_NAME.test(netns)) continue;
    const names = launcherNames(store, netns);
    if (names?.namespace === key.namespace && names.name === key.name) get(netns);
  }
  for (const r of byNetns.values()) r.launcherRuns = launcherRuns(store, r.netns);
  return [...byNetns.values()].filter((r) => !claimed.has(r.netns));
}
