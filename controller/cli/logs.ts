/**
 * `virtnet logs NAME [-f]`: the guest's serial console log, as KubeVirt's
 * guest-console-log container serves it to `kubectl logs`. QEMU appends the
 * serial port's output to the launcher's console.log (the domain XML's
 * <serial><log append='on'>); this reads that file, and with -f follows it
 * until the VMI is gone. `virtnet console` stays the interactive way in.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeRuntime } from '../node/runtime.ts';

export interface LogsOutput {
  /** Raw bytes of the log, unchanged (it is the guest's, control characters and all). */
  write(chunk: Buffer): void;
  err(line: string): void;
}

const CHUNK = 64 * 1024;
const FOLLOW_POLL_MS = 200;

/** Copy `file` from `offset` to its current end; returns the new offset. */
function copyFrom(file: string, offset: number, o: LogsOutput): number {
  if (!existsSync(file)) return offset;
  // A log that shrank was replaced (a recreated VMI): start again from its top.
  let at = statSync(file).size < offset ? 0 : offset;
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    for (let n = readSync(fd, buf, 0, CHUNK, at); n > 0; n = readSync(fd, buf, 0, CHUNK, at)) {
      o.write(Buffer.from(buf.subarray(0, n)));
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return at;
}

export async function logs(
  rt: NodeRuntime,
  name: string,
  namespace: string,
  follow: boolean,
  o: LogsOutput,
  signal?: AbortSignal,
): Promise<number> {
  const rec = rt.store.readVmi(namespace, name);
  if (!rec) {
    o.err(`Error from server (NotFound): virtualmachineinstances "${name}" not found in namespace "${namespace}"`);
    return 1;
  }
  const file = join(rt.store.launcherDir(rec.netns), 'console.log');
  let offset = copyFrom(file, 0, o);
  if (!follow) {
    if (!existsSync(file)) o.err(`${namespace}/${name}: no console output yet`);
    return 0;
  }
  // Follows this VMI (its uid), not a later one of the same name.
  const uid = rec.object.metadata.uid;
  while (!signal?.aborted && rt.store.readVmi(namespace, name)?.object.metadata.uid === uid) {
    await sleep(FOLLOW_POLL_MS, undefined, { ref: true }).catch(() => undefined);
    offset = copyFrom(file, offset, o);
  }
  return 0;
}
