/**
 * ADD in two phases, each running its child processes in parallel:
 *   1. the IPAM delegate, beside the host batch that makes the bridge and the
 *      veth pair, and the port's L2 filters;
 *   2. with the addresses known: the container batch (its `ip` was started
 *      in phase 1, after the host batch, and waits on stdin, so its exec is
 *      off the critical path), the bridge's gateway address (only the first
 *      time) and the NAT rules.
 * Any failure undoes what was made (IPAM allocation, host veth, rules,
 * record), so nothing is left half-done.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { childrenOfThisCall, ExecError } from '../lib/exec.ts';
import { applyLinkOps, prepareLinkOps } from '../lib/iproute.ts';
import { hasAddress, linkNames } from '../lib/links.ts';
import { netnsExists } from '../lib/netns.ts';
import { applyNft } from '../lib/nft.ts';
import { ensureSysctl } from '../lib/sysctl.ts';
import { settled } from '../lib/settled.ts';
import { randomMac } from '../lib/cidr.ts';
import { crashPoint } from '../lib/crash-point.ts';
import { urandom } from '../lib/names.ts';
import { execIpam, requireIpamPlugin } from './ipam.ts';
import { checkHostLinks } from './marks.ts';
import { planAddressing, planPort, vxlanLinkName, type PortFacts } from './plan.ts';
import { type AttachmentRecord, hostVethName, inFlightMark, removeRecord, settleRecord, writeRecord } from './state.ts';
import { releaseAttachment } from './del.ts';
import type { CniEnv } from './env.ts';
import type { Log } from './log.ts';
import type { NodePolicy } from './policy.ts';
import type { BridgeConf, CniResult } from './types.ts';

/** Map the kernel's "no such feature" answers to a clear, typed error. */
function explainKernelError(err: unknown, conf: BridgeConf): unknown {
  if (!(err instanceof ExecError)) return err;
  if (/Unknown device type|Operation not supported|not supported/iu.test(err.stderr)) {
    const field = conf.vxlan ? 'vxlan' : 'bridge';
    return new VirtnetError(
      ErrorCode.unsupportedByKernel,
      `${field}: this kernel lacks a needed feature (${err.stderr.trim()})`,
      { cause: err },
    );
  }
  return err;
}

/**
 * The facts again when a concurrent ADD has made the bridge or VXLAN device
 * this one planned to make (the batch then fails with "File exists"), or
 * undefined when nothing changed and the failure is real.
 */
function racedFacts(conf: BridgeConf, facts: PortFacts): PortFacts | undefined {
  const now = linkNames();
  const bridgeExists = facts.bridgeExists || now.has(conf.bridge);
  const vxlanExists = facts.vxlanExists || (conf.vxlan !== undefined && now.has(vxlanLinkName(conf.vxlan.id)));
  return bridgeExists === facts.bridgeExists && vxlanExists === facts.vxlanExists
    ? undefined
    : { ...facts, bridgeExists, vxlanExists };
}

/**
 * Phase 1's host batch. Two ADDs racing to create the bridge or the VXLAN
 * device (the first pods of a node, on networks sharing a VNI): the loser
 * retries with the plan for links that exist, which neither makes nor
 * (re)marks them.
 */
async function applyPort(conf: BridgeConf, facts: PortFacts): Promise<string | undefined> {
  // Each retry knows of one more existing link, so there are at most two.
  for (let f = facts; ; ) {
    try {
      const shown = await applyLinkOps(planPort(conf, f).hostOps);
      return shown.at(-1)?.[0]?.address;
    } catch (err) {
      const retry = err instanceof ExecError && /File exists/u.test(err.stderr) ? racedFacts(conf, f) : undefined;
      if (!retry) throw err;
      f = retry;
    }
  }
}

/** What ADD learns before its first side effect; each refusal (bad netns, a second ADD, a foreign link) is here. */
async function preflight(conf: BridgeConf, env: CniEnv, policy: NodePolicy) {
  if (!netnsExists(env.netns)) {
    throw new VirtnetError(ErrorCode.badEnvironment, `CNI_NETNS: "${env.netns}" does not exist`);
  }
  const hostVeth = hostVethName(env.containerID, env.ifname);
  const present = linkNames();
  if (present.has(hostVeth)) {
    throw new VirtnetError(
      ErrorCode.attachmentExists,
      `container ${env.containerID} already has interface ${env.ifname} on network ${conf.name} (host veth ` +
        `${hostVeth}); DEL it first`,
    );
  }
  const ipamBinary = conf.ipam ? requireIpamPlugin(conf.ipam.type, env, policy) : undefined;
  await checkHostLinks(conf, policy, present);
  const facts: PortFacts = {
    containerID: env.containerID,
    ifname: env.ifname,
    netns: env.netns,
    hostVeth,
    hostMac: randomMac(urandom),
    containerMac: conf.mac ?? randomMac(urandom),
    bridgeMac: randomMac(urandom),
    bridgeExists: present.has(conf.bridge),
    vxlanExists: conf.vxlan ? present.has(vxlanLinkName(conf.vxlan.id)) : false,
  };
  return { facts, ipamBinary };
}

