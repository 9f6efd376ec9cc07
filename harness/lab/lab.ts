/**
 * A local multi-node lab (a test harness, not a product cluster): the
 * in-process API server, N simulated nodes (network namespaces on a shared
 * underlay, each with its own state directory, node agent and kubelet role
 * inside its namespace), one controller, the webhook (called by the API
 * server as a validating webhook), and a scheduler for launcher pods.
 *
 * It plays the cluster's own parts too: it creates the Node objects with
 * their InternalIP, hostname label and pod subnets, as kubelet
 * registration and kube-controller-manager's node IPAM (--allocate-node-cidrs)
 * would; node i gets 10.244.i.0/24.
 *
 * lab.json in its directory says what it made; stop() removes all of it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { startKubeTestServer, type KubeTestServer } from '../kube/api-server.ts';
import { freePort } from '../kube/testing.ts';
import { KubeApi } from '../../controller/kube/kube.ts';
import { webhookValidator } from './admission.ts';
import { startRole, stopRole, waitForLog, type Role } from './roles.ts';
import { LabScheduler } from './scheduler.ts';
import { buildUnderlay, removeUnderlay, type Underlay } from './underlay.ts';

export interface LabOptions {
  nodes: number;
  /** L2 segments the nodes are spread over (1: all share one; more: a router joins them, and the overlay is needed). */
  segments?: number;
  dir?: string;
  /** Prefix of every namespace and link the lab makes (at most 5 characters: link names are 15 at most). */
  prefix?: string;
  /** Extra node-agent flags, e.g. ['--backend', 'host-gw']. */
  nodeAgentArgs?: string[];
  /** virtnet as the nodes' default network (the node agent's --default-network); default true. */
  defaultNetwork?: boolean;
  log?: Logger;
}

export interface LabNode {
  name: string;
  netns: string;
  underlayIP: string;
  segment: number;
  podCIDRs: string[];
  stateDir: string;
  roles: Role[];
}

export interface Lab {
  dir: string;
  json: string;
  kubeconfig: string;
  server: KubeTestServer;
  api: KubeApi;
  nodes: LabNode[];
  /** The VMIs' pod network service CIDR the controller and webhook are given. */
  serviceCIDR: string;
  stop(): Promise<string[]>;
}

export const LAB_SERVICE_CIDR = '10.96.0.0/12';
/** Every lab node's pod subnet lies in it (node i: 10.244.i.0/24). */
export const LAB_CLUSTER_CIDR = '10.244.0.0/16';
const CLI = resolve('dist/cli/virtnet');

/** The Node object a kubelet registers, with the pod subnets node IPAM gives it. */
function nodeObject(n: LabNode): k8s.V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'virtnet.io/lab-segment': String(n.segment),
      },
    },
    spec: { podCIDR: n.podCIDRs[0]!, podCIDRs: n.podCIDRs },
  };
}

function nodeStatus(n: LabNode): k8s.V1NodeStatus {
  return {
    addresses: [
      { type: 'InternalIP', address: n.underlayIP },
      { type: 'Hostname', address: n.name },
    ],
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'KubeletReady',
        message: 'virtnet lab node',
        lastHeartbeatTime: new Date(),
        lastTransitionTime: new Date(),
      },
    ],
    nodeInfo: {
      kubeletVersion: 'v1.31.0-virtnet-lab',
      architecture: 'amd64',
      operatingSystem: 'linux',
      osImage: 'virtnet lab',
      kernelVersion: '',
      containerRuntimeVersion: 'virtnet://lab',
      kubeProxyVersion: '',
      machineID: '',
      systemUUID: '',
      bootID: '',
    },
  } as k8s.V1NodeStatus;
}

async function registerNodes(server: KubeTestServer, nodes: LabNode[]): Promise<void> {
  const core = server.kubeConfig().makeApiClient(k8s.CoreV1Api);
  for (const n of nodes) {
    await core.createNode({ body: nodeObject(n) });
    const current = await core.readNode({ name: n.name });
    await core.replaceNodeStatus({ name: n.name, body: { ...current, status: nodeStatus(n) } });
  }
}

