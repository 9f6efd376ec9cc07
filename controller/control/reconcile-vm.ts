/**
 * A VirtualMachine's VMI, by its run strategy (KubeVirt's
 * pkg/virt-controller/watch/vm.go): Always makes one whenever there is none
 * or it ended; RerunOnFailure remakes it only after a failure; Once makes it
 * once; Halted deletes it; Manual leaves it to the user. `running: true`
 * means Always, `false` Halted. The VMI is named after the VM and owned by
 * it. Status says what a user wants to read: printableStatus, ready, created.
 * Pure.
 */
import { isDeepStrictEqual } from 'node:util';
import { runStrategyOf } from '../api/normalize.ts';
import { vmiForVm } from '../render/vmi.ts';
import type { VirtualMachine } from '../api/schema.ts';

type Obj = Record<string, any>;

export type VmAction =
  | { type: 'createVmi'; vmi: Obj }
  | { type: 'deleteVmi'; name: string }
  | { type: 'setVmStatus'; status: Obj };

function printable(strategy: string, vmi: Obj | undefined, ranOnce: boolean): string {
  if (!vmi)
    return strategy === 'Halted' || strategy === 'Manual' || (strategy === 'Once' && ranOnce) ? 'Stopped' : 'Starting';
  if (vmi.metadata.deletionTimestamp) return 'Stopping';
  const phase = vmi.status?.phase;
  if (phase === 'Running') return 'Running';
  if (phase === 'Failed') return 'CrashLoopBackOff';
  if (phase === 'Succeeded') return 'Stopped';
  return 'Starting';
}

export function reconcileVm(vm: Obj, vmi: Obj | undefined): VmAction[] {
  const strategy = runStrategyOf(vm as VirtualMachine);
  const owned = vmi?.metadata.ownerReferences?.some((r: Obj) => r.uid === vm.metadata.uid);
  const ended = vmi?.status?.phase === 'Succeeded' || vmi?.status?.phase === 'Failed';
  const actions: VmAction[] = [];
  if (vmi && !owned) {
    // A VMI of this name that the VM does not own is the user's: never touch it.
    const status = {
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
    (strategy === 'Always' || (strategy === 'RerunOnFailure' && vmi.status.phase === 'Failed'));
  if (strategy === 'Halted' && vmi && !vmi.metadata.deletionTimestamp)
    actions.push({ type: 'deleteVmi', name: vmi.metadata.name });
  else if (remake) actions.push({ type: 'deleteVmi', name: vmi.metadata.name });
  else if (!vmi && ['Always', 'RerunOnFailure'].includes(strategy))
    actions.push({ type: 'createVmi', vmi: vmiForVm(vm) });
  else if (!vmi && strategy === 'Once' && !vm.status?.ranOnce) actions.push({ type: 'createVmi', vmi: vmiForVm(vm) });
  const ranOnce = strategy === 'Once' && (vmi !== undefined || vm.status?.ranOnce === true);
  const status = {
    printableStatus: printable(strategy, vmi, ranOnce),
    ready: vmi?.status?.phase === 'Running',
    created: vmi !== undefined,
    runStrategy: strategy,
    ...(ranOnce && { ranOnce: true }),
  };
  if (!isDeepStrictEqual(status, vm.status ?? {})) actions.push({ type: 'setVmStatus', status });
  return actions;
}