export async function cmdAdd(conf: BridgeConf, env: CniEnv, log: Log, policy: NodePolicy): Promise<CniResult> {
  const t0 = performance.now();
  const { facts, ipamBinary } = await preflight(conf, env, policy);
  const { hostVeth } = facts;
  const { containerID, ifname, netns } = env;
  const record = { containerID, ifname, netns, hostVeth, bridge: conf.bridge, ...inFlightMark() };
  // Written first, so GC can release whatever a crash in the middle leaves;
  // its in-flight mark keeps GC away while this ADD runs (issue 11, defect 10).
  const journaled = writeRecord(conf.dataDir, conf.name, record);
  crashPoint('cni.add.journaled');
  // The container's batch starts once the host's is done and waits on stdin for the addresses, while the IPAM
  // delegate still runs. Started with the other two, three children at once on two cores made the delegate, the
  // longest of them, take twice as long (10 ms instead of 5: bench/cni.ts).
  let inside: ReturnType<typeof prepareLinkOps> | undefined;
  try {
    const port = planPort(conf, facts);
    // The host batch first: in the CNI daemon it goes to a spare ip(8) at once, before the delegate's spawn blocks.
    const [bridgeMac, ipam] = await settled([
      applyPort(conf, facts).then((mac) => {
        inside = prepareLinkOps(env.netns);
        return mac;
      }),
      execIpam('ADD', { conf, env, log, policy, ...(ipamBinary && { binary: ipamBinary }) }),
      applyNft(port.nft),
      journaled,
    ] as const);
    const tPhase1 = performance.now();
    // Here the IP is allocated and the host veth made, but no address is set: what a crash must not leak.
    crashPoint('cni.add.port.done');
    const addr = planAddressing(conf, facts, ipam, (cidr) => hasAddress(conf.bridge, cidr));
    for (const [key, value] of Object.entries(addr.sysctls)) ensureSysctl(key, value);
    inside ??= prepareLinkOps(env.netns);
    await settled([inside.apply(addr.containerOps), applyLinkOps(addr.gatewayOps), applyNft(addr.nft)]);
    const tPhase2 = performance.now();
    const bridge = addr.result.interfaces?.[0];
    if (bridge && bridgeMac) bridge.mac = bridgeMac;
    const ms = { phase1: +(tPhase1 - t0).toFixed(1), phase2: +(tPhase2 - tPhase1).toFixed(1) };
    const ips = addr.result.ips?.map((i) => i.address);
    settleRecord(conf.dataDir, conf.name, record);
    log.info({ containerID, ifname, hostVeth, ips, children: childrenOfThisCall(), ms }, 'added');
    return addr.result;
  } catch (err) {
    await inside?.apply([]).catch(() => undefined);
    await rollBackAdd(conf, env, record, { log, policy }, err);
    throw explainKernelError(err, conf);
  }
}

/**
 * The IPAM release runs even if its ADD failed: the (container, ifname) key is
 * ours alone (duplicates were refused above), and a partial allocation must go.
 * The record goes only once everything is released: while it stays, GC can
 * still free what the rollback could not, the IP above all.
 */
async function rollBackAdd(
  conf: BridgeConf,
  env: CniEnv,
  record: AttachmentRecord,
  { log, policy }: { log: Log; policy: NodePolicy },
  err: unknown,
) {
  log.error({ containerID: env.containerID, ifname: env.ifname, err }, 'ADD failed, rolling back');
  await releaseAttachment(conf, env, record, { ipam: true, log, policy }).then(
    () => removeRecord(conf.dataDir, conf.name, env.containerID, env.ifname),
    (e: Error) => {
      log.error({ err: e }, 'rollback incomplete; the attachment record is kept for GC');
      // Without its in-flight mark: this ADD is over, and the process that made it (the daemon) may live on.
      settleRecord(conf.dataDir, conf.name, record);
    },
  );
}
