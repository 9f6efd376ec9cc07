/**
 * virtnet's cluster side, one executable (dist/cluster/virtnet-cluster; the
 * `virtnet controller` and `virtnet kubelet` commands run it):
 *   controller [--kubeconfig F] [-n NS] [--image IMG] [--metrics-port P] [--allowed-host-path DIR]…
 *              [--service-cidr CIDR]… [--webhook-port P [--tls-cert F --tls-key F]]
 *   webhook --webhook-port P [--tls-cert F --tls-key F] [--kubeconfig F] [--service-cidr CIDR]…
 *   kubelet --node NAME [--kubeconfig F] [-n NS] [--state-dir DIR] [--cni-netns NAME] [--allowed-host-path DIR]… [--bound-only]
 *   node-agent --node NAME [--kubeconfig F] [--cni-bin-dir D] [--cni-conf-dir D] [--default-network] [--pod-cidr CIDR]…
 *              [--cluster-cidr CIDR]… [--backend auto|host-gw|vxlan] [--cni-data-root D] [--launcher-state-root D] [--metrics-port P]
 * --bound-only: run only the pods a scheduler bound to this node, as a kubelet does (without it, bind unbound ones).
 * --cluster-cidr: all nodes' pod subnets, once per family: not masqueraded, so pods see each other's own addresses.
 * --backend: other nodes' pod subnets by direct routes (host-gw), a VXLAN overlay (vxlan), or each as it can (auto, the default).
 * --cni-data-root: the pod network's data, IPAM, log and node policy under D (several simulated nodes on one host).
 * --default-network: virtnet becomes the node's default network (off: only the plugin is installed);
 *   its pod subnets are the Node's spec.podCIDRs, else --pod-cidr (once per family).
 * --service-cidr: the cluster's service CIDR, once per family (default 10.96.0.0/12).
 * Without --kubeconfig: $KUBECONFIG, ~/.kube/config, else the in-cluster config.
 * Logs are JSON lines on stderr (pino).
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
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
import { LAUNCHER_STATE_ROOT } from '../render/pod.ts';
import { dirname, isAbsolute, join } from 'node:path';
import { DEFAULT_DATA_DIR } from '../../cni/config.ts';
import { fileURLToPath } from 'node:url';

/** The pod network a node agent installs: virtnet-bridge on virtnet0, this node's pod subnets (the agent fills them in), logging for the metrics. */
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
  // The log's tree may not hold plugin state (cni/policy.ts), so the roots are the two data directories, not ROOT itself.
  const policy = { dataRoots: [join(root, 'cni'), join(root, 'ipam'), DEFAULT_DATA_DIR], logRoot: join(root, 'log') };
  return { conflist, policy: { file: join(root, 'cni-policy.json'), policy } };
}

export const DEFAULT_IMAGE = 'ghcr.io/virtnet/virtnet:0.1.0';
const GUEST = '/var/cache/virtnet/guest';

