import {
  alignColumns,
  byKey,
  vmiCells,
  listObject,
  nadTable,
  nameLines,
  render,
  vmiTable,
  vmTable,
  type VmiView,
} from '../view/table.ts';
import { type PluginClient, type PluginResource, ServerError, type StoredObjects } from '../kube/plugin-api.ts';
import { errorLine } from './error-line.ts';
import type { Output } from './io.ts';
import type { GetFormat } from './program.ts';
import { NAME_PREFIX } from './resources.ts';

/** How each resource is drawn as a table; `wide` adds columns where the resource has more to say. */
const TABLES: { [R in PluginResource]: (items: StoredObjects[R][], now: Date, wide: boolean) => string } = {
  virtualmachineinstances: (vmis, now, wide) => (wide ? wideVmiTable(vmis, now) : vmiTable(vmis, now)),
  virtualmachines: (vms, now) => vmTable(vms, now),
  'network-attachment-definitions': (nads, now) => nadTable(nads, now),
};

const orNone = (v: string | undefined) => (v ? v : '<none>');

/** `get vmis -o wide`: the standalone table plus where the VMI runs: its node and its launcher pod. */
export function wideVmiTable(vmis: readonly VmiView[], now: Date): string {
  if (!vmis.length) return '';
  const rows = byKey(vmis).map((v) => [
    ...vmiCells(v, now),
    orNone(v.status?.nodeName),
    orNone(v.status?.launcherPod?.name),
  ]);
  return alignColumns([['NAMESPACE', 'NAME', 'PHASE', 'IPS', 'AGE', 'NODE', 'LAUNCHER POD'], ...rows]);
}

/** What `get` asks of the cluster (a narrow view of PluginClient, so tests can answer it). */
export type ObjectReader = Pick<PluginClient, 'get' | 'list'>;

/** One GET per name, as kubectl: the found ones are returned, each missing one is reported. */
async function byName<R extends PluginResource>(
  client: ObjectReader,
  r: R,
  namespace: string,
  names: string[],
  o: Output,
): Promise<{ items: StoredObjects[R][]; missing: boolean }> {
  const results = await Promise.allSettled(names.map((n) => client.get(r, namespace, n)));
  const items = results.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
  for (const x of results) {
    if (x.status === 'fulfilled') continue;
    if (!(x.reason instanceof ServerError)) throw x.reason;
    o.err(errorLine(x.reason));
  }
  return { items, missing: items.length < names.length };
}

/**
 * Lists `r` in `namespace` (undefined: every namespace), or gets `names`.
 * Nothing to list is kubectl's note on stderr, exit 0; a missing name exits 1.
 */
export async function get<R extends PluginResource>(
  client: ObjectReader,
  r: R,
  names: string[],
  namespace: string | undefined,
  format: GetFormat | undefined,
  o: Output,
): Promise<number> {
  const { items, missing } =
    names.length && namespace !== undefined
      ? await byName(client, r, namespace, names, o)
      : { items: await client.list(r, namespace), missing: false };
  if (format === 'json' || format === 'yaml') {
    if (names.length !== 1 || items.length) o.out(render(names.length === 1 ? items[0] : listObject(items), format));
  } else if (items.length) {
    o.out(
      format === 'name' ? nameLines(NAME_PREFIX[r], items) : TABLES[r](items, new Date(), format === 'wide').trimEnd(),
    );
  } else if (!names.length) o.err(namespace ? `No resources found in ${namespace} namespace.` : 'No resources found');
  return missing ? 1 : 0;
}
