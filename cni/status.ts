/**
 * STATUS (CNI 1.1): code 50 when this plugin cannot serve an ADD now,
 * such as a missing IPAM plugin or a missing system tool.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { execIpam, findPlugin } from './ipam.ts';
import type { CniEnv } from './env.ts';
import type { Log } from './log.ts';
import type { BridgeConf } from './types.ts';
import type { NodePolicy } from './policy.ts';

const SYSTEM_PATH = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter((d) => d.startsWith('/'));

export async function cmdStatus(conf: BridgeConf, env: CniEnv, log: Log, policy: NodePolicy): Promise<void> {
  if (conf.ipam && !findPlugin(conf.ipam.type, env.path)) {
    throw new VirtnetError(
      ErrorCode.notAvailable,
      `ipam plugin "${conf.ipam.type}" not found in CNI_PATH (${env.path.join(':')})`,
    );
  }
  const tools = ['ip', 'nsenter', ...(conf.ipMasq || conf.macspoofchk || conf.vlanTrunk ? ['nft'] : [])];
  for (const tool of tools) {
    if (!findPlugin(tool, SYSTEM_PATH))
      throw new VirtnetError(
        ErrorCode.notAvailable,
        `${tool} not found in PATH; install iproute2, util-linux and nftables`,
      );
  }
  await execIpam('STATUS', { conf, env, log, policy });
}
