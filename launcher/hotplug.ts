/**
 * The launcher's live changes to a running VM (KubeVirt's interface hotplug):
 * a new bridge NIC is wired in the pod, served by DHCP and hot-plugged by
 * libvirt; an absent one is unplugged by the guest, then unwired, so that the
 * CNI DEL that follows finds its pod interface; a link goes up or down. Each
 * action fails alone, undone, and leaves the other NICs as they were.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { discoverPod } from './discover.ts';
import { linkNamesFor } from './names.ts';
import { planBridgeNic } from './plan/bridge.ts';
import { liveActions, lowestFreeIndex } from './plan/hotplug.ts';
import { dhcpNicOf, type NicPlan, type PodPlan } from './plan/types.ts';
import { applyLiveNic, freshMacs, unwireNic } from './apply.ts';
import { interfaceXml, nicAlias, renderDeviceXml } from './domain/xml.ts';
import type { Virsh } from './domain/virsh.ts';
import type { DhcpNic } from './dhcp/dnsmasq-config.ts';
import { nicStatus, type LauncherStatus } from './status.ts';
import type { InterfaceSpec, LauncherSpec } from './spec.ts';

/** The libvirt calls a live change makes (domain/virsh.ts). */
export type LiveVirsh = Pick<Virsh, 'attachDevice' | 'detachDevice' | 'detachAlias' | 'updateDevice' | 'hasAlias'>;

/** What the running launcher lends its live changes. */
export interface LiveContext {
  stateDir: string;
  resolvConf: string;
  dummyLinks: boolean;
  plan: PodPlan;
  status: LauncherStatus;
  /** The running domain; undefined for a network-only launcher, whose NICs are wired with no VM. */
  vm?: { virsh: LiveVirsh; domain: string };
  /** Serve exactly these NICs: dnsmasq re-reads no config on SIGHUP, so this restarts it (the leases stay). */
  serveDhcp(nics: DhcpNic[]): Promise<void>;
  save(): void;
}

export interface LiveTimeouts {
  /** How long the guest has to release a NIC (ACPI/PCIe unplug needs its cooperation). */
  unplugMs: number;
  /** How often the detach is asked again meanwhile: a guest busy booting may ignore the first request. */
  retryMs: number;
}

export const DEFAULT_LIVE_TIMEOUTS: LiveTimeouts = { unplugMs: 30_000, retryMs: 5000 };

function dhcpNics(nics: readonly NicPlan[]): DhcpNic[] {
  return nics.flatMap((n) => dhcpNicOf(n) ?? []);
}

function deviceFile(ctx: LiveContext, nic: NicPlan): string {
  const file = join(ctx.stateDir, `nic-${nic.name}.xml`);
  writeFileSync(file, renderDeviceXml('interface', interfaceXml(nic)));
  return file;
}

/** Plan one hot-plugged bridge NIC on its pod interface, which the CNI ADD before this made. */
async function planPlug(ctx: LiveContext, spec: LauncherSpec, iface: InterfaceSpec) {
  const network = spec.networks.find((n) => n.name === iface.name);
  if (!network) throw new Error(`interface ${iface.name}: no network of that name`);
  if (!iface.bridge) throw new Error(`interface ${iface.name}: only the bridge binding can be hot-plugged`);
  const names = linkNamesFor(network);
  const pod = await discoverPod(ctx.resolvConf);
  const podIf = pod.interfaces.find((i) => i.name === names.podIf);
  if (!podIf) throw new Error(`interface ${iface.name}: pod interface ${names.podIf} not found (no CNI ADD made it)`);
  const mac = (iface.macAddress ?? podIf.mac).toLowerCase();
  const clash = ctx.plan.nics.find((n) => n.mac === mac);
  if (clash) throw new Error(`interface ${iface.name}: MAC ${mac} is already NIC ${clash.name}'s`);
  const index = lowestFreeIndex(ctx.plan.nics);
  const freshMac = freshMacs(1)[0]!;
  return {
    podIf,
    planned: planBridgeNic(spec, pod, { index, iface, pod: podIf, names, freshMac, dummyLinks: ctx.dummyLinks }),
  };
}

/** libvirt's "No more available PCI slots", said as what it means here and what to do about it. */
function noSlotSaidPlainly(iface: InterfaceSpec) {
  return (e: Error): never => {
    if (!/No more available PCI slots/u.test(e.message)) throw e;
    throw new Error(
      `interface ${iface.name}: no free PCI slot: every PCIe root port kept at boot for hot-plugged NICs is taken ` +
        '(the annotation virtnet.io/hotplug-ports sets how many the VM keeps; it takes effect at its next start)',
    );
  };
}

