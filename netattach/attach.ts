/**
 * A pod's attachments, Multus-style: the cluster-default network first (eth0),
 * then each selected network in order, sequentially; each result cached. If
 * an ADD fails, every attachment already made is deleted before the error is
 * returned. DEL runs in reverse from the cache (so a deleted NAD or a restart
 * cannot leak an IP), best-effort, and always removes the cache entries.
 */
import { VirtnetError } from '../lib/errors.ts';
import type { CniResult } from '../cni/types.ts';
import { addList, delList, type ConfList, type InvokeOptions, type RuntimeArgs } from './invoke.ts';
import { cachedFor, cachedList, removeCache, writeCache } from './cache.ts';

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
  containerID: string;
  netns: string;
}

export interface AttachmentRequest {
  /** "<ns>/<nad>" for secondaries, the network's own name for the default. */
  name: string;
  list: ConfList;
  ifname: string;
  isDefault: boolean;
  capabilityArgs?: Record<string, unknown>;
  argsCni?: Record<string, unknown>;
}

export interface Attached {
  request: AttachmentRequest;
  result: CniResult;
}

export interface AttachOptions extends InvokeOptions {
  cacheDir: string;
}

function runtimeArgs(pod: PodRef, a: Pick<AttachmentRequest, 'ifname' | 'capabilityArgs' | 'argsCni'>): RuntimeArgs {
  return {
    containerID: pod.containerID,
    netns: pod.netns,
    ifname: a.ifname,
    cniArgs: [
      ['K8S_POD_NAMESPACE', pod.namespace],
      ['K8S_POD_NAME', pod.name],
      ['K8S_POD_INFRA_CONTAINER_ID', pod.containerID],
      ['K8S_POD_UID', pod.uid],
    ],
    ...(a.capabilityArgs && { capabilityArgs: a.capabilityArgs }),
    ...(a.argsCni && { argsCni: a.argsCni }),
  };
}

export async function attachPod(pod: PodRef, requests: AttachmentRequest[], o: AttachOptions): Promise<Attached[]> {
  const done: Attached[] = [];
  for (const request of requests) {
    const rt = runtimeArgs(pod, request);
    try {
      const result = await addList(request.list, rt, o);
      writeCache(o.cacheDir, request.list, rt, result);
      done.push({ request, result });
    } catch (err) {
      // The failed one too: a plugin may have made part of its attachment.
      await delList(request.list, rt, o);
      await detachPod(pod, o);
      const e = err as VirtnetError;
      throw new VirtnetError(
        e.code ?? 100,
        `[${pod.namespace}/${pod.name}/${pod.uid}:${request.list.name}]: ` +
          `error adding container to network "${request.list.name}": ${e.message}`,
        { cause: err },
      );
    }
  }
  return done;
}

/** DEL every cached attachment of the pod, newest first. Returns the errors (the cache is cleared regardless). */
export async function detachPod(pod: PodRef, o: AttachOptions): Promise<Error[]> {
  const errors: Error[] = [];
  for (const entry of cachedFor(o.cacheDir, pod.containerID).reverse()) {
    const rt = {
      ...runtimeArgs(pod, { ifname: entry.ifName, capabilityArgs: entry.capabilityArgs }),
      netns: pod.netns || entry.netns,
    };
    const err = await delList(cachedList(entry), rt, o, entry.result);
    if (err) errors.push(err);
    removeCache(o.cacheDir, entry.networkName, entry.containerId, entry.ifName);
  }
  return errors;
}
