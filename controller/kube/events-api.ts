/**
 * The controller's Events written through @kubernetes/client-node's CoreV1Api
 * (control/events.ts records and correlates them; this is only the transport).
 */
import * as k8s from '@kubernetes/client-node';
import type { CoreEvent, EventApi } from '../control/events.ts';

/** EventApi over client-node's CoreV1Api (the controller's KubeApi has no events calls). */
export class KubeEventApi implements EventApi {
  private readonly core: k8s.CoreV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async createEvent(namespace: string, event: CoreEvent): Promise<void> {
    // client-node serialises its Date-typed fields with toISOString: hand it Dates.
    const body: k8s.CoreV1Event = {
      ...event,
      firstTimestamp: new Date(event.firstTimestamp),
      lastTimestamp: new Date(event.lastTimestamp),
    };
    await withCode(() => this.core.createNamespacedEvent({ namespace, body }));
  }

  async patchEvent(namespace: string, name: string, patch: { count: number; lastTimestamp: string }): Promise<void> {
    const asMergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    await withCode(() => this.core.patchNamespacedEvent({ namespace, name, body: patch }, asMergePatch));
  }
}

/** client-node's ApiException as an Error with the HTTP code and the server's message. */
async function withCode<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    let message = `the server answered ${err.code}`;
    try {
      const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { message?: string } | undefined;
      if (body?.message) message = body.message;
    } catch {
      // not JSON: the code says enough
    }
    throw Object.assign(new Error(message), { code: err.code });
  }
}