export async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      image: { type: 'string' },
      'metrics-port': { type: 'string' },
      'webhook-port': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'service-cidr': { type: 'string', multiple: true },
      node: { type: 'string' },
      'state-dir': { type: 'string' },
      'cni-netns': { type: 'string' },
      'allowed-host-path': { type: 'string', multiple: true },
      'cni-bin-dir': { type: 'string' },
      'cni-conf-dir': { type: 'string' },
      'pod-cidr': { type: 'string', multiple: true },
      'default-network': { type: 'boolean' },
      'cni-data-root': { type: 'string' },
      backend: { type: 'string' },
      'cluster-cidr': { type: 'string', multiple: true },
      'bound-only': { type: 'boolean' },
      'launcher-state-root': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  const log = pino({ level: v['log-level'] ?? 'info', base: { component: positionals[0] } }, pino.destination(2));
  const api = new KubeApi(loadKubeConfig(v.kubeconfig), v.namespace);
  const stops: Array<() => Promise<unknown>> = [];
  if (positionals[0] === 'controller') {
    const serviceCIDRs = parseServiceCidrs(v['service-cidr']);
    const c = new Controller(api, {
      image: v.image ?? DEFAULT_IMAGE,
      serviceCIDRs,
      testGuest: { kernel: `${GUEST}/vmlinuz`, initrd: `${GUEST}/initrd.img`, cmdline: TEST_GUEST_CMDLINE },
      log,
      ...(v['allowed-host-path'] && { allowedHostPaths: v['allowed-host-path'] }),
    });
    const nodes = v['webhook-port'] ? await serveAdmission(api, v, serviceCIDRs, stops) : undefined;
    if (v['metrics-port']) {
      const s = await serveMetrics(
        c.metrics.registry,
        Number(v['metrics-port']),
        () => c.synced && (nodes?.synced ?? true),
      );
      stops.push(() => new Promise((r) => s.close(r)));
    }
    await c.start();
    stops.push(() => c.stop());
    log.info('controller running');
  } else if (positionals[0] === 'webhook') {
    if (!v['webhook-port']) throw new Error('webhook: --webhook-port P is required');
    await serveAdmission(api, v, parseServiceCidrs(v['service-cidr']), stops);
    log.info('webhook running');
  } else if (positionals[0] === 'kubelet') {
    if (!v.node) throw new Error('kubelet: --node NAME is required');
    // A pod's author is not this node's admin: boot files only from the allowed directories (defect 3).
    const rt = new NodeRuntime(
      nodeConfig({
        ...(v['state-dir'] && { stateDir: v['state-dir'] }),
        ...(v['cni-netns'] && { cniNetns: v['cni-netns'] }),
        allowedHostPaths: v['allowed-host-path'] ?? DEFAULT_ALLOWED_HOST_PATHS,
      }),
    );
    const runner = new PodRunner(api, rt, v.node, log, { boundOnly: v['bound-only'] ?? false });
    await runner.start();
    stops.push(() => runner.stop());
    log.info({ node: v.node }, 'kubelet running');
  } else if (positionals[0] === 'node-agent') {
    if (!v.node) throw new Error("node-agent: --node NAME is required (the downward API's spec.nodeName)");
    const under = v['cni-data-root'] ? podNetworkUnder(v['cni-data-root']) : undefined;
    const agent = new NodeAgent(api, {
      node: v.node,
      log,
      plugin: join(dirname(fileURLToPath(import.meta.url)), '..', 'cni', 'virtnet-bridge'),
      cniBinDir: v['cni-bin-dir'] ?? '/opt/cni/bin',
      cniConfDir: v['cni-conf-dir'] ?? '/etc/cni/net.d',
      conflist: under?.conflist ?? podNetworkConfList(),
      defaultNetwork: v['default-network'] ?? false,
      podCIDRs: v['pod-cidr'] ?? [],
      clusterCIDRs: v['cluster-cidr'] ?? [],
      backend: backendFlag(v.backend),
      syncPeers: true,
      stateRoot: v['launcher-state-root'] ?? LAUNCHER_STATE_ROOT,
      cniPolicy: under?.policy ?? POD_NETWORK_POLICY,
    });
    if (v['metrics-port']) {
      const s = await serveMetrics(agent.metrics.registry, Number(v['metrics-port']), () => agent.ready());
      stops.push(() => new Promise((r) => s.close(r)));
    }
    await agent.start();
    stops.push(() => agent.stop());
    log.info({ node: v.node }, 'node agent running');
  } else {
    process.stderr.write('usage: virtnet-cluster controller|webhook|kubelet|node-agent [options]\n');
    return 2;
  }
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  for (const stop of stops.reverse()) await stop();
  return 0;
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
  v: { 'webhook-port'?: string; 'tls-cert'?: string; 'tls-key'?: string },
  serviceCidrs: string[],
  stops: Array<() => Promise<unknown>>,
): Promise<NodeSubnets> {
  const nodes = watchNodeSubnets(api);
  const tls = v['tls-cert'] && v['tls-key'] ? { cert: v['tls-cert'], key: v['tls-key'] } : undefined;
  const s = await serveWebhook(Number(v['webhook-port']), tls, undefined, undefined, clusterFacts(nodes, serviceCidrs));
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
