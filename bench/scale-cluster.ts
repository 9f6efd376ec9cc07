/**
 * The cluster side of bench/controller-scale.ts: what is in the API server
 * before the controller starts (a node, NADs, VMIs of four kinds), the
 * kubelet's, Multus's and the node agent's part afterwards (a pod on a node,
 * Running, network-status and the launcher's report, as
 * test/integration/kube/controller.test.ts plays it), and the API requests
 * named by verb and resource. Plain fetch: the bench's own requests should
 * cost its process little.
 */
import type { RequestRecord } from '../harness/kube/api-server.ts';
import { linkNamesFor } from '../launcher/names.ts';
import type { NetworkSpec } from '../launcher/spec.ts';
import { LAUNCHER_STATUS_ANNOTATION, VMI_LABEL } from '../controller/render/pod.ts';
import { NETWORK_STATUS_ANNOTATION } from '../controller/status/pod.ts';
import { nowMs, type WatchedObject } from './kube-watch.ts';

type Obj = Record<string, any>;

export const NAMESPACE = 'default';
export const NODE = 'bench-node-1';
export const NADS = 8;
export const KINDS = ['masquerade', 'bridge', 'masquerade + NAD', 'bridge + NAD'] as const;

const VMI_PATH = `/apis/virtnet.io/v1alpha1/namespaces/${NAMESPACE}/virtualmachineinstances`;
const NAD_PATH = `/apis/k8s.cni.cncf.io/v1/namespaces/${NAMESPACE}/network-attachment-definitions`;
const POD_PATH = `/api/v1/namespaces/${NAMESPACE}/pods`;

export const vmiName = (i: number) => `vm-${String(i).padStart(5, '0')}`;

interface BenchInterface {
  name: string;
  masquerade?: object;
  bridge?: object;
  ports?: Array<{ port: number }>;
}
interface BenchVmiSpec {
  interfaces: BenchInterface[];
  networks: NetworkSpec[];
}

export const vmiIndex = (name: string): number => Number(name.slice('vm-'.length));

/** VMI i's NICs: masquerade or bridge on the pod network, every other pair with a secondary L2 network from a NAD. */
function vmiSpec(i: number): BenchVmiSpec {
  const kind = KINDS[i % KINDS.length]!;
  const masquerade = kind.startsWith('masquerade');
  const interfaces: BenchInterface[] = [
    masquerade ? { name: 'default', masquerade: {}, ports: [{ port: 80 }] } : { name: 'default', bridge: {} },
  ];
  const networks: NetworkSpec[] = [{ name: 'default', pod: {} }];
  if (kind.endsWith('NAD')) {
    interfaces.push({ name: 'l2', bridge: {} });
    networks.push({ name: 'l2', multus: { networkName: `l2-${i % NADS}` } });
  }
  return { interfaces, networks };
}

function vmiBody(i: number): Obj {
  const { interfaces, networks } = vmiSpec(i);
  return {
    apiVersion: 'virtnet.io/v1alpha1',
    kind: 'VirtualMachineInstance',
    metadata: { name: vmiName(i) },
    spec: { domain: { resources: { requests: { memory: '256Mi' } }, devices: { interfaces } }, networks },
  };
}

function nadBody(k: number): Obj {
  const config = { cniVersion: '1.1.0', name: `l2-${k}`, type: 'virtnet-bridge', bridge: `vnb-l2-${k}` };
  return {
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name: `l2-${k}` },
    spec: { config: JSON.stringify(config) },
  };
}

const nodeBody = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: NODE },
  spec: { podCIDR: '10.244.0.0/16', podCIDRs: ['10.244.0.0/16'] },
};

async function send(base: string, method: 'POST' | 'PUT', path: string, body: Obj): Promise<Obj> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Obj;
}

/** Runs `fn` over the items, at most `width` at a time. */
export async function inPool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
}

/** The node, the NADs and `n` VMIs, as they are before the controller starts. */
export async function seed(base: string, n: number): Promise<void> {
  await send(base, 'POST', '/api/v1/nodes', nodeBody);
  await inPool(
    Array.from({ length: NADS }, (_, k) => k),
    4,
    async (k) => void (await send(base, 'POST', NAD_PATH, nadBody(k))),
  );
  await inPool(
    Array.from({ length: n }, (_, i) => i),
    16,
    async (i) => void (await send(base, 'POST', VMI_PATH, vmiBody(i))),
  );
}

