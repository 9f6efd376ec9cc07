/**
 * The launcher's steps: the names its status.json reports, a contract with
 * the node runtime (`up`'s progress, controller/node/wait.ts), the VMI
 * status (controller/status/vmi.ts) and the node agent's metrics
 * (controller/agent/node-metrics.ts). Crash points are named after them
 * (launcher.<step>.start and .done, lib/crash-point.ts).
 */
const STEPS = {
  discover: 'discover pod',
  plan: 'plan',
  network: 'launcher network',
  dhcp: 'dhcp server',
  accel: 'accelerator',
  libvirtd: 'libvirt',
  disks: 'disks',
  boot: 'boot',
} as const;

export type LauncherStep = keyof typeof STEPS;

/** Each step's name and what `up` and `describe` call it, in the order the steps run (dhcp only with DHCP). */
export const LAUNCHER_STEPS: Readonly<Record<string, string>> = STEPS;

/** The steps that set up the pod network (discover, plan, apply): the node agent's network setup duration. */
export const NETWORK_SETUP_STEPS: readonly LauncherStep[] = ['discover', 'plan', 'network'];