class LabBuilder {
  readonly roles: Role[] = [];
  underlay: Underlay | undefined;
  server: KubeTestServer | undefined;
  scheduler: LabScheduler | undefined;
  nodes: LabNode[] = [];

  constructor(
    readonly o: LabOptions,
    readonly dir: string,
    readonly log: Logger,
  ) {}

  async build(): Promise<Lab> {
    const prefix = this.o.prefix ?? 'vnl';
    this.underlay = buildUnderlay(prefix, this.o.nodes, this.o.segments ?? 1);
    this.nodes = this.underlay.nodes.map((u, k) => ({
      name: u.name,
      netns: u.netns,
      underlayIP: u.ip,
      segment: u.segment,
      podCIDRs: [`10.244.${k + 1}.0/24`],
      stateDir: join(this.dir, u.name),
      roles: [],
    }));
    this.server = await startKubeTestServer({ host: this.underlay.hostIp });
    const kubeconfig = this.server.kubeconfigFile(this.dir);
    await registerNodes(this.server, this.nodes);
    await this.startControlPlane(kubeconfig);
    for (const n of this.nodes) await this.startNode(n, kubeconfig);
    const api = new KubeApi(this.server.kubeConfig());
    this.scheduler = new LabScheduler(api, this.log);
    await this.scheduler.start();
    const json = join(this.dir, 'lab.json');
    writeFileSync(json, `${JSON.stringify(this.describe(kubeconfig), null, 2)}\n`);
    return {
      dir: this.dir,
      json,
      kubeconfig,
      server: this.server,
      api,
      nodes: this.nodes,
      serviceCIDR: LAB_SERVICE_CIDR,
      stop: () => this.teardown(),
    };
  }

  private describe(kubeconfig: string) {
    return {
      kubeconfig,
      apiServer: this.server!.url,
      serviceCIDR: LAB_SERVICE_CIDR,
      nodes: this.nodes.map((n) => ({
        name: n.name,
        netns: n.netns,
        underlayIP: n.underlayIP,
        segment: n.segment,
        podCIDRs: n.podCIDRs,
        stateDir: n.stateDir,
        logs: n.roles.map((r) => r.log),
      })),
      logs: this.roles.map((r) => r.log),
    };
  }

  private started(role: Role, node?: LabNode): Role {
    (node ? node.roles : this.roles).push(role);
    return role;
  }

  private async startControlPlane(kubeconfig: string): Promise<void> {
    const port = await freePort();
    const webhook = this.started(
      startRole(
        'webhook',
        ['webhook', '--kubeconfig', kubeconfig, '--webhook-port', String(port), '--service-cidr', LAB_SERVICE_CIDR],
        join(this.dir, 'webhook.log'),
      ),
    );
    await waitForLog(webhook, 'webhook running');
    this.server!.onValidate = webhookValidator(`http://127.0.0.1:${port}`);
    const controller = this.started(
      startRole(
        'controller',
        ['controller', '--kubeconfig', kubeconfig, '--service-cidr', LAB_SERVICE_CIDR, '--image', 'virtnet:lab'],
        join(this.dir, 'controller.log'),
      ),
    );
    await waitForLog(controller, 'controller running');
  }

