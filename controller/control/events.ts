/**
 * Kubernetes Events about VMIs, as client-go's EventRecorder writes them:
 * core/v1 Events (what `kubectl describe` lists under "Events:", matched by
 * involvedObject name, namespace, kind and uid), named <object>.<hex ns>, and
 * correlated: an event identical to one already written (same object, type,
 * reason and message) bumps that one's count and lastTimestamp instead of
 * adding another (client-go's EventCorrelator; kubectl shows "x3 over 2m").
 * Events are best-effort, as in client-go: a failed write is logged and never
 * fails the reconcile that caused it.
 * https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/
 */
import type { Logger } from 'pino';
import type { VmiEvent } from './vmi-events.ts';

/** The fields of a core/v1 Event this controller writes, timestamps as RFC 3339 text. */
export interface CoreEvent {
  metadata: { name: string; namespace: string };
  involvedObject: {
    apiVersion: string;
    kind: string;
    name: string;
    namespace: string;
    uid: string;
    resourceVersion?: string;
  };
  type: VmiEvent['type'];
  reason: string;
  message: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component: string };
  reportingComponent: string;
  reportingInstance: string;
}

/** What the recorder needs of the API: create, and a merge patch of count and lastTimestamp. */
export interface EventApi {
  createEvent(namespace: string, event: CoreEvent): Promise<void>;
  /** Rejects with an error whose `code` is 404 when the event is gone (events expire, an hour by default). */
  patchEvent(namespace: string, name: string, patch: { count: number; lastTimestamp: string }): Promise<void>;
}

/** The object an event is about: a VMI as the API returns it. */
export interface EventSubject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

/** kube-apiserver refuses longer messages on events.k8s.io; client-go truncates to this length. */
export const MAX_MESSAGE = 1024;
/** client-go's correlator cache size (maxLruCacheEntries). */
const CACHE_ENTRIES = 4096;

export const COMPONENT = 'virtnet-controller';

function truncate(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 3)}...`;
}

/** Seconds precision, as metav1.Time serialises. */
const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d+Z$/u, 'Z');

export class EventRecorder {
  private readonly seen = new Map<string, { name: string; count: number }>();
  /** Added to the nanoseconds of a name, so that two events of one millisecond never share it. */
  private sequence = 0;

  constructor(
    private readonly api: EventApi,
    private readonly log: Logger,
    private readonly o: { instance: string; defaultApiVersion: string; defaultKind: string; now?: () => Date },
  ) {}

  /** Writes one event about `subject`; resolves once written (or once its failure is logged). */
  async record(subject: EventSubject, e: VmiEvent): Promise<void> {
    const { name, namespace = 'default', uid = '', resourceVersion } = subject.metadata;
    const message = truncate(e.message);
    const key = JSON.stringify([namespace, name, uid, e.type, e.reason, message]);
    const now = (this.o.now ?? (() => new Date()))();
    const at = rfc3339(now);
    try {
      const known = this.seen.get(key);
      if (known && (await this.bump(namespace, known, at))) return;
      const event: CoreEvent = {
        // client-go names an event <object>.<UnixNano in hex>: unique, and sorted by time within an object.
        metadata: {
          name: `${name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(this.sequence++ % 1_000_000)).toString(16)}`,
          namespace,
        },
        involvedObject: {
          apiVersion: subject.apiVersion ?? this.o.defaultApiVersion,
          kind: subject.kind ?? this.o.defaultKind,
          name,
          namespace,
          uid,
          ...(resourceVersion && { resourceVersion }),
        },
        type: e.type,
        reason: e.reason,
        message,
        count: 1,
        firstTimestamp: at,
        lastTimestamp: at,
        source: { component: COMPONENT },
        reportingComponent: COMPONENT,
        reportingInstance: this.o.instance,
      };
      await this.api.createEvent(namespace, event);
      this.remember(key, { name: event.metadata.name, count: 1 });
    } catch (err) {
      this.log.warn({ object: `${namespace}/${name}`, reason: e.reason, err }, 'event not written');
    }
  }

  /** Counts a repeat on the event already written; false when that one has expired (so a new one is made). */
  private async bump(namespace: string, known: { name: string; count: number }, at: string): Promise<boolean> {
    try {
      await this.api.patchEvent(namespace, known.name, { count: known.count + 1, lastTimestamp: at });
      known.count += 1;
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return false;
      throw err;
    }
  }

  private remember(key: string, v: { name: string; count: number }): void {
    this.seen.delete(key);
    this.seen.set(key, v);
    // A Map iterates in insertion order: the first key is the least recently written.
    if (this.seen.size > CACHE_ENTRIES) this.seen.delete(this.seen.keys().next().value!);
  }
}
