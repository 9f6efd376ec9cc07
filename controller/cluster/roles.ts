/**
 * The cluster binary's roles (dist/cluster/virtnet-cluster) as commander
 * commands: their flags, help and examples, and nothing else. Kept free of
 * @kubernetes/client-node so that `virtnet controller --help` and the CLI
 * reference (scripts/cli-docs.ts) read the same definitions as the binary
 * (cluster/main.ts) without loading the Kubernetes client.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { usageError, withExamples } from '../view/command.ts';
import { namespaceFlag } from '../view/namespace.ts';
import { LEVEL_NAMES } from '../../lib/log.ts';

export const ROLES = ['controller', 'webhook', 'kubelet', 'node-agent'] as const;
export type Role = (typeof ROLES)[number];

/** What every role's flags hold once parsed (commander's camelCase names). */
export interface RoleFlags {
  kubeconfig?: string;
  namespace?: string;
  logLevel: string;
  image?: string;
  metricsPort?: number;
  webhookPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  serviceCidr?: string[];
  allowedHostPath?: string[];
  node?: string;
  stateDir?: string;
  cniNetns?: string;
  boundOnly?: boolean;
  cniBinDir?: string;
  cniConfDir?: string;
  defaultNetwork?: boolean;
  podCidr?: string[];
  clusterCidr?: string[];
  backend?: string;
  cniDataRoot?: string;
  launcherStateRoot?: string;
  cniSocket?: string;
  cniDaemon?: boolean;
}

const BACKENDS = ['auto', 'host-gw', 'vxlan'];

/** Repeatable flags (--service-cidr A --service-cidr B) collect their values in order. */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('a TCP port, 1 to 65535');
  return n;
}

function common(cmd: Command): Command {
  return cmd
    .option(
      '--kubeconfig <file>',
      'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else the in-cluster config)',
    )
    .option('-n, --namespace <ns>', 'the namespace to watch (default: all)', namespaceFlag)
    .addOption(
      new Option('--log-level <level>', 'least level logged (JSON lines on stderr)')
        .choices(LEVEL_NAMES)
        .default('info'),
    );
}

function file(value: string): string {
  if (value === '') throw new InvalidArgumentError('a file name, not empty');
  return value;
}

/** One of the pair alone would serve the webhook as plain HTTP, which the API server refuses: bad usage. */
function tlsPair(cmd: Command): void {
  const { tlsCert, tlsKey } = cmd.opts<RoleFlags>();
  if ((tlsCert === undefined) === (tlsKey === undefined)) return;
  const [given, missing] = tlsCert === undefined ? ['--tls-key', '--tls-cert'] : ['--tls-cert', '--tls-key'];
  usageError(cmd, `${given} needs ${missing}: give both (TLS) or neither (plain HTTP)`);
}

function admission(cmd: Command): Command {
  return cmd
    .option('--tls-cert <file>', 'the webhook server certificate (PEM); with --tls-key', file)
    .option('--tls-key <file>', 'its private key (PEM); with --tls-cert', file)
    .option('--service-cidr <cidr>', "the cluster's service CIDR, once per family (default 10.96.0.0/12)", collect)
    .hook('preAction', tlsPair);
}

function controllerRole(): Command {
  const cmd = new Command('controller').description(
    'Reconcile VirtualMachineInstances into launcher pods, and optionally serve the admission webhook',
  );
  common(cmd)
    .option('--image <image>', "the launcher pods' image (default: this release's)")
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port', port)
    .option('--webhook-port <port>', 'also serve the admission webhook on this port', port)
    .option('--allowed-host-path <dir>', 'a directory VMIs may boot files from (repeatable)', collect);
  admission(cmd);
  return withExamples(cmd, [
    {
      what: 'run the controller with metrics and the webhook on TLS',
      line: 'virtnet-cluster controller --metrics-port 8080 --webhook-port 8443 --tls-cert tls.crt --tls-key tls.key',
    },
  ]);
}

