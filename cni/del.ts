/**
 * DEL, and the release step that ADD's rollback and GC share.
 * Best effort and idempotent (SPEC.md "DEL"): it succeeds when repeated,
 * when the netns is gone and when there was never an ADD, and it always
 * asks the IPAM delegate to release.
 */
import { deleteLink } from '../lib/iproute.ts';
import { childrenOfThisCall } from '../lib/exec.ts';
import { settled } from '../lib/settled.ts';
import { linkNames } from '../lib/links.ts';
import { applyNft } from '../lib/nft.ts';
import { execIpam } from './ipam.ts';
import { dropAttachmentRules } from './rules.ts';
import { hostVethName, removeRecord, type AttachmentRecord } from './state.ts';
import type { CniEnv } from './env.ts';
import type { Log } from './log.ts';
import type { BridgeConf } from './types.ts';
import type { NodePolicy } from './policy.ts';

export interface ReleaseOptions {
  ipam: boolean;
  log: Log;
  /** The node policy the IPAM delegate is held to again (cni/ipam.ts requireIpamPlugin). */
  policy: NodePolicy;
  /** Drop rules of every kind, not only those the current config enables (GC). */
  allRules?: boolean;
}

/**
 * Done once the kernel has unlisted the veth (lib/iproute.ts deleteLink): its name, its peer's and the port are
 * free then, about 20 ms before ip(8) returns.
 */
async function deleteHostVeth(hostVeth: string, log: Log): Promise<void> {
  const { gone, finished } = deleteLink(hostVeth);
  let answered = false;
  // A failure after the link left the list reaches no caller; the log keeps it. One while it is listed fails DEL.
  finished.catch(
    (e: Error) => answered && linkNames().has(hostVeth) && log.error({ err: e, hostVeth }, 'veth delete failed'),
  );
  await gone;
  answered = true;
}

/** Undo one attachment: IPAM release, host veth (its peer goes with it), nft tables. */
export async function releaseAttachment(
  conf: BridgeConf,
  env: CniEnv,
  rec: AttachmentRecord,
  opts: ReleaseOptions,
): Promise<void> {
  const rulesConf = opts.allRules ? { ...conf, macspoofchk: true, ipMasq: true } : conf;
  // The three steps are independent, so their child processes run in parallel.
  await settled([
    opts.ipam ? execIpam('DEL', { conf, env, log: opts.log, policy: opts.policy }, rec) : undefined,
    linkNames().has(rec.hostVeth) ? deleteHostVeth(rec.hostVeth, opts.log) : undefined,
    applyNft(dropAttachmentRules(rulesConf, rec.hostVeth)),
  ] as const);
}

export async function cmdDel(conf: BridgeConf, env: CniEnv, log: Log, policy: NodePolicy): Promise<void> {
  const rec: AttachmentRecord = {
    containerID: env.containerID,
    ifname: env.ifname,
    netns: env.netns,
    hostVeth: hostVethName(env.containerID, env.ifname),
    bridge: conf.bridge,
  };
  await releaseAttachment(conf, env, rec, { ipam: true, log, policy });
  removeRecord(conf.dataDir, conf.name, env.containerID, env.ifname);
  log.info({ containerID: env.containerID, ifname: env.ifname, children: childrenOfThisCall() }, 'deleted');
}
