/**
 * VMIs and VMs as the API server hands them back: the webhook admitted them
 * (when it is installed), but the controller checks each once against the
 * schema before it reads a spec field, so that a VMI stored without the
 * webhook never reaches a renderer untyped.
 */
import { Value } from '@sinclair/typebox/value';
import { isObj } from '../../lib/json.ts';
import type { ObjectMeta, StoredObject } from './kube-objects.ts';
import {
  VirtualMachineInstanceSchema,
  VirtualMachineSchema,
  type VirtualMachine,
  type VirtualMachineInstance,
} from './schema.ts';
import type { VmiStatus } from './status.ts';

export type StoredVmi = StoredObject & VirtualMachineInstance & { metadata: ObjectMeta };
export type StoredVm = StoredObject & VirtualMachine & { metadata: ObjectMeta };

export function isStoredVmi(o: StoredObject): o is StoredVmi {
  return Value.Check(VirtualMachineInstanceSchema, o);
}

export function isStoredVm(o: StoredObject): o is StoredVm {
  return Value.Check(VirtualMachineSchema, o);
}

/**
 * The status this controller wrote (the status subresource is its own):
 * undefined when there is none, or when it lacks a phase and interfaces.
 */
export function vmiStatusOf(o: StoredObject): VmiStatus | undefined {
  return isWrittenStatus(o.status) ? o.status : undefined;
}

function isWrittenStatus(s: unknown): s is VmiStatus {
  return isObj(s) && typeof s.phase === 'string' && Array.isArray(s.interfaces);
}