async function plug(ctx: LiveContext, spec: LauncherSpec, iface: InterfaceSpec): Promise<void> {
  const { podIf, planned } = await planPlug(ctx, spec, iface);
  const nic = planned.nic;
  await applyLiveNic(ctx.stateDir, podIf, nic, planned);
  const served = nic.dhcp !== undefined;
  try {
    if (served) await ctx.serveDhcp(dhcpNics([...ctx.plan.nics, nic]));
    if (ctx.vm) await ctx.vm.virsh.attachDevice(ctx.vm.domain, deviceFile(ctx, nic)).catch(noSlotSaidPlainly(iface));
  } catch (err) {
    if (served) await ctx.serveDhcp(dhcpNics(ctx.plan.nics)).catch(() => undefined);
    await unwireNic(ctx.stateDir, nic.names.podIf).catch(() => undefined);
    throw err;
  }
  ctx.plan.nics.push(nic);
  ctx.plan.warnings.push(...planned.warnings);
  ctx.status.nics.push({ ...nicStatus(nic), hotplugged: true });
  ctx.save();
}

/**
 * Ask the guest to release the NIC until it has, or the timeout passes; whether it is gone. The first request
 * names the NIC by its XML, which libvirt waits on (virsh.ts detachDevice); the later ones by its alias.
 */
async function detachFromGuest(ctx: LiveContext, nic: NicPlan, t: LiveTimeouts): Promise<boolean> {
  const vm = ctx.vm!;
  const alias = nicAlias(nic.name);
  const end = Date.now() + t.unplugMs;
  await vm.virsh.detachDevice(vm.domain, deviceFile(ctx, nic));
  let asked = Date.now();
  for (;;) {
    if (!(await vm.virsh.hasAlias(vm.domain, alias))) return true;
    if (Date.now() >= end) return false;
    if (Date.now() - asked >= t.retryMs) {
      asked = Date.now();
      // A request already pending makes QEMU answer with an error: the device is on its way out all the same.
      await vm.virsh.detachAlias(vm.domain, alias);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function unplug(ctx: LiveContext, name: string, t: LiveTimeouts): Promise<void> {
  const nic = ctx.plan.nics.find((n) => n.name === name);
  if (!nic) return;
  const status = ctx.status.nics.find((n) => n.name === name);
  if (status) status.removing = true;
  ctx.save();
  if (ctx.vm && !(await detachFromGuest(ctx, nic, t))) {
    // The IP stays with the pod interface until the NIC is really gone; the next change asks again.
    throw new Error(`interface ${name}: the guest did not release the NIC within ${t.unplugMs / 1000} s`);
  }
  ctx.plan.nics = ctx.plan.nics.filter((n) => n !== nic);
  if (nic.dhcp) await ctx.serveDhcp(dhcpNics(ctx.plan.nics));
  await unwireNic(ctx.stateDir, nic.names.podIf);
  ctx.status.nics = ctx.status.nics.filter((n) => n.name !== name);
  ctx.save();
}

async function setLink(ctx: LiveContext, name: string, state: NicPlan['linkState']): Promise<void> {
  const at = ctx.plan.nics.findIndex((n) => n.name === name);
  const nic = ctx.plan.nics[at];
  if (!nic) return;
  const changed: NicPlan = { ...nic, linkState: state };
  // virsh domif-setlink loses the tap's settings in libvirt 9.0.0 (libvirt#426); update-device with the
  // NIC's whole XML does not.
  if (ctx.vm) await ctx.vm.virsh.updateDevice(ctx.vm.domain, deviceFile(ctx, changed));
  ctx.plan.nics[at] = changed;
  const status = ctx.status.nics.find((n) => n.name === name);
  if (status) status.linkState = state;
  ctx.save();
}

/**
 * Take the running VM from `current` to `next`; returns the errors of the actions that failed (each undone),
 * after doing every other one. Throws only for a change that is not live at all (LiveChangeError).
 */
export async function applyLiveSpec(
  ctx: LiveContext,
  current: LauncherSpec,
  next: LauncherSpec,
  timeouts: LiveTimeouts = DEFAULT_LIVE_TIMEOUTS,
): Promise<string[]> {
  const actions = liveActions(current, next, ctx.plan.nics);
  const errors: string[] = [];
  const attempt = async (what: () => Promise<void>) => {
    await what().catch((e: Error) => errors.push(e.message));
  };
  // Unplugs first: a NIC re-added under another name may want the MAC or the index one of them frees.
  for (const name of actions.unplug) await attempt(() => unplug(ctx, name, timeouts));
  for (const iface of actions.plug) await attempt(() => plug(ctx, next, iface));
  for (const { name, state } of actions.link) await attempt(() => setLink(ctx, name, state));
  return errors;
}
