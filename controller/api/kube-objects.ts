/**
 * The Kubernetes objects the controller, the node agent and the kubelet
 * role read from the API server, as narrow interfaces of the fields they
 * use (core/v1 types.go names). Pods and Nodes are the API server's own
 * types, which it validates: their shape is trusted once isKubeObject has
 * seen a named object. Custom resources (VMIs, VMs, NADs) stay StoredObject,
 * their spec unknown, until their own schema has checked them
 * (stored-vmi.ts, netattach/nad.ts).
 */
import { isObj } from '../../lib/json.ts';

/** client-node's typed list calls give Dates, its watch events and the custom-object calls RFC 3339 strings. */
export type Timestamp = string | Date;

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generateName?: string;
  resourceVersion?: string;
  creationTimestamp?: Timestamp;
  deletionTimestamp?: Timestamp;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

/** Any object the API server stores: its metadata is read; the rest is unknown until checked. */
export interface StoredObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
}

export interface PodContainer {
  name: string;
  image?: string;
}

export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** What the kubelet role writes and the controller reads of a pod's status. */
export interface PodStatus {
  phase?: string;
  reason?: string;
  message?: string;
  podIP?: string;
  podIPs?: Array<{ ip: string }>;
  conditions?: PodCondition[];
  startTime?: Timestamp;
  containerStatuses?: Array<Record<string, unknown>>;
}

export interface Pod extends StoredObject {
  spec?: { nodeName?: string; containers?: PodContainer[] };
  status?: PodStatus;
}

/** A pod to create: named by the server from generateName (render/pod.ts); its spec as core/v1 spells it. */
export interface PodManifest {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: Omit<ObjectMeta, 'name'> & { name?: string };
  spec: object;
}

/** A Node's fields as the node agent reads them: each checked again where it is used (node-peer.ts, pod-cidrs.ts). */
export interface NodeObject extends StoredObject {
  spec?: { podCIDR?: unknown; podCIDRs?: unknown };
  status?: { addresses?: unknown };
}

/** An object with a string metadata.name (and namespace, if any): what every object of the API server has. */
export function isKubeObject(o: unknown): o is StoredObject {
  if (!isObj(o) || !isObj(o.metadata)) return false;
  const { name, namespace } = o.metadata;
  return typeof name === 'string' && (namespace === undefined || typeof namespace === 'string');
}

/** A pod from the API server (which validated its shape): named, with object-shaped spec and status when present. */
export function isPod(o: unknown): o is Pod {
  return isKubeObject(o) && (o.spec === undefined || isObj(o.spec)) && (o.status === undefined || isObj(o.status));
}

/** A Node from the API server: its fields are checked where they are read. */
export function isNodeObject(o: unknown): o is NodeObject {
  return isKubeObject(o) && (o.spec === undefined || isObj(o.spec)) && (o.status === undefined || isObj(o.status));
}

/** Milliseconds since the epoch of a timestamp in either of client-node's forms; NaN when absent. */
export function timeOf(t: Timestamp | undefined): number {
  return t === undefined ? Number.NaN : t instanceof Date ? t.getTime() : Date.parse(t);
}
