/**
 * The commands of `virtnet` about one VMI and teardown: describe, topology,
 * console, down, delete and gc. Each takes parsed arguments and an Output,
 * and returns an exit code (0 ok, 1 failed, as kubectl).
 */
import { writeFileSync } from 'node:fs';
import { interactive } from '../../lib/exec.ts';
import { readStatus } from '../../launcher/status.ts';
import type { NodeRuntime } from '../node/runtime.ts';
import type { Output } from '../view/command.ts';
import { describeVmi } from '../view/describe.ts';
import { render, type VmiView } from '../view/table.ts';
import { topologySvg, topologyText } from '../view/topology.ts';
import { kindOf, unknownKind } from './get.ts';
import type { ObjectFormat } from './program.ts';

function findVmi(rt: NodeRuntime, namespace: string, name: string, o: Output): VmiView | undefined {
  const vmi = rt.get(namespace, name) as VmiView | undefined;
  if (!vmi)
    o.err(`Error from server (NotFound): virtualmachineinstances "${name}" not found in namespace "${namespace}"`);
  return vmi;
}

export function describe(rt: NodeRuntime, name: string, namespace: string, format: ObjectFormat, o: Output): number {
  const vmi = findVmi(rt, namespace, name, o);
  if (!vmi) return 1;
  o.out(format === 'table' ? describeVmi(vmi, new Date()) : render(vmi, format));
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
  o.out(topologyText(vmi));
  if (svgFile) {
    writeFileSync(svgFile, topologySvg(vmi));
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
        `${t.namespace}/${t.name}: a CNI DEL failed; kept for another try ` +
          '(`virtnet gc` retries, `virtnet down --force` drops it)',
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

/**
 * `virtnet delete vmi|vm|nad NAME…`: a VM takes its VMI with it; a NAD goes
 * even while VMs use it (their attachments are cached with their config, so
 * they keep running and are torn down cleanly; a new VMI that names it is
 * refused at admission), as on a cluster.
 */
export async function deleteObjects(
  rt: NodeRuntime,
  kindWord: string,
  names: string[],
  namespace: string,
  o: Output,
): Promise<number> {
  const kind = kindOf(kindWord);
  if (!kind) return unknownKind(kindWord, o);
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
