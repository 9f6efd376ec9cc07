/**
 * Attachment records: one small JSON file per (network, container, ifname),
 * written before the IPAM call so that GC can always find, and release,
 * what an interrupted ADD or a vanished netns left behind.
 * File names are built only from validated identifiers.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shortHash } from '../lib/names.ts';

export interface AttachmentRecord {
  containerID: string;
  ifname: string;
  netns: string;
  hostVeth: string;
  bridge: string;
}

/** The host-side veth name: deterministic, so DEL needs neither the netns nor a record. */
export function hostVethName(containerID: string, ifname: string): string {
  return `vn${shortHash(`${containerID}\0${ifname}`, 11)}`;
}

function fileOf(dataDir: string, network: string, containerID: string, ifname: string): string {
  // containerID matches [a-zA-Z0-9_.-]; the hex ifname keeps any byte out of the path.
  return join(dataDir, network, `${containerID}_${Buffer.from(ifname).toString('hex')}.json`);
}

export function writeRecord(dataDir: string, network: string, rec: AttachmentRecord): void {
  const file = fileOf(dataDir, network, rec.containerID, rec.ifname);
  mkdirSync(join(dataDir, network), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(rec));
  renameSync(`${file}.tmp`, file);
}

export function removeRecord(dataDir: string, network: string, containerID: string, ifname: string): void {
  rmSync(fileOf(dataDir, network, containerID, ifname), { force: true });
}

export function listRecords(dataDir: string, network: string): AttachmentRecord[] {
  let names: string[];
  try {
    names = readdirSync(join(dataDir, network));
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.json')).flatMap((n) => {
    try {
      return [JSON.parse(readFileSync(join(dataDir, network, n), 'utf8')) as AttachmentRecord];
    } catch {
      return [];
    }
  });
}
