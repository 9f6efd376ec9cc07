/**
 * `virtnet images`: the node's containerDisk cache (controller/node/images),
 * one row per reference that resolved to a cached disk, with the VMIs whose
 * records name its digest. `virtnet gc` removes what no VMI uses
 * (runtime.gcImages).
 */
import { formatBytes } from '../../lib/progress.ts';
import type { NodeRuntime } from '../node/runtime.ts';
import type { CachedImage } from '../node/images/cache.ts';
import { render } from '../view/table.ts';
import type { Output } from './up.ts';

export interface ImageRow {
  reference: string;
  digest: string;
  format: string;
  size: number;
  diskPath: string;
  vmis: string[];
}

/** The VMIs (namespace/name) whose records name each digest. */
export function imageUsers(rt: NodeRuntime): Map<string, string[]> {
  const users = new Map<string, string[]>();
  for (const rec of rt.store.listVmis()) {
    const who = `${rec.object.metadata.namespace}/${rec.object.metadata.name}`;
    for (const use of rec.images ?? []) users.set(use.digest, [...(users.get(use.digest) ?? []), who]);
  }
  return users;
}

export function imageRows(images: readonly CachedImage[], users: ReadonlyMap<string, string[]>): ImageRow[] {
  return images
    .flatMap((i) =>
      (i.references.length ? i.references : ['<none>']).map((reference) => ({
        reference,
        digest: i.digest,
        format: i.format,
        size: i.size,
        diskPath: i.diskPath,
        vmis: [...new Set(users.get(i.digest) ?? [])].sort(),
      })),
    )
    .sort((a, b) => a.reference.localeCompare(b.reference));
}

/** Columns padded as kubectl's tabwriter pads them (3 spaces between). */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]! + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

export function images(rt: NodeRuntime, format: 'table' | 'json' | 'yaml', o: Output): number {
  const cache = rt.images();
  const rows = imageRows(cache.list(), imageUsers(rt));
  // What is in the cache but is no image: a damaged entry (gc removes it) or a stranger (left alone).
  for (const j of cache.junk())
    o.err(`warning: ${rt.cfg.imageCacheDir}/${j.name}: ${j.why}${j.damagedEntry ? ' (`virtnet gc` removes it)' : ''}`);
  if (format !== 'table') {
    o.out(render({ images: rows }, format));
    return 0;
  }
  if (!rows.length) {
    o.out(`No images in ${rt.cfg.imageCacheDir}`);
    return 0;
  }
  o.out(
    table([
      ['REFERENCE', 'DIGEST', 'FORMAT', 'SIZE', 'VMIS'],
      ...rows.map((r) => [
        r.reference,
        r.digest.slice(0, 19),
        r.format,
        formatBytes(r.size),
        r.vmis.join(',') || '<none>',
      ]),
    ]),
  );
  return 0;
}
