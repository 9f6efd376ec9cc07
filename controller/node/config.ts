/**
 * The standalone node's configuration. Everything the node runtime keeps
 * lives under one state directory; the CNI config directory is in the
 * /etc/cni/net.d style (the first *.conf or *.conflist by name is the
 * cluster-default network, as libcni and Multus pick it). It defaults to
 * <stateDir>/net.d rather than /etc/cni/net.d so that `virtnet up` on a
 * machine that is also a Kubernetes node never picks up the cluster's CNI.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NETNS_NAME } from '../../lib/netns.ts';
import { DEFAULT_DATA_DIR } from '../../cni/config.ts';
import {
  loadPolicy,
  parsePolicy,
  POLICY_ENV,
  writePolicy,
  type NodePolicy,
  type PolicyFile,
} from '../../cni/policy.ts';

export interface NodeConfig {
  stateDir: string;
  cniConfDir: string;
  /** Where plugins are looked up, in order (CNI_PATH). */
  cniPath: string[];
  /** The launcher executable. */
  launcher: string;
  /** QEMU's capability cache shared by the node's launchers (or 'none'). */
  libvirtCache: string;
  /** The cluster's service CIDRs, which a masquerade vmNetworkCIDR must not overlap. */
  serviceCIDRs: string[];
  /** The project's directory (scripts/build-guest.sh builds the test guest). */
  projectDir: string;
  /**
   * Run the pod networks' CNI plugins in this named network namespace
   * instead of the caller's: the node's bridges then live there. For a
   * simulated node on a machine that is not one (several nodes on one host).
   */
  cniNetns?: string;
  /**
   * Directories whose files a VM may boot from (lib/host-paths.ts); unset
   * means any path, for the standalone node whose admin runs `virtnet up`.
   * The kubelet role sets it: there a pod's author is not the node's admin.
   */
  allowedHostPaths?: string[];
  /**
   * The node policy (cni/policy.ts) the runtime hands its CNI plugins: their
   * data directories may lie only under this node's own state. The
   * environment's VIRTNET_CNI_POLICY, when set by the admin, wins.
   */
  cniPolicyFile: string;
  /** The containerDisk cache (images/cache.ts): content-addressed, shared by the node's VMs. */
  imageCacheDir: string;
  /**
   * A registries.conf(5) for pulls instead of /etc/containers/registries.conf
   * and its .d: passed to skopeo with --registries-conf, since skopeo 1.9
   * ignores CONTAINERS_REGISTRIES_CONF (shared/reference/real-guests.md).
   */
  registriesConf?: string;
}

export const DEFAULT_IMAGE_CACHE_DIR = '/var/cache/virtnet/images';

export const DEFAULT_STATE_DIR = '/var/lib/virtnet';
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_BRIDGE = 'virtnet0';

/**
 * dist/cli/virtnet runs from <project>/dist/cli; under tsx the source runs
 * from <project>/controller/cli. Both are two levels below the project.
 */
export function projectDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function nodeConfig(overrides: Partial<NodeConfig> = {}): NodeConfig {
  if (overrides.cniNetns !== undefined && !NETNS_NAME.test(overrides.cniNetns))
    throw new TypeError(`--cni-netns: "${overrides.cniNetns}" is not a network namespace name`);
  const project = overrides.projectDir ?? projectDir();
  const stateDir = resolve(overrides.stateDir ?? process.env.VIRTNET_STATE_DIR ?? DEFAULT_STATE_DIR);
  return {
    stateDir,
    cniConfDir: resolve(overrides.cniConfDir ?? process.env.VIRTNET_CNI_CONF_DIR ?? join(stateDir, 'net.d')),
    cniPath: overrides.cniPath ?? [join(project, 'dist', 'cni'), '/opt/cni/bin', '/usr/lib/cni'],
    launcher: overrides.launcher ?? join(project, 'dist', 'launcher', 'virtnet-launcher'),
    libvirtCache: overrides.libvirtCache ?? '/var/cache/virtnet/libvirt-qemu',
    serviceCIDRs: overrides.serviceCIDRs ?? ['10.96.0.0/12'],
    projectDir: project,
    cniPolicyFile: overrides.cniPolicyFile ?? join(stateDir, 'cni-policy.json'),
    imageCacheDir: resolve(overrides.imageCacheDir ?? process.env.VIRTNET_IMAGE_CACHE_DIR ?? DEFAULT_IMAGE_CACHE_DIR),
    ...registriesConf(overrides.registriesConf ?? process.env.VIRTNET_REGISTRIES_CONF),
    ...(overrides.cniNetns && { cniNetns: overrides.cniNetns }),
    ...(overrides.allowedHostPaths && { allowedHostPaths: overrides.allowedHostPaths }),
  };
}

