/**
 * Installing the CNI plugin and its network config on a node, atomically:
 * each file is written beside its target under a temporary name, flushed,
 * and renamed over it. A runtime that execs the plugin meanwhile runs either
 * the old inode or the new one, never a half-written file, and never meets
 * ETXTBSY (which only writing into a running executable's inode raises).
 * Unchanged files are left alone.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Write `content` to `target` by rename; false when it already held exactly that. */
export function installFile(target: string, content: Buffer | string, mode: number): boolean {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  if (existsSync(target) && readFileSync(target).equals(data)) return false;
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return true;
}

export interface CniInstall {
  /** The plugin executable to install (the image's dist/cni/virtnet-bridge). */
  plugin: string;
  binDir: string;
  confDir: string;
  conflist: object;
  /** File name of the conflist; "10-" sorts it before most, so it is the default network. */
  confName?: string;
}

export function installCni(o: CniInstall): { plugin: boolean; conf: boolean } {
  return {
    plugin: installFile(join(o.binDir, 'virtnet-bridge'), readFileSync(o.plugin), 0o755),
    conf: installFile(join(o.confDir, o.confName ?? '10-virtnet.conflist'), `${JSON.stringify(o.conflist, null, 2)}\n`, 0o644),
  };
}
