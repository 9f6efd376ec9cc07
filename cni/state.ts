/**
 * Attachment records: one small JSON file per (network, container, ifname),
 * written before the IPAM call so that GC can always find, and release,
 * what an interrupted ADD or a vanished netns left behind.
 * File names are built only from validated identifiers.
 */
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirPrivate, writeFileNowSyncLater } from '../lib/durable.ts';
import { CNI_ID_PATTERN, shortHash } from '../lib/names.ts';
import { isSameProcess, startTime } from '../lib/process.ts';

export interface AttachmentRecord {
  containerID: string;
  ifname: string;
  netns: string;
  hostVeth: string;
  bridge: string;
  /**
   * The ADD that wrote the record: its pid and start time (lib/process.ts).
   * While that process lives, the ADD is in flight and GC must leave the
   * attachment alone, whatever list of valid attachments it was given.
   */
  addPid?: number;
  addStartTime?: string;
}

/** Whether the ADD that wrote `rec` is still running (pid and start time both match). */
export function addInFlight(rec: AttachmentRecord): boolean {
  return isSameProcess(rec.addPid, rec.addStartTime);
}

/** The in-flight mark for a record this process writes. */
export function inFlightMark(): Pick<AttachmentRecord, 'addPid' | 'addStartTime'> {
  const started = startTime(process.pid);
  return { addPid: process.pid, ...(started !== undefined && { addStartTime: started }) };
}

/** The host-side veth name: deterministic, so DEL needs neither the netns nor a record. */
export function hostVethName(containerID: string, ifname: string): string {
  return `vn${shortHash(`${containerID}\0${ifname}`, 11)}`;
}

function fileOf(dataDir: string, network: string, containerID: string, ifname: string): string {
  // containerID matches [a-zA-Z0-9_.-]; the hex ifname keeps any byte out of the path.
  return join(dataDir, network, `${containerID}_${Buffer.from(ifname).toString('hex')}.json`);
}

/**
 * In place at once, for GC and for the next DEL even if this process dies the next moment; on disk (file and directory
 * fsync'd) when the promise settles. ADD awaits that beside its IPAM delegate rather than before it: a power loss in
 * between can lose the record, but host-local does not fsync its allocation either, so it would not survive the
 * record, and a damaged record reads as none (listRecords).
 */
export function writeRecord(dataDir: string, network: string, rec: AttachmentRecord): Promise<void> {
  const file = fileOf(dataDir, network, rec.containerID, rec.ifname);
  mkdirPrivate(join(dataDir, network));
  return writeFileNowSyncLater(file, JSON.stringify(rec));
}

/**
 * The record of an ADD that has finished: the same, without the in-flight mark, so that GC may release it although
 * the process that made it lives on (the CNI daemon). Atomic but not fsync'd: if a power loss undoes it, the marked
 * record that comes back names a process that is gone, which GC reads the same way.
 */
export function settleRecord(dataDir: string, network: string, rec: AttachmentRecord): void {
  const { addPid: _pid, addStartTime: _start, ...settled } = rec;
  const file = fileOf(dataDir, network, rec.containerID, rec.ifname);
  // One ADD per record at a time (a second is refused), so a fixed name cannot be shared; a crash leaves it to be
  // overwritten by the next settle of this record.
  const tmp = `${file}.settling`;
  writeFileSync(tmp, JSON.stringify(settled), { mode: 0o600 });
  renameSync(tmp, file);
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
  return names
    .filter((n) => n.endsWith('.json'))
    .flatMap((n) => {
      try {
        const rec: unknown = JSON.parse(readFileSync(join(dataDir, network, n), 'utf8'));
        return isRecord(rec) ? [rec] : [];
      } catch {
        return [];
      }
    });
}

/** A record's shape, checked after JSON.parse: the file may be foreign or damaged. */
function isRecord(v: unknown): v is AttachmentRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const strings = ['containerID', 'ifname', 'netns', 'hostVeth', 'bridge'].every((k) => typeof r[k] === 'string');
  // GC deletes the link a record names: it must be the veth this plugin derives, nothing else.
  if (
    !strings ||
    !CNI_ID_PATTERN.test(r.containerID as string) ||
    r.hostVeth !== hostVethName(r.containerID as string, r.ifname as string)
  )
    return false;
  return (
    (r.addPid === undefined || Number.isInteger(r.addPid)) &&
    (r.addStartTime === undefined || typeof r.addStartTime === 'string')
  );
}
