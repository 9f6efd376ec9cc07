/**
 * The read and teardown commands of `virtnet`: get, describe, topology,
 * console, down, gc and validate. Each takes parsed arguments and an
 * Output, and returns an exit code (0 ok, 1 failed, as kubectl).
 */
import { writeFileSync } from 'node:fs';
import { interactive } from '../../lib/exec.ts';
import { formatProblems, validateManifests, type Problem } from '../api/manifests.ts';
import { chooseBoot } from '../node/boot.ts';
import { vmiForVm } from '../render/vmi.ts';
import { readManifestFiles } from '../view/sources.ts';
import { readStatus } from '../../launcher/status.ts';
import type { NodeRuntime } from '../node/runtime.ts';
import { describeVmi } from '../view/describe.ts';
import { listObject, render, vmiTable, type VmiView } from '../view/table.ts';
import { topologySvg, topologyText } from '../view/topology.ts';
import type { Output } from './up.ts';
import { isPod, podAttachmentsOf } from './pods.ts';

export type Format = 'table' | 'json' | 'yaml';

function findVmi(rt: NodeRuntime, namespace: string, name: string, o: Output): Record<string, any> | undefined {
  const vmi = rt.get(namespace, name);
  if (!vmi)
    o.err(`Error from server (NotFound): virtualmachineinstances "${name}" not found in namespace "${namespace}"`);
  return vmi;
}

const KINDS: Record<string, 'vmis' | 'vms' | 'nads'> = {
  vmi: 'vmis',
  vmis: 'vmis',
  virtualmachineinstance: 'vmis',
  virtualmachineinstances: 'vmis',
  vm: 'vms',
  vms: 'vms',
  virtualmachine: 'vms',
  virtualmachines: 'vms',
  nad: 'nads',
  nads: 'nads',
  'network-attachment-definitions': 'nads',
  networkattachmentdefinitions: 'nads',
  'net-attach-def': 'nads',
};

export function get(
  rt: NodeRuntime,
  kindArg: string | undefined,
  names: string[],
  namespace: string | undefined,
  format: Format,
  o: Output,
): number {
  const kind = KINDS[(kindArg ?? '').toLowerCase()];
  if (!kind) {
    o.err(`error: the server doesn't have a resource type "${kindArg ?? ''}" (use vmis, vms or nads)`);
    return 1;
  }
  let items: Array<Record<string, any>> = kind === 'vmis' ? rt.list() : rt.store.listObjects<Record<string, any>>(kind);
  if (namespace) items = items.filter((i) => (i.metadata.namespace ?? 'default') === namespace);
  if (names.length) {
    const missing = names.filter((n) => !items.some((i) => i.metadata.name === n));
    for (const n of missing) o.err(`Error from server (NotFound): ${kind} "${n}" not found`);
    items = items.filter((i) => names.includes(i.metadata.name));
    if (missing.length) return 1;
  }
  if (format !== 'table') {
    o.out(render(names.length === 1 && items.length === 1 ? items[0] : listObject(items), format));
  } else if (kind === 'vmis') {
    o.out(items.length ? vmiTable(items as VmiView[], new Date()) : 'No resources found');
  } else {
    o.out(
      items.length
        ? items.map((i) => `${i.metadata.namespace ?? 'default'}/${i.metadata.name}`).join('\n')
        : 'No resources found',
    );
  }
  return 0;
}

export function describe(rt: NodeRuntime, name: string, namespace: string, format: Format, o: Output): number {
  const vmi = findVmi(rt, namespace, name, o);
  if (!vmi) return 1;
  o.out(format === 'table' ? describeVmi(vmi as VmiView, new Date()) : render(vmi, format));
  return 0;
}

export function topology(
  rt: NodeRuntime,
  name: string,
  namespace: string,
  svgFile: string | undefined,
  o: Output,
): number {
  const vmi = findVmi(rt, namespace, name, o);
  if (!vmi) return 1;
  o.out(topologyText(vmi as VmiView));
  if (svgFile) {
    writeFileSync(svgFile, topologySvg(vmi as VmiView));
    o.out(`wrote ${svgFile}`);
  }
  return 0;
}

/** The guest's serial console through the pod's libvirtd (Ctrl-] detaches, as with virsh console). */
export async function console_(rt: NodeRuntime, name: string, namespace: string, o: Output): Promise<number> {
  const rec = rt.store.readVmi(namespace, name);
  const st = rec && readStatus(rt.store.launcherDir(rec.netns));
  if (!st?.libvirtUri || !st.domain) {
    o.err(`error: ${namespace}/${name} has no running VM`);
    return 1;
  }
  o.err(`Successfully connected to ${name} console. The escape sequence is ^]`);
  return interactive(['virsh', '-q', '-c', st.libvirtUri, 'console', '--force', st.domain]);
}

