/**
 * virtnet's cluster side, one executable (dist/cluster/virtnet-cluster; the
 * `virtnet controller` and `virtnet kubelet` commands run it) with four roles:
 * controller, webhook, kubelet and node-agent. Their flags, help and examples
 * are in roles.ts; this file starts each role and stops it on SIGTERM or SIGINT.
 * Logs are JSON lines on stderr (pino).
 */
import { pino, type Logger } from 'pino';
import { pinoOptions } from '../../lib/log.ts';
import type { Registry } from 'prom-client';
import { act, runProgram, withManners, type Output } from '../view/command.ts';
import { clusterProgram, ROLES, type Role, type RoleFlags } from './roles.ts';
import { nodeConfig } from '../node/config.ts';
import { NodeRuntime } from '../node/runtime.ts';
import { TEST_GUEST_CMDLINE } from '../node/boot.ts';
import { Controller } from '../control/controller.ts';
import { KubeApi, loadKubeConfig } from '../kube/kube.ts';
import { PodRunner } from '../agent/kubelet.ts';
import { DEFAULT_ALLOWED_HOST_PATHS } from '../control/reconcile.ts';
import { serveMetrics } from '../control/metrics.ts';
import { serveWebhook } from '../control/webhook.ts';
import { clusterFacts, parseServiceCidrs, watchNodeSubnets, type NodeSubnets } from '../control/node-subnets.ts';
import { NodeAgent } from '../agent/node-agent.ts';
import { hostLocalRanges } from '../agent/pod-cidrs.ts';
import { BACKENDS, type Backend } from '../agent/node-routes.ts';
import { DEFAULT_POLICY_FILE } from '../../cni/policy.ts';
import { DEFAULT_LIMITS, DEFAULT_SOCKET, startCniDaemon } from '../../cni/daemon/server.ts';
import { LAUNCHER_STATE_ROOT } from '../render/pod.ts';
import { dirname, isAbsolute, join } from 'node:path';
import { DEFAULT_DATA_DIR } from '../../cni/config.ts';
import { fileURLToPath } from 'node:url';

/**
 * The pod network a node agent installs: virtnet-bridge on virtnet0, this
 * node's pod subnets (the agent fills them in), logging for the metrics.
 */
export function podNetworkConfList(podCidrs: readonly string[] = []) {
  return {
    cniVersion: '1.1.0',
    name: 'virtnet',
    plugins: [
      {
        type: 'virtnet-bridge',
        bridge: 'virtnet0',
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: true,
        dataDir: '/var/lib/virtnet/cni',
        logFile: '/var/log/virtnet/cni.log',
        ipam: { type: 'host-local', ranges: hostLocalRanges(podCidrs), dataDir: '/var/lib/virtnet/ipam' },
      },
    ],
  };
}

/** The node policy that lets the pod network's config keep its data and its log where podNetworkConfList puts them. */
export const POD_NETWORK_POLICY = {
  file: DEFAULT_POLICY_FILE,
  policy: { dataRoots: ['/var/lib/virtnet'], logRoot: '/var/log/virtnet' },
};

/**
 * --cni-data-root ROOT: the pod network and its node policy with every path
 * under ROOT instead of /var/lib/virtnet and /var/log/virtnet, for several
 * simulated nodes on one host (harness/lab), each with its own IPAM.
 * The policy also admits the plugin's default data directory, where NADs
 * that name none keep their records.
 */
