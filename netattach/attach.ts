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
    try {
      done.push(await attachOne(pod, request, o));
    } catch (err) {
      // attachOne has DELeted the failed one (a plugin may have made part of it); the ones before go too.
      await detachPod(pod, o);
      throw err;
    }
  }
  return done;
}

/**
 * ADD one attachment (into a running pod too: interface hotplug, as multus-dynamic-networks-controller does):
 * cached on success; on failure its own DEL runs, so nothing it made is left, and the pod's other
 * attachments are not touched.
 */
export async function attachOne(pod: PodRef, request: AttachmentRequest, o: AttachOptions): Promise<Attached> {
  const rt = runtimeArgs(pod, request);
  try {
    const result = await addList(request.list, rt, o);
    writeCache(o.cacheDir, request.list, rt, result);
    return { request, result };
  } catch (err) {
    // The failed one too: a plugin may have made part of its attachment.
    await delList(request.list, rt, o);
    const e = err as VirtnetError;
    throw new VirtnetError(
      e.code ?? 100,
      `[${pod.namespace}/${pod.name}/${pod.uid}:${request.list.name}]: ` +
        `error adding container to network "${request.list.name}": ${e.message}`,
      { cause: err },
    );
  }
}

/**
 * DEL one attachment of a running pod (unplug) from its cache entry, which goes once the DEL worked; with no
 * entry, from the request as journaled (an ADD cut short). DEL is idempotent (CNI spec, "DEL"), so an
 * attachment already gone is no error. Returns the DEL's error, if any.
 */
export async function detachOne(pod: PodRef, request: AttachmentRequest, o: AttachOptions): Promise<Error | undefined> {
  const entry = cachedFor(o.cacheDir, pod.containerID).find((e) => e.ifName === request.ifname);
  if (!entry) return delList(request.list, runtimeArgs(pod, request), o);
  const rt = { ...runtimeArgs(pod, { ifname: entry.ifName, capabilityArgs: entry.capabilityArgs }), netns: pod.netns };
  const err = await delList(cachedList(entry), rt, o, entry.result);
  if (!err) removeCache(o.cacheDir, entry.networkName, entry.containerId, entry.ifName);
  return err;
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
