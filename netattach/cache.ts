/**
 * The attachment result cache, in libcni's format (pkg/libcni/api.go):
 * <cacheDir>/results/<network>-<containerID>-<ifname>, holding the config
 * (base64), the runtime arguments and the final ADD result, so that DEL has
 * its prevResult and its config even after a restart, or after the
 * NetworkAttachmentDefinition is gone. An entry is what DEL needs to free
 * an IP, so it is written durably (lib/durable.ts), and privately: 0600 in
 * 0700 directories.
 */
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirPrivate, writeFileDurable } from '../lib/durable.ts';
import { CNI_ID_PATTERN, linkNameProblem } from '../lib/names.ts';
import type { CniResult } from '../cni/types.ts';
import type { ConfList, RuntimeArgs } from './invoke.ts';

export interface CacheEntry {
  kind: 'cniCacheV1';
  containerId: string;
  config: string;
  ifName: string;
  networkName: string;
  netns: string;
  cniArgs: Array<[string, string]>;
  capabilityArgs: Record<string, unknown>;
  result: CniResult;
}

function file(cacheDir: string, network: string, containerID: string, ifname: string): string {
  // Every part is validated: these names become a file name.
  if (!CNI_ID_PATTERN.test(network) || !CNI_ID_PATTERN.test(containerID) || linkNameProblem(ifname)) {
    throw new TypeError(`cache key ${network}/${containerID}/${ifname} is not safe as a file name`);
  }
  return join(cacheDir, 'results', `${network}-${containerID}-${ifname}`);
}

export function writeCache(cacheDir: string, list: ConfList, rt: RuntimeArgs, result: CniResult): void {
  const entry: CacheEntry = {
    kind: 'cniCacheV1',
    containerId: rt.containerID,
    config: Buffer.from(JSON.stringify(list)).toString('base64'),
    ifName: rt.ifname,
    networkName: list.name,
    netns: rt.netns,
    cniArgs: rt.cniArgs ?? [],
    capabilityArgs: rt.capabilityArgs ?? {},
    result,
  };
  const f = file(cacheDir, list.name, rt.containerID, rt.ifname);
  mkdirPrivate(join(cacheDir, 'results'), cacheDir);
  writeFileDurable(f, JSON.stringify(entry));
}

export function removeCache(cacheDir: string, network: string, containerID: string, ifname: string): void {
  rmSync(file(cacheDir, network, containerID, ifname), { force: true });
}

/** The network list an entry was added with (DEL needs no NAD). */
export function cachedList(entry: CacheEntry): ConfList {
  return JSON.parse(Buffer.from(entry.config, 'base64').toString('utf8')) as ConfList;
}

/** Every cached attachment, oldest first (by when it was written). */
export function cachedAll(cacheDir: string): CacheEntry[] {
  let names: string[] = [];
  try {
    names = readdirSync(join(cacheDir, 'results')).filter((n) => !n.endsWith('.tmp'));
  } catch {
    return [];
  }
  return names
    .flatMap((n) => {
      const f = join(cacheDir, 'results', n);
      try {
        const e = JSON.parse(readFileSync(f, 'utf8')) as CacheEntry;
        cachedList(e);
        return [{ e, at: statSync(f).mtimeMs }];
      } catch {
        return []; // corrupt: DEL tolerates it, as libcni does
      }
    })
    .sort((a, b) => a.at - b.at)
    .map((x) => x.e);
}

/** Every cached attachment of a container, oldest first. */
export function cachedFor(cacheDir: string, containerID: string): CacheEntry[] {
  return cachedAll(cacheDir).filter((e) => e.containerId === containerID);
}