export async function down(
  rt: NodeRuntime,
  names: string[],
  namespace: string,
  all: boolean,
  o: Output,
  force = false,
): Promise<number> {
  const targets = all ? rt.store.vmiKeys() : names.map((name) => ({ namespace, name }));
  let rc = 0;
  for (const t of targets) {
    const start = performance.now();
    const { found, problems, kept } = await rt.destroy(t.namespace, t.name, force);
    if (!found) {
      o.err(
        `Error from server (NotFound): virtualmachineinstances "${t.name}" not found in namespace "${t.namespace}"`,
      );
      rc = 1;
      continue;
    }
    for (const p of problems) o.err(`${t.namespace}/${t.name}: warning: ${p}`);
    if (kept) {
      // A failed CNI DEL may hold an IP: the record stays so that nothing is leaked silently.
      o.err(
        `${t.namespace}/${t.name}: a CNI DEL failed; kept for another try (\`virtnet gc\` retries, \`virtnet down --force\` drops it)`,
      );
      rc = 1;
      continue;
    }
    o.out(`virtualmachineinstance ${t.namespace}/${t.name} deleted (${(performance.now() - start).toFixed(0)} ms)`);
  }
  return rc;
}

export async function gc(rt: NodeRuntime, o: Output): Promise<number> {
  const lines = [...(await rt.gc((l) => o.err(l))), ...(await rt.gcImages((l) => o.err(l)))];
  const removed = lines.filter((r) => !r.startsWith('kept'));
  for (const r of lines) o.out(r.startsWith('kept') ? r : `removed ${r}`);
  o.out(removed.length ? `gc: removed ${removed.length}` : 'gc: nothing to remove');
  return 0;
}

export function validate(rt: NodeRuntime, files: string[], format: Format, o: Output): number {
  const { manifests, problems } = readManifestFiles(files);
  const result = validateManifests(
    manifests.filter((m) => !isPod(m)),
    rt.validationContext(),
  );
  problems.push(...result.problems, ...bootProblems(result.objects));
  const nads = result.objects.flatMap((x) => (x.kind === 'NetworkAttachmentDefinition' ? [x.object] : []));
  const pods = manifests.filter(isPod).map((m) => podAttachmentsOf(rt, m, nads));
  problems.push(...pods.flatMap((p) => p.problems));
  if (format !== 'table') {
    const objects = [...result.objects.map((x) => x.object), ...pods.flatMap((p) => p.pod ?? [])];
    o.out(
      render(
        problems.length ? { valid: false, problems } : objects.length === 1 ? objects[0] : listObject(objects),
        format,
      ),
    );
  } else if (problems.length) o.err(formatProblems(problems));
  else {
    o.out(
      `valid: ${[...result.objects, ...pods.flatMap((p) => (p.pod ? [{ kind: 'Pod', object: p.pod }] : []))].map((x) => `${x.kind}/${(x.object as { metadata: { name: string } }).metadata.name}`).join(', ')}`,
    );
    for (const p of pods)
      for (const a of p.pod?.attachments ?? [])
        o.out(
          `  Pod/${p.pod!.metadata.name} ${a.interface}: ${a.network} (${a.plugins.join(', ')})${a.default ? ' default' : ''}`,
        );
  }
  return problems.length ? 1 : 0;
}

/** What `up` would refuse of each VMI's boot on this node (boot.ts): files, images' names, firmware, cloud-init forms. */
function bootProblems(objects: ReadonlyArray<{ kind: string; object: unknown; source?: string }>): Problem[] {
  return objects.flatMap(({ kind, object, source }) => {
    if (kind !== 'VirtualMachineInstance' && kind !== 'VirtualMachine') return [];
    const vmi = kind === 'VirtualMachine' ? vmiForVm(object as Record<string, any>) : (object as Record<string, any>);
    const base = kind === 'VirtualMachine' ? 'spec.template.spec' : 'spec';
    return chooseBoot(vmi.spec, base, { vmiName: vmi.metadata.name }).problems.map((p) => ({
      ...p,
      ...(source && { source }),
    }));
  });
}

/**
 * `virtnet delete vmi|vm|nad NAME…`: a VM takes its VMI with it; a NAD goes
 * even while VMs use it (their attachments are cached with their config, so
 * they keep running and are torn down cleanly; a new VMI that names it is
 * refused at admission), as on a cluster.
 */
export async function deleteObjects(
  rt: NodeRuntime,
  kindArg: string | undefined,
  names: string[],
  namespace: string,
  o: Output,
): Promise<number> {
  const kind = KINDS[(kindArg ?? '').toLowerCase()];
  if (!kind || !names.length) {
    o.err('error: delete vmi|vm|nad NAME...');
    return 2;
  }
  let rc = 0;
  for (const name of names) {
    if (kind === 'vmis') {
      rc = Math.max(rc, await down(rt, [name], namespace, false, o));
      continue;
    }
    if (!rt.store.readObject(kind, namespace, name)) {
      o.err(`Error from server (NotFound): ${kind} "${name}" not found in namespace "${namespace}"`);
      rc = 1;
      continue;
    }
    if (kind === 'vms' && rt.store.readVmi(namespace, name)) await down(rt, [name], namespace, false, o);
    if (kind === 'nads') {
      const users = rt.store.listVmis().filter((r) => r.attachments.some((a) => a.name === `${namespace}/${name}`));
      for (const u of users)
        o.err(`warning: ${u.object.metadata.namespace}/${u.object.metadata.name} uses it and keeps running`);
    }
    rt.store.removeObject(kind, namespace, name);
    o.out(`${kind === 'vms' ? 'virtualmachine' : 'networkattachmentdefinition'} ${namespace}/${name} deleted`);
  }
  return rc;
}
