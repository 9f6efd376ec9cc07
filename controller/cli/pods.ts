/**
 * `virtnet validate` for Pod manifests: what Multus would attach to the pod,
 * from its k8s.v1.cni.cncf.io/networks and v1.multus-cni.io/default-network
 * annotations and the node's NetworkAttachmentDefinitions (plus those in the
 * same batch), as normalised attachments, or problems with field paths.
 */
import { AnnotationError } from '../../netattach/annotation.ts';
import type { NetworkAttachmentDefinition } from '../../netattach/nad.ts';
import { AttachError } from '../../netattach/pod.ts';
import type { Manifest, Problem } from '../api/manifests.ts';
import { planAttachments } from '../node/sandbox.ts';
import type { NodeRuntime } from '../node/runtime.ts';

export interface PodAttachments {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: { name: string; namespace: string };
  attachments: Array<{
    network: string;
    interface: string;
    default: boolean;
    cniVersion: string;
    plugins: string[];
    capabilityArgs?: Record<string, unknown>;
    cniArgs?: Record<string, unknown>;
  }>;
}

/** What a Pod manifest may hold that this reads; anything else is left for validation to judge. */
interface PodManifest {
  kind?: unknown;
  apiVersion?: unknown;
  metadata?: { name?: unknown; namespace?: unknown; annotations?: unknown };
}

/**
 * netattach names annotation fields by the annotation's key ("k8s.v1.cni.cncf.io/networks[0].mac");
 * a Pod's path puts them under metadata.annotations.
 */
function annotationPath(field: string): string {
  if (field.startsWith('metadata.')) return field;
  const [, key, rest] = /^([^[]+)(.*)$/u.exec(field) ?? [field, field, ''];
  return `metadata.annotations["${key}"]${rest}`;
}

export function isPod(m: Manifest): boolean {
  const o = m.object as PodManifest | null | undefined;
  return o?.kind === 'Pod' && o.apiVersion === 'v1';
}

export function podAttachmentsOf(
  rt: NodeRuntime,
  m: Manifest,
  batchNads: NetworkAttachmentDefinition[],
): { pod?: PodAttachments; problems: Problem[] } {
  const pod = m.object as PodManifest;
  const name = pod.metadata?.name;
  const namespace = typeof pod.metadata?.namespace === 'string' ? pod.metadata.namespace : 'default';
  if (typeof name !== 'string' || !name)
    return { problems: [{ source: m.source, path: 'metadata.name', rule: 'is required' }] };
  const annotations = (pod.metadata?.annotations ?? {}) as Record<string, string>;
  try {
    const requests = planAttachments(rt.cfg, rt.store, namespace, annotations, (ns, n) =>
      batchNads.find((d) => d.metadata.name === n && (d.metadata.namespace ?? 'default') === ns),
    );
    return {
      problems: [],
      pod: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace },
        attachments: requests.map((r) => ({
          network: r.name,
          interface: r.ifname,
          default: r.isDefault,
          cniVersion: r.list.cniVersion,
          plugins: r.list.plugins.map((p) => p.type),
          ...(r.capabilityArgs && { capabilityArgs: r.capabilityArgs }),
          ...(r.argsCni && { cniArgs: r.argsCni }),
        })),
      },
    };
  } catch (err) {
    if (err instanceof AttachError || err instanceof AnnotationError) {
      return { problems: [{ source: m.source, path: annotationPath(err.field), rule: err.rule }] };
    }
    return { problems: [{ source: m.source, path: 'metadata.annotations', rule: (err as Error).message }] };
  }
}
