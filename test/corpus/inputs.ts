/**
 * The valid documents that corpus cases break one thing in, and the case
 * shapes of each data file. Every base is checked to pass on its own
 * (parsers.test.ts), so that a case fails only for what it changes.
 */
import { patched, type CaseBase, type Doc } from './corpus.ts';

/** A valid ADD; `netns` and `path` are filled in where a real namespace exists. */
export function baseEnv(netns = '/var/run/netns/virtnet-corpus-unit', path = '/usr/lib/cni'): Record<string, string> {
  return {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'corpus-ctr-0001',
    CNI_NETNS: netns,
    CNI_IFNAME: 'eth0',
    CNI_PATH: path,
  };
}

/** A valid virtnet-bridge config with host-local IPAM; state under `dir`. */
export function baseConf(dir = '/tmp/virtnet-corpus-unit'): Record<string, unknown> {
  return {
    cniVersion: '1.1.0',
    name: 'corpusnet',
    type: 'virtnet-bridge',
    bridge: 'vtestcorpus0',
    isGateway: true,
    dataDir: `${dir}/virtnet`,
    ipam: { type: 'host-local', subnet: '10.98.0.0/24', dataDir: `${dir}/ipam` },
  };
}

export interface EnvCase extends CaseBase {
  env: Record<string, string | null>;
  stage?: 'plugin';
}
export interface ConfCase extends CaseBase {
  conf?: Record<string, unknown>;
  unset?: string[];
  stdin?: string;
  stage?: 'plugin';
}

export function caseEnv(c: EnvCase, base: Record<string, string>): Record<string, string> {
  const env = { ...base };
  for (const [k, v] of Object.entries(c.env)) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function caseStdin(c: ConfCase, base: Record<string, unknown>): string {
  if (c.stdin !== undefined) return c.stdin;
  const conf: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(c.conf ?? {}))
    Object.defineProperty(conf, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const k of c.unset ?? []) delete conf[k];
  return JSON.stringify(conf);
}

export const BASE_NAD: Doc = {
  apiVersion: 'k8s.cni.cncf.io/v1',
  kind: 'NetworkAttachmentDefinition',
  metadata: { name: 'corpus-net', namespace: 'default', annotations: {} },
  spec: {
    config: JSON.stringify({
      cniVersion: '1.0.0',
      name: 'corpus-net',
      type: 'virtnet-bridge',
      bridge: 'vtestcorpus1',
      ipam: { type: 'host-local', subnet: '10.97.0.0/24' },
    }),
  },
};

export interface NadCase extends CaseBase {
  set?: Record<string, unknown>;
  unset?: string[];
  config?: string | Record<string, unknown>;
  via?: Array<'resolve' | 'validate' | 'plugin'>;
}

export function caseNad(c: NadCase): Doc {
  const nad = patched(BASE_NAD, c.set, c.unset);
  if (c.config !== undefined) nad.spec.config = typeof c.config === 'string' ? c.config : JSON.stringify(c.config);
  return nad;
}

export function nadVia(c: NadCase): Array<'resolve' | 'validate' | 'plugin'> {
  return c.via ?? ['resolve', 'validate'];
}

export interface AnnotationCase extends CaseBase {
  value: string;
}

/** A VMI that `virtnet validate` accepts and `virtnet up` would run: masquerade on the pod network, one port. */
export const BASE_VMI: Doc = {
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: { name: 'corpus-vm', namespace: 'default' },
  spec: {
    hostname: 'corpus-vm',
    domain: {
      resources: { requests: { memory: '128Mi' } },
      devices: { interfaces: [{ name: 'default', masquerade: {}, ports: [{ name: 'http', port: 80 }] }] },
    },
    networks: [{ name: 'default', pod: {} }],
  },
};

export const BASE_VM: Doc = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name: 'corpus-vm', namespace: 'default' },
  spec: {
    runStrategy: 'Always',
    template: { metadata: { labels: { app: 'corpus' } }, spec: structuredClone(BASE_VMI.spec) },
  },
};

export interface VmiCase extends CaseBase {
  base?: 'vm';
  set?: Record<string, unknown>;
  unset?: string[];
}

export function caseVmi(c: VmiCase): Doc {
  return patched(c.base === 'vm' ? BASE_VM : BASE_VMI, c.set, c.unset);
}

export const BASE_REVIEW: Doc = {
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: '0f0e0d0c-corpus-0000-0000-000000000001',
    kind: { group: 'virtnet.io', version: 'v1alpha1', kind: 'VirtualMachineInstance' },
    operation: 'CREATE',
    object: BASE_VMI,
  },
};

export interface ReviewCase extends CaseBase {
  set?: Record<string, unknown>;
  unset?: string[];
}

export interface TextCase extends CaseBase {
  text: string;
  absent?: string;
}

const NIC: Doc = {
  name: 'default',
  binding: 'masquerade',
  podInterface: 'eth0',
  bridge: 'k6t-eth0',
  tap: 'tap0',
  mac: '02:00:00:00:00:01',
  mtu: 1500,
  ips: ['10.0.2.2/24'],
  dhcp: true,
  leased4: true,
  leased6: false,
};

/** The annotation's compact report (controller/agent/launcher-report.ts). */
export const BASE_REPORT: Doc = { phase: 'Running', accel: 'tcg', nics: [NIC], steps: [{ name: 'network', ms: 20 }] };

/** status.json as the launcher writes it. */
export const BASE_STATUS: Doc = { ...BASE_REPORT, pid: 4242, warnings: [], pids: { dnsmasq: 4243 }, teardownMs: 5 };

export interface StatusCase extends CaseBase {
  text?: string;
  report?: Doc;
  status?: Doc;
  file?: boolean;
}

export function caseStatusText(c: StatusCase): string {
  if (c.text !== undefined) return c.text;
  return JSON.stringify(c.file ? { ...BASE_STATUS, ...c.status } : { ...BASE_REPORT, ...c.report });
}
