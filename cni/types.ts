/** CNI 1.1 result and configuration shapes (SPEC.md "Result", "Network configuration"). */
import type { LevelSetting } from '../lib/log.ts';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A result in the newest shape (1.1.0); version.ts converts to and from older ones. */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

export interface VlanTrunkEntry {
  id?: number;
  minID?: number;
  maxID?: number;
}

/**
 * A VXLAN device `vxlan<id>` on the bridge. Where its frames go:
 * - `remote`: to that one unicast peer;
 * - `group`: to that multicast group, on the underlay `dev`;
 * - neither: head-end replication. The device has no default destination;
 *   the node agent keeps one all-zeros FDB entry per other node in its FDB
 *   (bridge(8): `bridge fdb append 00:00:00:00:00:00 dev vxlan<id> dst <node IP>`),
 *   so broadcast, unknown unicast and multicast go to every node, and
 *   unicast MACs are learned from what comes back (learning is on, as
 *   ip-link(8) makes a VXLAN device by default).
 */
export interface VxlanConf {
  id: number;
  remote?: string;
  group?: string;
  local?: string;
  dev?: string;
  port: number;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

/** The plugin's configuration after validation, with defaults applied. */
export interface BridgeConf {
  cniVersion: string;
  name: string;
  type: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  ipMasq: boolean;
  /** Destinations ipMasq does not masquerade (the cluster's pod networks), as network CIDRs. */
  ipMasqExclude?: string[];
  macspoofchk: boolean;
  vxlan?: VxlanConf;
  vlanTrunk?: VlanTrunkEntry[];
  /** The IPAM section as given; undefined means an L2-only attachment. */
  ipam?: { type: string } & Record<string, unknown>;
  dns?: CniDns;
  /** MAC requested through runtimeConfig.mac, args.cni.mac or CNI_ARGS MAC. */
  mac?: string;
  logFile?: string;
  /** Least level the plugin logs (lib/log.ts); default info, where the node agent's CNI metrics read it. */
  logLevel?: LevelSetting;
  dataDir: string;
  prevResult?: CniResult;
  validAttachments?: Attachment[];
  /** The stdin document, verbatim; IPAM delegates receive it whole. */
  raw: Record<string, unknown>;
}