// 10.244.0.2 onwards, one per VMI, inside the node's /16.
const podIp = (index: number) => `10.244.${((index + 2) >> 8) & 0xff}.${(index + 2) & 0xff}`;
const macOf = (index: number, nic: number) =>
  [
    '02',
    '00',
    ...[(index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff, nic].map((b) => b.toString(16).padStart(2, '0')),
  ].join(':');

/** The node agent's copy of VMI i's launcher report: every NIC wired, the pod network's leased. */
function launcherReport(index: number): string {
  const { interfaces, networks } = vmiSpec(index);
  const nics = interfaces.map((iface, k) => {
    const net = networks.find((x) => x.name === iface.name)!;
    const links = linkNamesFor(net);
    const onPod = Boolean(net.pod);
    const masquerade = Boolean(iface.masquerade);
    return {
      name: iface.name,
      binding: masquerade ? 'masquerade' : 'bridge',
      podInterface: links.podIf,
      bridge: links.bridge,
      tap: links.tap,
      mac: macOf(index, k),
      mtu: 1500,
      ips: onPod ? [masquerade ? '10.0.2.2/24' : `${podIp(index)}/16`] : [],
      dhcp: onPod,
      leased4: onPod,
      leased6: false,
    };
  });
  return JSON.stringify({ phase: 'Running', nics, steps: [{ name: 'launcher network', ms: 12 }] });
}

/**
 * Multus's network-status for VMI i: the pod network on eth0, a NAD's attachment on its hashed interface, no IP on L2.
 */
function networkStatus(index: number): string {
  return JSON.stringify(
    vmiSpec(index).networks.map((net) =>
      net.pod
        ? { name: 'virtnet', interface: 'eth0', ips: [podIp(index)], default: true, dns: {} }
        : { name: `${NAMESPACE}/${net.multus!.networkName}`, interface: linkNamesFor(net).podIf, dns: {} },
    ),
  );
}

/**
 * The node's part for one launcher pod: bound to the node with the
 * annotations written (one update), then Running (one status update).
 * Answers when the status write was answered.
 */
export async function runPod(base: string, pod: WatchedObject, index: number): Promise<number> {
  const bound: Obj = structuredClone(pod);
  bound.spec.nodeName = NODE;
  bound.metadata.annotations = {
    ...bound.metadata.annotations,
    [NETWORK_STATUS_ANNOTATION]: networkStatus(index),
    [LAUNCHER_STATUS_ANNOTATION]: launcherReport(index),
  };
  const updated = await send(base, 'PUT', `${POD_PATH}/${pod.metadata.name}`, bound);
  updated.status = { ...updated.status, phase: 'Running', podIP: podIp(index), podIPs: [{ ip: podIp(index) }] };
  await send(base, 'PUT', `${POD_PATH}/${pod.metadata.name}/status`, updated);
  return nowMs();
}

export const vmiOfPod = (pod: WatchedObject): string => pod.metadata.labels?.[VMI_LABEL] ?? '';

/** "LIST pods", "WATCH virtualmachineinstances", "PUT virtualmachineinstances/status", "POST events". */
export function requestKind(r: RequestRecord): string {
  const watch = /(^|&)watch=(true|1)(&|$)/u.test(r.query);
  const parts = r.path.split('/').filter(Boolean);
  const at = parts.indexOf('namespaces');
  const rest = at >= 0 && parts.length > at + 2 ? parts.slice(at + 2) : parts.slice(parts[0] === 'api' ? 2 : 3);
  const verb = watch ? 'WATCH' : r.method === 'GET' ? (rest.length === 1 ? 'LIST' : 'GET') : r.method;
  return `${verb} ${rest[0] ?? r.path}${rest[2] ? `/${rest[2]}` : ''}`;
}

/** The bench's own requests after the controller started: the fake node's pod writes. */
export const isBenchRequest = (kind: string): boolean => kind === 'PUT pods' || kind === 'PUT pods/status';