/** An explicit registries.conf must exist: skopeo would otherwise fail on the first pull, after validation. */
function registriesConf(file: string | undefined): { registriesConf?: string } {
  if (file === undefined || file === '') return {};
  const path = resolve(file);
  if (!existsSync(path)) throw new TypeError(`--registries-conf: ${path} does not exist`);
  return { registriesConf: path };
}

/** The network every VMI's pod gets when the config directory is empty. */
export function defaultNetworkConfList(stateDir: string): Record<string, unknown> {
  return {
    cniVersion: '1.1.0',
    name: 'virtnet',
    plugins: [
      {
        type: 'virtnet-bridge',
        bridge: DEFAULT_BRIDGE,
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: true,
        dataDir: join(stateDir, 'cni'),
        ipam: { type: 'host-local', ranges: [[{ subnet: DEFAULT_POD_CIDR }]], dataDir: join(stateDir, 'ipam') },
      },
    ],
  };
}

/** Write 10-virtnet.conflist unless the directory already holds a network. */
export function ensureDefaultNetwork(cfg: NodeConfig): void {
  mkdirSync(cfg.cniConfDir, { recursive: true });
  const present = readdirSync(cfg.cniConfDir).some((f) => /\.(conf|conflist|json)$/u.test(f));
  const file = join(cfg.cniConfDir, '10-virtnet.conflist');
  if (!present && !existsSync(file))
    writeFileSync(file, `${JSON.stringify(defaultNetworkConfList(cfg.stateDir), null, 2)}\n`);
}

/**
 * The node policy for this runtime's CNI plugins (cni/policy.ts): their data
 * may live under its own state (the default network's records and IPAM) and
 * under the plugin's default data directory, which NADs that name none use.
 * No log root: a NAD's logFile is refused, and plugins log to stderr.
 */
export function nodeCniPolicy(cfg: Pick<NodeConfig, 'stateDir'>): PolicyFile {
  return { dataRoots: [join(cfg.stateDir, 'cni'), join(cfg.stateDir, 'ipam'), DEFAULT_DATA_DIR] };
}

/**
 * The policy this node's plugins run under, to judge NADs by it (validate writes nothing, so it is not written here).
 */
export function nodeCniPolicyFor(cfg: NodeConfig): NodePolicy {
  const admin = process.env[POLICY_ENV];
  return admin
    ? loadPolicy({ [POLICY_ENV]: admin })
    : parsePolicy(JSON.stringify(nodeCniPolicy(cfg)), 'the virtnet node runtime');
}

/** The environment for this node's plugin execs: the admin's policy if they set one, else the runtime's own. */
export function cniPolicyEnv(cfg: NodeConfig): Record<string, string> {
  const admin = process.env[POLICY_ENV];
  if (admin) return { [POLICY_ENV]: admin };
  // Its content follows from the state directory alone: written when missing, not on every attach.
  if (!existsSync(cfg.cniPolicyFile)) writePolicy(cfg.cniPolicyFile, nodeCniPolicy(cfg));
  return { [POLICY_ENV]: cfg.cniPolicyFile };
}

/** The subnets a network's IPAM hands out (host-local's subnet and ranges; static IPAM has none). */
export function ipamSubnets(plugins: ReadonlyArray<Record<string, unknown>>): string[] {
  return plugins.flatMap((p) => {
    const ipam = p.ipam as { subnet?: unknown; ranges?: unknown } | undefined;
    const ranges = Array.isArray(ipam?.ranges)
      ? ((ipam.ranges as unknown[]).flat() as Array<{ subnet?: unknown }>)
      : [];
    return [ipam?.subnet, ...ranges.map((r) => r?.subnet)].filter((s): s is string => typeof s === 'string');
  });
}
