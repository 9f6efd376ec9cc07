// Helpers for tests that drive the test API server through @kubernetes/client-node.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';

/** Polls until pred() holds, failing after timeoutMs: no wait in a test is unbounded. */
export async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The Status a failed call carried: client-node's ApiException holds the response text as its body. */
export async function apiError(call: Promise<unknown>): Promise<{ code: number; status: Record<string, any> }> {
  const err = await call.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof k8s.ApiException, `expected an ApiException, got ${String(err)}`);
  const e = err as k8s.ApiException<unknown>;
  const status = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
  return { code: e.code, status };
}

export interface WatchEvent {
  type: string;
  object: Record<string, any>;
}

/** A client-node Watch whose events are collected; `ended` settles when the stream ends. */
export function collectWatch(kc: k8s.KubeConfig, path: string, query: Record<string, string | number | boolean>) {
  const events: WatchEvent[] = [];
  let endedWith: (err: unknown) => void = () => undefined;
  const ended = new Promise<unknown>((resolve) => {
    endedWith = resolve;
  });
  const request = new k8s.Watch(kc).watch(
    path,
    query,
    (type, object) => events.push({ type, object }),
    (err) => endedWith(err),
  );
  return {
    events,
    ended,
    /** Waits for at least n events. */
    waitFor: (n: number, timeoutMs = 5000) =>
      until(() => events.length >= n, `${n} watch events on ${path}`, timeoutMs),
    stop: async () => (await request).abort(),
  };
}

/**
 * A port free a moment ago (bound, then released): for a child process that must be told its port, or a port nothing
 * listens on.
 */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}
