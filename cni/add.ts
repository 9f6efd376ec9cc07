/**
 * ADD: discover, plan, apply; on any failure undo what was made (IPAM
 * allocation, host veth, rules, record), so nothing is left half-done.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { ExecError } from '../lib/exec.ts';
import { applyLinkOps } from '../lib/iproute.ts';
import { linkNames } from '../lib/links.ts';
import { netnsExists } from '../lib/netns.ts';
import { applyNft } from '../lib/nft.ts';
import { ensureSysctl } from '../lib/sysctl.ts';
import { randomMac } from '../lib/cidr.ts';
import { execIpam } from './ipam.ts';
import { planAdd, vxlanLinkName } from './plan.ts';
import { hostVethName, removeRecord, writeRecord } from './state.ts';
import { releaseAttachment } from './del.ts';
import type { CniEnv } from './env.ts';
import type { Log } from './log.ts';
import type { BridgeConf, CniResult } from './types.ts';

/** Map the kernel's "no such feature" answers to a clear, typed error. */
function explainKernelError(err: unknown, conf: BridgeConf): unknown {
  if (!(err instanceof ExecError)) return err;
  if (/Unknown device type|Operation not supported|not supported/iu.test(err.stderr)) {
    const field = conf.vxlan ? 'vxlan' : 'bridge';
    return new VirtnetError(ErrorCode.unsupportedByKernel, `${field}: this kernel lacks a needed feature (${err.stderr.trim()})`, { cause: err });
  }
  return err;
}

export async function cmdAdd(conf: BridgeConf, env: CniEnv, log: Log): Promise<CniResult> {
  if (!netnsExists(env.netns)) {
    throw new VirtnetError(ErrorCode.badEnvironment, `CNI_NETNS: "${env.netns}" does not exist`);
  }
  const hostVeth = hostVethName(env.containerID, env.ifname);
  const present = linkNames();
  if (present.has(hostVeth)) {
    throw new VirtnetError(ErrorCode.attachmentExists, `container ${env.containerID} already has interface ${env.ifname} on network ${conf.name} (host veth ${hostVeth}); DEL it first`);
  }
  const record = { containerID: env.containerID, ifname: env.ifname, netns: env.netns, hostVeth, bridge: conf.bridge };
  writeRecord(conf.dataDir, conf.name, record);
  let ipamDone = false;
  try {
    const ipam = await execIpam('ADD', { conf, env, log });
    ipamDone = true;
    const plan = planAdd(conf, {
      containerID: env.containerID, ifname: env.ifname, netns: env.netns, hostVeth,
      hostMac: randomMac(randomBytes), containerMac: conf.mac ?? randomMac(randomBytes), bridgeMac: randomMac(randomBytes),
      bridgeExists: present.has(conf.bridge), vxlanExists: conf.vxlan ? present.has(vxlanLinkName(conf.vxlan.id)) : false, ipam,
    });
    for (const [key, value] of Object.entries(plan.sysctls)) ensureSysctl(key, value);
    let shown;
    try {
      shown = await applyLinkOps(plan.hostOps);
    } catch (err) {
      // Two ADDs racing to create the bridge: the loser retries without creating it.
      if (!(err instanceof ExecError) || !/File exists/u.test(err.stderr) || !linkNames().has(conf.bridge) || present.has(conf.bridge)) throw err;
      shown = await applyLinkOps(plan.hostOps.filter((o) => o.op !== 'bridge-add'));
    }
    const bridge = shown.at(-1)?.[0];
    if (plan.result.interfaces?.[0] && bridge?.address) plan.result.interfaces[0].mac = bridge.address;
    await applyLinkOps(plan.containerOps, env.netns);
    await applyNft(plan.nft);
    log.info('added', { containerID: env.containerID, ifname: env.ifname, hostVeth, ips: plan.result.ips?.map((i) => i.address) });
    return plan.result;
  } catch (err) {
    log.error('ADD failed, rolling back', { containerID: env.containerID, ifname: env.ifname, error: (err as Error).message });
    await releaseAttachment(conf, env, record, { ipam: ipamDone, log }).catch((e: Error) => log.error('rollback incomplete', { error: e.message }));
    removeRecord(conf.dataDir, conf.name, env.containerID, env.ifname);
    throw explainKernelError(err, conf);
  }
}