export function podNetworkUnder(root: string): {
  conflist: ReturnType<typeof podNetworkConfList>;
  policy: typeof POD_NETWORK_POLICY;
} {
  if (!isAbsolute(root)) throw new Error(`--cni-data-root: ${JSON.stringify(root)} is not an absolute path`);
  const moved = (p: string) =>
    p.replace(/^\/var\/lib\/virtnet/u, root).replace(/^\/var\/log\/virtnet/u, join(root, 'log'));
  const conflist = podNetworkConfList();
  const plugin = conflist.plugins[0]!;
  conflist.plugins[0] = {
    ...plugin,
    dataDir: moved(plugin.dataDir),
    logFile: moved(plugin.logFile),
    ipam: { ...plugin.ipam, dataDir: moved(plugin.ipam.dataDir) },
  };
  // The log's tree may not hold plugin state (cni/policy.ts): the roots are the two data directories, not ROOT.
  const policy = { dataRoots: [join(root, 'cni'), join(root, 'ipam'), DEFAULT_DATA_DIR], logRoot: join(root, 'log') };
  return { conflist, policy: { file: join(root, 'cni-policy.json'), policy } };
}

export const DEFAULT_IMAGE = 'ghcr.io/virtnet/virtnet:0.1.0';
const GUEST = '/var/cache/virtnet/guest';

type Stops = Array<() => Promise<unknown>>;

/** A flag a role cannot start without: its absence fails the start (exit 1), naming the flag. */
function required<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') throw new Error(what);
  return value;
}

function serveMetricsOf(stops: Stops, port: number | undefined, registry: Registry, ready: () => boolean) {
  if (port === undefined) return Promise.resolve();
  return serveMetrics(registry, port, ready).then((s) => {
    stops.push(() => new Promise((r) => s.close(r)));
  });
}

async function runController(api: KubeApi, v: RoleFlags, log: Logger, stops: Stops): Promise<void> {
  const serviceCIDRs = parseServiceCidrs(v.serviceCidr);
  const c = new Controller(api, {
    image: v.image ?? DEFAULT_IMAGE,
    serviceCIDRs,
    testGuest: { kernel: `${GUEST}/vmlinuz`, initrd: `${GUEST}/initrd.img`, cmdline: TEST_GUEST_CMDLINE },
    log,
    ...(v.allowedHostPath && { allowedHostPaths: v.allowedHostPath }),
  });
  const nodes = v.webhookPort ? await serveAdmission(api, v, serviceCIDRs, stops) : undefined;
  await serveMetricsOf(stops, v.metricsPort, c.metrics.registry, () => c.synced && (nodes?.synced ?? true));
  await c.start();
  stops.push(() => c.stop());
  log.info('controller running');
}

async function runWebhook(api: KubeApi, v: RoleFlags, log: Logger, stops: Stops): Promise<void> {
  required(v.webhookPort, 'webhook: --webhook-port P is required');
  await serveAdmission(api, v, parseServiceCidrs(v.serviceCidr), stops);
  log.info('webhook running');
}

async function runKubelet(api: KubeApi, v: RoleFlags, log: Logger, stops: Stops): Promise<void> {
  const node = required(v.node, 'kubelet: --node NAME is required');
  // A pod's author is not this node's admin: boot files only from the allowed directories (defect 3).
  const rt = new NodeRuntime(
    nodeConfig({
      ...(v.stateDir && { stateDir: v.stateDir }),
      ...(v.cniNetns && { cniNetns: v.cniNetns }),
      allowedHostPaths: v.allowedHostPath ?? DEFAULT_ALLOWED_HOST_PATHS,
    }),
  );
  const runner = new PodRunner(api, rt, node, log, { boundOnly: v.boundOnly ?? false });
  await runner.start();
  stops.push(() => runner.stop());
  log.info({ node }, 'kubelet running');
}