function webhookRole(): Command {
  const cmd = new Command('webhook').description('Serve only the admission webhook for VMIs and NADs');
  common(cmd).option('--webhook-port <port>', 'the port to serve on (required)', port);
  admission(cmd);
  return withExamples(cmd, [
    {
      what: 'a plain-HTTP webhook for a test API server',
      line: 'virtnet-cluster webhook --webhook-port 9443 --kubeconfig kubeconfig',
    },
  ]);
}

function kubeletRole(): Command {
  const cmd = new Command('kubelet').description(
    "Let this node's runtime run the cluster's launcher pods, as a kubelet",
  );
  common(cmd)
    .option('--node <name>', "this node's name (required)")
    .option('--state-dir <dir>', 'where the node runtime keeps its state (default /var/lib/virtnet)')
    .option('--cni-netns <name>', 'the network namespace the pod network plugins run in')
    .option('--allowed-host-path <dir>', 'a directory pods may boot files from (repeatable)', collect)
    .option('--bound-only', 'run only pods a scheduler bound to this node (without it, bind unbound ones)');
  return withExamples(cmd, [
    { what: 'run the launcher pods bound to node-a', line: 'virtnet-cluster kubelet --node node-a --bound-only' },
  ]);
}

function nodeAgentRole(): Command {
  const cmd = new Command('node-agent').description(
    "Install the CNI plugin and the pod network on this node, and route to other nodes' pods",
  );
  common(cmd)
    .option('--node <name>', "this node's name (required; the downward API's spec.nodeName)")
    .option('--cni-bin-dir <dir>', 'where CNI plugins are installed', '/opt/cni/bin')
    .option('--cni-conf-dir <dir>', 'where CNI network configs are installed', '/etc/cni/net.d')
    .option('--default-network', "make virtnet the node's default pod network (without it, only the plugin)")
    .option('--pod-cidr <cidr>', "this node's pod subnet when the Node has no spec.podCIDRs, once per family", collect)
    .option('--cluster-cidr <cidr>', "all nodes' pod subnets, once per family: not masqueraded", collect)
    .addOption(new Option('--backend <backend>', "how pods reach other nodes' pods").choices(BACKENDS).default('auto'))
    .option('--cni-data-root <dir>', "the pod network's data, IPAM, log and policy under this directory")
    .option('--launcher-state-root <dir>', 'where launcher pods write their state on the host')
    .option('--cni-socket <path>', "the CNI daemon's socket, which the installed shim calls", '/run/virtnet/cni.sock')
    .option(
      '--no-cni-daemon',
      'serve no CNI calls: the shim then runs the Node plugin itself (needs Node.js on the node)',
    )
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port', port);
  return withExamples(cmd, [
    {
      what: 'the agent as the DaemonSet runs it (deploy/base/node-agent.yaml)',
      line:
        'virtnet-cluster node-agent --node "$NODE_NAME" --cni-bin-dir /opt/cni/bin --cni-conf-dir /etc/cni/net.d ' +
        '--launcher-state-root /var/run/virtnet/pods --metrics-port 9091',
    },
  ]);
}

const BUILDERS: Record<Role, () => Command> = {
  controller: controllerRole,
  webhook: webhookRole,
  kubelet: kubeletRole,
  'node-agent': nodeAgentRole,
};

/** One role's command, new each call (a commander command has one parent). */
export function roleCommand(role: Role): Command {
  return BUILDERS[role]();
}

/** `virtnet-cluster ROLE [flags]`: the whole binary's tree, without actions (cluster/main.ts adds them). */
export function clusterProgram(): Command {
  const root = new Command('virtnet-cluster')
    .description("virtnet's cluster side: the controller, the admission webhook, the kubelet role and the node agent")
    .helpCommand(true);
  for (const role of ROLES) root.addCommand(roleCommand(role));
  return root;
}
