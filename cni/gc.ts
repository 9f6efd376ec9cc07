/**
 * GC (CNI 1.1): release every attachment of this network that is not in
 * cni.dev/valid-attachments (or the legacy cni.dev/attachments), then pass
 * GC on to an IPAM delegate that speaks 1.1.0.
 */
import { releaseAttachment } from './del.ts';
import { execIpam } from './ipam.ts';
import { listRecords, removeRecord } from './state.ts';
import type { CniEnv } from './env.ts';
import type { Log } from './log.ts';
import type { BridgeConf } from './types.ts';

export async function cmdGc(conf: BridgeConf, env: CniEnv, log: Log): Promise<void> {
  const valid = new Set((conf.validAttachments ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
  const errors: Error[] = [];
  for (const rec of listRecords(conf.dataDir, conf.name)) {
    if (valid.has(`${rec.containerID}\0${rec.ifname}`)) continue;
    try {
      await releaseAttachment(conf, env, rec, { ipam: true, log, allRules: true });
      removeRecord(conf.dataDir, conf.name, rec.containerID, rec.ifname);
      log.info('collected', { containerID: rec.containerID, ifname: rec.ifname, hostVeth: rec.hostVeth });
    } catch (e) {
      errors.push(e as Error);
    }
  }
  await execIpam('GC', { conf, env, log }).catch((e: Error) => errors.push(e));
  if (errors.length) throw errors[0];
}