async function runNodeAgent(api: KubeApi, v: RoleFlags, log: Logger, stops: Stops): Promise<void> {
  const node = required(v.node, "node-agent: --node NAME is required (the downward API's spec.nodeName)");
  const under = v.cniDataRoot ? podNetworkUnder(v.cniDataRoot) : undefined;
  const agent = new NodeAgent(api, {
    node,
    log,
    plugin: join(dirname(fileURLToPath(import.meta.url)), '..', 'cni', 'virtnet-bridge'),
    cniBinDir: v.cniBinDir ?? '/opt/cni/bin',
    cniConfDir: v.cniConfDir ?? '/etc/cni/net.d',
    conflist: under?.conflist ?? podNetworkConfList(),
    defaultNetwork: v.defaultNetwork ?? false,
    podCIDRs: v.podCidr ?? [],
    clusterCIDRs: v.clusterCidr ?? [],
    backend: backendFlag(v.backend),
    syncPeers: true,
    stateRoot: v.launcherStateRoot ?? LAUNCHER_STATE_ROOT,
    cniPolicy: under?.policy ?? POD_NETWORK_POLICY,
  });
  await serveMetricsOf(stops, v.metricsPort, agent.metrics.registry, () => agent.ready());
  // The daemon first: once the shim is installed, the runtime's calls find it (and the Node plugin meanwhile).
  if (v.cniDaemon !== false) {
    const daemon = await startCniDaemon({ ...DEFAULT_LIMITS, socket: v.cniSocket ?? DEFAULT_SOCKET, log });
    stops.push(() => daemon.close());
  }
  await agent.start();
  stops.push(() => agent.stop());
  log.info({ node }, 'node agent running');
}

const RUNS: Record<Role, (api: KubeApi, v: RoleFlags, log: Logger, stops: Stops) => Promise<void>> = {
  controller: runController,
  webhook: runWebhook,
  kubelet: runKubelet,
  'node-agent': runNodeAgent,
};

/** Start `role`, then run until SIGTERM or SIGINT, and stop what it started in reverse order. */
async function serve(role: Role, v: RoleFlags): Promise<number> {
  // lib/log.ts: the plugin's and the launcher's format (component, levels, err with its cause chain).
  const log = pino(pinoOptions(role, v.logLevel), pino.destination(2));
  const api = new KubeApi(loadKubeConfig(v.kubeconfig), v.namespace);
  const stops: Stops = [];
  await RUNS[role](api, v, log, stops);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  for (const stop of stops.reverse()) await stop();
  return 0;
}

const stdio: Output = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

/** `virtnet-cluster ROLE [flags]`: 0 after a clean stop, 1 when a role fails to start, 2 for bad usage. */
export async function main(argv: string[], o: Output = stdio): Promise<number> {
  const program = clusterProgram();
  for (const role of ROLES) act(program.commands.find((c) => c.name() === role)!, (v: RoleFlags) => serve(role, v));
  return runProgram(withManners(program, o), argv);
}

/** --backend: how pods reach other nodes' pods (node-routes.ts). */
function backendFlag(value: string | undefined): Backend {
  if (value === undefined) return 'auto';
  if (!(BACKENDS as readonly string[]).includes(value))
    throw new Error(`node-agent --backend: ${JSON.stringify(value)} is not one of ${BACKENDS.join(', ')}`);
  return value as Backend;
}

/**
 * The admission webhook on --webhook-port, judging with the cluster's facts:
 * a watch of the Node objects (their pod subnets) and the service CIDRs. Its
 * /readyz answers 200 once the node list is read; until then reviews ask to be retried.
 */
async function serveAdmission(
  api: KubeApi,
  v: Pick<RoleFlags, 'webhookPort' | 'tlsCert' | 'tlsKey'>,
  serviceCidrs: string[],
  stops: Array<() => Promise<unknown>>,
): Promise<NodeSubnets> {
  const nodes = watchNodeSubnets(api);
  // roles.ts refuses one of the pair alone (exit 2): here both or neither.
  const tls = v.tlsCert !== undefined && v.tlsKey !== undefined ? { cert: v.tlsCert, key: v.tlsKey } : undefined;
  const s = await serveWebhook(Number(v.webhookPort), tls, undefined, undefined, clusterFacts(nodes, serviceCidrs));
  stops.push(() => new Promise((r) => s.close(r)));
  await nodes.start();
  stops.push(() => nodes.stop());
  return nodes;
}

if (process.argv[1] && /(virtnet-cluster|cluster[/\\]main\.ts)$/u.test(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(1);
    },
  );
}
