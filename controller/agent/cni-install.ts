/**
 * Installing the CNI plugin and its network config on a node, atomically:
 * each file is written beside its target under a temporary name, flushed,
 * and renamed over it. A runtime that execs the plugin meanwhile runs either
 * the old inode or the new one, never a half-written file, and never meets
 * ETXTBSY (which only writing into a running executable's inode raises).
 * Unchanged files are left alone.
 *
 * Which network config the node's runtime takes as its default is decided
 * here too: the first by name in the config directory.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
  chmodSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from '../../lib/durable.ts';

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

/** The plugin's name in the CNI bin directory: the `type` its configs name. */
export const PLUGIN_NAME = 'virtnet-bridge';

/** The Node plugin beside the shim: what the shim runs when no CNI daemon answers (cni/shim). */
export const NODE_PLUGIN_NAME = 'virtnet-bridge-node';

/**
 * Install the plugin into the CNI bin directory: the shim `plugin`, and the Node plugin beside it where the build
 * has one; false when both were already that build. The Node plugin goes first, so that a shim that is in place
 * always finds its fallback.
 */
export function installPlugin(plugin: string, binDir: string): boolean {
  const nodePlugin = join(dirname(plugin), NODE_PLUGIN_NAME);
  const nodeChanged =
    existsSync(nodePlugin) && installFile(join(binDir, NODE_PLUGIN_NAME), readFileSync(nodePlugin), 0o755);
  return installFile(join(binDir, PLUGIN_NAME), readFileSync(plugin), 0o755) || nodeChanged;
}

/** A network config as the node agent writes it: two-space JSON and a final newline. */
export function confText(conflist: object): string {
  return `${JSON.stringify(conflist, null, 2)}\n`;
}

const CONF_EXTENSIONS = ['.conf', '.conflist', '.json'];

/**
 * The files a runtime reads as network configs: libcni's ConfFiles(dir,
 * [".conf", ".conflist", ".json"]), as containerd and CRI-O call it, in
 * its order (Go's sort.Strings: byte order, which Buffer.compare is). The
 * runtime's default network, and Multus' automatic clusterNetwork, is the
 * first of them that loads.
 */
export function networkConfigFiles(confDir: string): string[] {
  if (!existsSync(confDir)) return [];
  return readdirSync(confDir, { withFileTypes: true })
    .filter((e) => !e.isDirectory() && CONF_EXTENSIONS.some((x) => e.name.endsWith(x)))
    .map((e) => e.name)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/**
 * Remove `file` if `isOwn` recognises its content; false when it is
 * absent or someone else's (an admin's file under the same name stays).
 */
export function removeOwnFile(file: string, isOwn: (text: string) => boolean): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (!isOwn(text)) return false;
  rmSync(file, { force: true });
  fsyncDir(dirname(file)); // the removal reaches the disk: a restart must not bring the network back
  return true;
}
