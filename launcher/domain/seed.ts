/**
 * The cloud-init seed of a VM: planned from its cloud-init volume and its
 * NICs' plan (cloudinit/seed.ts), written as an ISO9660 image by xorriso
 * (lib/iso.ts), and attached read-only. It is built after the network plan
 * because the network-config virtnet renders names each NIC by the MAC the
 * plan gave it, and says what DHCP hands out there.
 */
import { join } from 'node:path';
import { planSeed } from '../cloudinit/seed.ts';
import type { GuestNicFacts } from '../cloudinit/network-data.ts';
import { buildIsoImage } from '../../lib/iso.ts';
import type { NicPlan } from '../plan/types.ts';
import type { CloudInitSpec } from '../spec.ts';
import type { DomainDisk } from './xml.ts';

export const SEED_FILE = 'cloud-init.iso';

/** What the guest's cloud-init must know of each NIC. */
export function guestNicFacts(nics: readonly NicPlan[]): GuestNicFacts[] {
  return nics.map((n) => ({
    name: n.name,
    mac: n.mac.toLowerCase(),
    mtu: n.mtu,
    dhcp4: n.dhcp?.ipv4 !== undefined,
    dhcp6: n.dhcp?.ipv6 !== undefined,
    staticAddresses: n.staticAddresses,
  }));
}

const decoded = (b64: string | undefined): Buffer | undefined =>
  b64 === undefined ? undefined : Buffer.from(b64, 'base64');

/** Build the seed in the launcher's state directory (mode 0600: user data holds passwords and keys). */
export async function buildSeedDisk(
  ci: CloudInitSpec,
  nics: readonly NicPlan[],
  stateDir: string,
): Promise<DomainDisk> {
  const userData = decoded(ci.userDataBase64);
  const networkData = decoded(ci.networkDataBase64);
  const plan = planSeed({
    kind: ci.kind,
    instanceId: ci.instanceId,
    hostname: ci.hostname,
    nics: guestNicFacts(nics),
    ...(userData && { userData }),
    ...(networkData && { networkData }),
  });
  const file = join(stateDir, SEED_FILE);
  await buildIsoImage(plan, file);
  return {
    file,
    format: 'raw',
    device: ci.disk.device,
    bus: ci.disk.bus,
    readonly: true,
    ...(ci.disk.bootOrder !== undefined && { bootOrder: ci.disk.bootOrder }),
  };
}
