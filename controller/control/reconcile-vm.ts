/**
 * A VirtualMachine's VMI, by its run strategy (KubeVirt's
 * pkg/virt-controller/watch/vm.go): Always makes one whenever there is none
 * or it ended; RerunOnFailure remakes it only after a failure; Once makes it
 * once; Halted deletes it; Manual leaves it to the user. `running: true`
 * means Always, `false` Halted. The VMI is named after the VM and owned by
 * it. Status says what a user wants to read: printableStatus, ready, created.
 *
 * A template change reaches a running VMI when the VMI can take it live
 * (live-update.ts: interfaces plugged, unplugged, set up or down), as
 * KubeVirt's LiveUpdate rollout strategy does for interfaces: the VMI's spec
 * is replaced by the template's. Any other change waits for the next start,
 * and status.restartRequired says which fields (KubeVirt's RestartRequired
 * condition). Pure.
 */
import { isDeepStrictEqual } from 'node:util';
import { isObj } from '../../lib/json.ts';
import type { StoredObject } from '../api/kube-objects.ts';
import { runStrategyOf } from '../api/normalize.ts';
import { clashMessage, liveChange } from '../api/live-update.ts';
import type { RunStrategy, VmiSpec } from '../api/schema.ts';
import { isStoredVmi, vmiStatusOf, type StoredVm } from '../api/stored-vmi.ts';
import { vmiForVm, type OwnedVmi } from '../render/vmi.ts';

/** KubeVirt's VirtualMachineStatus fields that virtnet writes. */
export interface VmStatus {
  printableStatus: string;
  ready: boolean;
  created: boolean;
  runStrategy: RunStrategy;
  reason?: string;
  ranOnce?: true;
  /** The template's changes the running VMI cannot take live, until its next start (clashMessage). */
  restartRequired?: string;
}

export type VmAction =
  | { type: 'createVmi'; vmi: OwnedVmi }
  | { type: 'deleteVmi'; name: string }
  | { type: 'setVmStatus'; status: VmStatus }
  /** Replace the running VMI's spec with the template's: every difference is one it takes live. */
  | { type: 'updateVmiSpec'; name: string; spec: VmiSpec };

function printable(strategy: string, vmi: StoredObject | undefined, ranOnce: boolean): string {
  if (!vmi)
    return strategy === 'Halted' || strategy === 'Manual' || (strategy === 'Once' && ranOnce) ? 'Stopped' : 'Starting';
  if (vmi.metadata.deletionTimestamp) return 'Stopping';
  const phase = vmiStatusOf(vmi)?.phase;
  if (phase === 'Running') return 'Running';
  if (phase === 'Failed') return 'CrashLoopBackOff';
  if (phase === 'Succeeded') return 'Stopped';
  return 'Starting';
}

/**
 * What the template changes on a VMI that lives on (owned, not being deleted,
 * not ended): its spec when the change can be made live, or why the rest
 * must wait for a restart. A VMI stored without passing the schema is not
 * read: nothing is done to it, and its next start takes the template.
 */
function liveUpdate(vm: StoredVm, vmi: StoredObject): { spec?: VmiSpec; restartRequired?: string } {
  if (!isStoredVmi(vmi)) return {};
  const wanted = vmiForVm(vm).spec;
  const change = liveChange(vmi.spec, wanted);
  if (change.kind === 'live') return { spec: wanted };
  if (change.kind === 'clash') return { restartRequired: clashMessage(change.fields) };
  return {};
}

/** Whether the VM's own status says its Once VMI was made. */
const ranBefore = (vm: StoredVm) => isObj(vm.status) && vm.status.ranOnce === true;

export function reconcileVm(vm: StoredVm, vmi: StoredObject | undefined): VmAction[] {
  const strategy = runStrategyOf(vm);
  const owned = vmi?.metadata.ownerReferences?.some((r) => r.uid === vm.metadata.uid);
  const phase = vmi && vmiStatusOf(vmi)?.phase;
  const ended = phase === 'Succeeded' || phase === 'Failed';
  const actions: VmAction[] = [];
  if (vmi && !owned) {
    // A VMI of this name that the VM does not own is the user's: never touch it.
    const status: VmStatus = {
      printableStatus: 'Stopped',
      ready: false,
      created: false,
      runStrategy: strategy,
      reason: `VirtualMachineInstance ${vmi.metadata.name} exists and is not owned by this VM`,
    };
    return isDeepStrictEqual(status, vm.status ?? {}) ? [] : [{ type: 'setVmStatus', status }];
  }
  const remake =
    vmi &&
    !vmi.metadata.deletionTimestamp &&
    ended &&
    (strategy === 'Always' || (strategy === 'RerunOnFailure' && phase === 'Failed'));
  if (strategy === 'Halted' && vmi && !vmi.metadata.deletionTimestamp)
    actions.push({ type: 'deleteVmi', name: vmi.metadata.name });
  else if (remake) actions.push({ type: 'deleteVmi', name: vmi.metadata.name });
  else if (!vmi && ['Always', 'RerunOnFailure'].includes(strategy))
    actions.push({ type: 'createVmi', vmi: vmiForVm(vm) });
  else if (!vmi && strategy === 'Once' && !ranBefore(vm)) actions.push({ type: 'createVmi', vmi: vmiForVm(vm) });
  // A VMI on its way out (deleted, ended, about to be remade) starts again from the template: nothing to update.
  const update = vmi && !vmi.metadata.deletionTimestamp && !ended && !actions.length ? liveUpdate(vm, vmi) : {};
  if (vmi && update.spec) actions.push({ type: 'updateVmiSpec', name: vmi.metadata.name, spec: update.spec });
  const ranOnce = strategy === 'Once' && (vmi !== undefined || ranBefore(vm));
  const status: VmStatus = {
    printableStatus: printable(strategy, vmi, ranOnce),
    ready: phase === 'Running',
    created: vmi !== undefined,
    runStrategy: strategy,
    ...(ranOnce && { ranOnce: true }),
    ...(update.restartRequired && { restartRequired: update.restartRequired }),
  };
  if (!isDeepStrictEqual(status, vm.status ?? {})) actions.push({ type: 'setVmStatus', status });
  return actions;
}
