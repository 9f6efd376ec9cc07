/**
 * `virtnet validate FILE…`: what `up` would refuse, without applying
 * anything: each problem with its field path, or the normalised objects
 * (Pods: the attachments Multus would make from their annotations). With -n
 * the objects are placed as `kubectl apply -n` places them (view/namespace.ts).
 */
import { formatProblems, validateManifests, type ApiObject, type Problem } from '../api/manifests.ts';
import type { VirtualMachineInstance } from '../api/schema.ts';
import { chooseBoot } from '../node/boot.ts';
import type { NodeRuntime } from '../node/runtime.ts';
import { vmiForVm } from '../render/vmi.ts';
import type { Output } from '../view/command.ts';
import { inNamespace } from '../view/namespace.ts';
import { readManifestFiles } from '../view/sources.ts';
import { listObject, render } from '../view/table.ts';
import { isPod, podAttachmentsOf, type PodAttachments } from './pods.ts';
import type { ObjectFormat } from './program.ts';

/** The VMI a VMI or a VM manifest makes, and where its spec sits in the source document. */
export function vmiOf(a: ApiObject): { vmi: VirtualMachineInstance; base: string } | undefined {
  if (a.kind === 'VirtualMachineInstance') return { vmi: a.object, base: 'spec' };
  if (a.kind === 'VirtualMachine')
    return { vmi: vmiForVm(a.object) as VirtualMachineInstance, base: 'spec.template.spec' };
  return undefined;
}

/** What `up` would refuse of each VMI's boot on this node (boot.ts): files, image names, firmware, cloud-init. */
function bootProblems(objects: ReadonlyArray<ApiObject & { source?: string }>): Problem[] {
  return objects.flatMap((a) => {
    const made = vmiOf(a);
    if (!made) return [];
    const { vmi, base } = made;
    return chooseBoot(vmi.spec, base, { vmiName: vmi.metadata.name }).problems.map((p) => ({
      ...p,
      ...(a.source && { source: a.source }),
    }));
  });
}

interface Checked {
  objects: unknown[];
  /** "Kind/name" of each valid object, in order. */
  names: string[];
  pods: PodAttachments[];
  problems: Problem[];
}

function check(rt: NodeRuntime, files: string[], namespace: string | undefined): Checked {
  const read = readManifestFiles(files);
  const placed = inNamespace(read.manifests, namespace);
  const problems = [...read.problems, ...placed.problems];
  const manifests = placed.manifests;
  const result = validateManifests(
    manifests.filter((m) => !isPod(m)),
    rt.validationContext(),
  );
  problems.push(...result.problems, ...bootProblems(result.objects));
  const nads = result.objects.flatMap((x) => (x.kind === 'NetworkAttachmentDefinition' ? [x.object] : []));
  const attached = manifests.filter(isPod).map((m) => podAttachmentsOf(rt, m, nads));
  problems.push(...attached.flatMap((p) => p.problems));
  const pods = attached.flatMap((p) => (p.pod ? [p.pod] : []));
  return {
    objects: [...result.objects.map((x) => x.object), ...pods],
    names: [...result.objects, ...pods.map((pod) => ({ kind: 'Pod', object: pod }))].map(
      (x) => `${x.kind}/${x.object.metadata.name}`,
    ),
    pods,
    problems,
  };
}

function defaultMark(a: { default: boolean }): string {
  return a.default ? ' default' : '';
}

function printText(c: Checked, o: Output): void {
  if (c.problems.length) {
    o.err(formatProblems(c.problems));
    return;
  }
  o.out(`valid: ${c.names.join(', ')}`);
  for (const pod of c.pods)
    for (const a of pod.attachments)
      o.out(`  Pod/${pod.metadata.name} ${a.interface}: ${a.network} (${a.plugins.join(', ')})${defaultMark(a)}`);
}

export function validate(
  rt: NodeRuntime,
  files: string[],
  namespace: string | undefined,
  format: ObjectFormat,
  o: Output,
): number {
  const c = check(rt, files, namespace);
  if (format === 'table') printText(c, o);
  else if (c.problems.length) o.out(render({ valid: false, problems: c.problems }, format));
  else o.out(render(c.objects.length === 1 ? c.objects[0] : listObject(c.objects), format));
  return c.problems.length ? 1 : 0;
}
