/**
 * GC (CNI 1.1): release every attachment of this network that is not in
 * cni.dev/valid-attachments (or the legacy cni.dev/attachments), and whose
 * ADD is not still running, then pass
 * GC on to an IPAM delegate that speaks 1.1.0.
 */
import { releaseAttachment } from './del.ts';
import { execIpam } from './ipam.ts';
import { addInFlight, listRecords, removeRecord } from './state.ts';
import type { CniEnv } from './env.ts';
import type { Log } from './log.ts';
import type { BridgeConf } from './types.ts';
import type { NodePolicy } from './policy.ts';

export async function cmdGc(conf: BridgeConf, env: CniEnv, log: Log, policy: NodePolicy): Promise<void> {
  const valid = new Set((conf.validAttachments ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
  const errors: Error[] = [];
  for (const rec of listRecords(conf.dataDir, conf.name)) {
    if (valid.has(`${rec.containerID}\0${rec.ifname}`)) continue;
    // An ADD in flight wrote its record before its runtime could list it as
    // valid; collecting it would take the veth and IP of an ADD that succeeds.
    if (addInFlight(rec)) {
      log.info({ containerID: rec.containerID, ifname: rec.ifname, addPid: rec.addPid }, 'skipped: ADD in flight');
      continue;
    }
    try {
      await releaseAttachment(conf, env, rec, { ipam: true, log, allRules: true, policy });
      removeRecord(conf.dataDir, conf.name, rec.containerID, rec.ifname);
      log.info({ containerID: rec.containerID, ifname: rec.ifname, hostVeth: rec.hostVeth }, 'collected');
    } catch (e) {
      // Only the first error is the result; each one is in the log.
      log.warn({ containerID: rec.containerID, ifname: rec.ifname, err: e }, 'not collected');
      errors.push(e as Error);
    }
  }
  await execIpam('GC', { conf, env, log, policy }).catch((e: Error) => errors.push(e));
  if (errors.length) throw errors[0];
}