  private async startNode(n: LabNode, kubeconfig: string): Promise<void> {
    mkdirSync(n.stateDir, { recursive: true });
    const common = ['--node', n.name, '--kubeconfig', kubeconfig];
    const agentArgs = [
      'node-agent',
      ...common,
      '--cni-bin-dir',
      join(n.stateDir, 'bin'),
      '--cni-conf-dir',
      join(n.stateDir, 'net.d'),
      '--cni-data-root',
      n.stateDir,
      '--launcher-state-root',
      join(n.stateDir, 'launcher-pods'),
      // Each node's CNI daemon on a socket of its own: the host's /run/virtnet is one for all the lab's nodes.
      '--cni-socket',
      join(n.stateDir, 'cni-daemon', 'cni.sock'),
      '--cluster-cidr',
      LAB_CLUSTER_CIDR,
      ...(this.o.defaultNetwork === false ? [] : ['--default-network']),
      ...(this.o.nodeAgentArgs ?? []),
    ];
    const agent = this.started(
      startRole(`${n.name} node-agent`, agentArgs, join(n.stateDir, 'node-agent.log'), n.netns),
      n,
    );
    await waitForLog(agent, 'node agent running');
    const kubelet = this.started(
      startRole(
        `${n.name} kubelet`,
        ['kubelet', ...common, '--state-dir', n.stateDir, '--bound-only'],
        join(n.stateDir, 'kubelet.log'),
        n.netns,
      ),
      n,
    );
    await waitForLog(kubelet, 'kubelet running');
  }

  /** Everything goes, in the reverse order it came; each part's failure is reported, none stops the rest. */
  async teardown(): Promise<string[]> {
    const problems: string[] = [];
    const step = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    await step('scheduler', () => this.scheduler?.stop());
    for (const n of this.nodes) {
      const [agent, kubelet] = n.roles;
      if (kubelet) await step(`${n.name} kubelet`, () => stopRole(kubelet));
      // What the kubelet ran (VMs, their namespaces and attachments) goes through the node runtime's own teardown, in
      // the node's namespace.
      await step(`${n.name} down`, () => downAll(n));
      if (agent) await step(`${n.name} node agent`, () => stopRole(agent));
    }
    for (const r of [...this.roles].reverse()) await step(r.name, () => stopRole(r));
    await step('API server', () => this.server?.close());
    if (this.underlay) problems.push(...removeUnderlay(this.underlay));
    return problems;
  }
}

/**
 * `virtnet down --all` in the node's namespace; what it keeps for another try is dropped with --force, and the failure
 * reported.
 */
function downAll(n: LabNode): void {
  const down = (...extra: string[]) =>
    spawnSync(
      'nsenter',
      [
        `--net=/run/netns/${n.netns}`,
        '--',
        process.execPath,
        CLI,
        '--state-dir',
        n.stateDir,
        'down',
        '--all',
        ...extra,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
  const r = down();
  if (r.status === 0) return;
  const forced = down('--force');
  const after =
    forced.status === 0
      ? ' (dropped with --force)'
      : `; --force: exit ${forced.status}: ${forced.stderr.trim().slice(-300)}`;
  throw new Error(`virtnet down --all: exit ${r.status}: ${r.stderr.trim().slice(-500)}${after}`);
}

export async function startLab(o: LabOptions): Promise<Lab> {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 16)
    throw new Error(`lab: --nodes ${o.nodes}: from 1 to 16 nodes`);
  const segments = o.segments ?? 1;
  if (!Number.isInteger(segments) || segments < 1 || segments > Math.min(o.nodes, 8))
    throw new Error(`lab: --segments ${segments}: from 1 to min(nodes, 8)`);
  if (o.prefix !== undefined && !/^[a-z][a-z0-9]{0,4}$/u.test(o.prefix))
    throw new Error(`lab: prefix ${JSON.stringify(o.prefix)}: 1 to 5 lower-case letters and digits, from a letter`);
  const dir = o.dir ? resolve(o.dir) : mkdtempSync(join(tmpdir(), 'virtnet-lab-'));
  mkdirSync(dir, { recursive: true });
  const b = new LabBuilder(o, dir, o.log ?? pino({ level: 'silent' }));
  try {
    return await b.build();
  } catch (err) {
    const problems = await b.teardown();
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}${problems.length ? `\n(cleanup: ${problems.join('; ')})` : ''}`);
  }
}
