/**
 * Which host links a network may use. ADD creates its bridge (and VXLAN
 * device) when missing and marks it with an interface alias; an existing
 * link is used only when it carries that mark or the node admin lists it in
 * the policy's allowedBridges. So a NAD naming docker0 or the node's uplink
 * bridge is refused before anything is done to it (no gateway address, no
 * promiscuous mode, no forwarding, no ports).
 *
 * The alias is set by the same `ip -batch` that creates the link, on the
 * next line: the kernel ignores IFLA_IFALIAS in RTM_NEWLINK's create path
 * (checked on 6.18: `ip link add … alias X type bridge` leaves ifalias empty).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { exec } from '../lib/exec.ts';
import { linkNames } from '../lib/links.ts';
import { LINK_MARK, vxlanLinkName } from './plan.ts';
import type { NodePolicy } from './policy.ts';
import type { BridgeConf } from './types.ts';

export { LINK_MARK };

/**
 * /sys/class/net shows the namespace that mounted sysfs, which is ours only
 * when the runtime entered the netns with its mounts (ip netns exec does; a
 * bare nsenter --net does not). Trust it only when it lists exactly the
 * links /proc/self/net/dev lists.
 */
function sysfsIsOurs(present: ReadonlySet<string>): boolean {
  try {
    // bonding_masters is a file that the bonding module adds to every namespace's view.
    const listed = readdirSync('/sys/class/net').filter((n) => n !== 'bonding_masters');
    return listed.length === present.size && listed.every((n) => present.has(n));
  } catch {
    return false;
  }
}

/** The link's ifalias ('' when it has none): from sysfs when it is ours, else from ip(8). */
async function linkAlias(name: string, viaSysfs: boolean): Promise<string> {
  if (viaSysfs) {
    try {
      return readFileSync(`/sys/class/net/${name}/ifalias`, 'utf8').trim();
    } catch {
      return '';
    }
  }
  const { stdout } = await exec(['ip', '-json', 'link', 'show', 'dev', name]);
  const [link] = JSON.parse(stdout) as Array<{ ifalias?: string }>;
  return link?.ifalias ?? '';
}

/**
 * How long an unmarked link may be one that a concurrent ADD has just made:
 * its `ip -batch` sets the mark on the line after the create, so the link
 * is visible unmarked for that long (100 ADDs at once on 2 cores showed it).
 * A foreign bridge stays unmarked, and is refused after this wait.
 */
const MARK_GRACE_MS = 2000;

/** The link's alias, waiting out the moment between a concurrent ADD's create and its mark. */
async function settledAlias(link: string, viaSysfs: boolean): Promise<string> {
  for (const end = Date.now() + MARK_GRACE_MS; ; await new Promise((r) => setTimeout(r, 20))) {
    const alias = await linkAlias(link, viaSysfs);
    if (alias !== '' || Date.now() > end) return alias;
  }
}

async function requireUsable(
  field: string,
  link: string,
  policy: NodePolicy,
  present: ReadonlySet<string>,
  listable: boolean,
  viaSysfs: () => boolean,
): Promise<void> {
  if (!present.has(link) || (listable && policy.allowedBridges.includes(link))) return;
  if ((await settledAlias(link, viaSysfs())) === LINK_MARK) return;
  const how = listable
    ? `; the node admin may allow it by listing it in allowedBridges (node policy: ${policy.source})`
    : '';
  throw new VirtnetError(
    ErrorCode.invalidConfig,
    `${field}: link "${link}" exists and virtnet did not create it (its alias is not "${LINK_MARK}"), so no ` +
      `network may use it${how}`,
  );
}

/** The bridge a link is a port of ('' when none): from sysfs's master link when sysfs is ours, else from ip(8). */
async function linkMaster(name: string, viaSysfs: boolean): Promise<string> {
  if (viaSysfs) {
    try {
      return basename(readlinkSync(`/sys/class/net/${name}/master`));
    } catch {
      return '';
    }
  }
  const { stdout } = await exec(['ip', '-json', 'link', 'show', 'dev', name]);
  const [link] = JSON.parse(stdout) as Array<{ master?: string }>;
  return link?.master ?? '';
}

/**
 * A VNI is one L2 segment, so on a node its device joins one bridge: a
 * network naming the VNI with another bridge would get ports on a bridge
 * that reaches no other node, silently. Refused, naming both bridges.
 */
async function requireVxlanOnBridge(
  conf: BridgeConf,
  present: ReadonlySet<string>,
  viaSysfs: () => boolean,
): Promise<void> {
  if (!conf.vxlan) return;
  const dev = vxlanLinkName(conf.vxlan.id);
  if (!present.has(dev)) return;
  const master = await linkMaster(dev, viaSysfs());
  if (master === '' || master === conf.bridge) return;
  throw new VirtnetError(
    ErrorCode.invalidConfig,
    `vxlan.id: VNI ${conf.vxlan.id}'s device ${dev} is a port of bridge "${master}", not of "${conf.bridge}"; a ` +
      `VNI is one L2 network, so every network on it must name bridge "${master}"`,
  );
}

/** Refuse an existing bridge or VXLAN device that is neither virtnet's nor allowed by the admin. */
export async function checkHostLinks(
  conf: BridgeConf,
  policy: NodePolicy,
  present: ReadonlySet<string>,
): Promise<void> {
  // Decided once, against a fresh list of links: concurrent ADDs keep adding veths, so `present` soon differs.
  let viaSysfs: boolean | undefined;
  const sysfs = () => (viaSysfs ??= sysfsIsOurs(linkNames()));
  await requireUsable('bridge', conf.bridge, policy, present, true, sysfs);
  if (conf.vxlan) await requireUsable('vxlan.id', vxlanLinkName(conf.vxlan.id), policy, present, false, sysfs);
  await requireVxlanOnBridge(conf, present, sysfs);
}
