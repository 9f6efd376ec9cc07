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
}

export const DEFAULT_STATE_DIR = '/var/lib/virtnet';
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_BRIDGE = 'virtnet0';

/**
 * dist/cli/virtnet runs from <project>/dist/cli; under tsx the source runs
 * from <project>/controller/cli. Both are two levels below the project.
 */
function projectDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function nodeConfig(overrides: Partial<NodeConfig> = {}): NodeConfig {
  if (overrides.cniNetns !== undefined && !NETNS_NAME.test(overrides.cniNetns)) throw new TypeError(`--cni-netns: "${overrides.cniNetns}" is not a network namespace name`);
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
    ...(overrides.cniNetns && { cniNetns: overrides.cniNetns }),
  };
}

/** The network every VMI's pod gets when the config directory is empty. */
export function defaultNetworkConfList(stateDir: string): Record<string, unknown> {
  return {
    cniVersion: '1.1.0',
    name: 'virtnet',
    plugins: [{
      type: 'virtnet-bridge', bridge: DEFAULT_BRIDGE, isGateway: true, isDefaultGateway: true, ipMasq: true,
      dataDir: join(stateDir, 'cni'),
      ipam: { type: 'host-local', ranges: [[{ subnet: DEFAULT_POD_CIDR }]], dataDir: join(stateDir, 'ipam') },
    }],
  };
}

/** Write 10-virtnet.conflist unless the directory already holds a network. */
export function ensureDefaultNetwork(cfg: NodeConfig): void {
  mkdirSync(cfg.cniConfDir, { recursive: true });
  const present = readdirSync(cfg.cniConfDir).some((f) => /\.(conf|conflist|json)$/u.test(f));
  const file = join(cfg.cniConfDir, '10-virtnet.conflist');
  if (!present && !existsSync(file)) writeFileSync(file, `${JSON.stringify(defaultNetworkConfList(cfg.stateDir), null, 2)}\n`);
}

/** The subnets a network's IPAM hands out (host-local's subnet and ranges; static IPAM has none). */
export function ipamSubnets(plugins: ReadonlyArray<Record<string, unknown>>): string[] {
  return plugins.flatMap((p) => {
    const ipam = p.ipam as { subnet?: unknown; ranges?: unknown } | undefined;
    const ranges = Array.isArray(ipam?.ranges) ? (ipam.ranges as unknown[]).flat() as Array<{ subnet?: unknown }> : [];
    return [ipam?.subnet, ...ranges.map((r) => r?.subnet)].filter((s): s is string => typeof s === 'string');
  });
}
