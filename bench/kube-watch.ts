/**
 * A bench's own view of an API server resource: one raw watch stream (the
 * newline-delimited JSON events of
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes),
 * the latest object by name, and every event handed on with the moment it
 * arrived. No client library: a bench that watches what a controller does
 * should cost the API server one stream and its own process little.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';

/** What a bench reads of an object: its name, labels and status phase; the rest is passed on as it came. */
export interface WatchedObject {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: { phase?: string; reason?: string; [field: string]: unknown };
  [field: string]: unknown;
}

/** Epoch milliseconds with sub-millisecond precision, comparable across processes of one machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ResourceWatch {
  /** The latest state of each object seen, by "namespace/name". */
  readonly objects: Map<string, WatchedObject>;
  /**
   * Resolves once `holds()` is true (checked now and after every event); rejects after timeoutMs, or with what
   * `failed()` names.
   */
  until(holds: () => boolean, what: string, timeoutMs: number, failed?: () => string | undefined): Promise<void>;
  close(): void;
}

interface Waiter {
  check(): void;
}

/**
 * Watches `path` (e.g. /api/v1/pods) from now, the current objects first as
 * ADDED (no resourceVersion: the server's "start at the most recent").
 * Resolves when the stream's headers arrive.
 */
export function watchResource(
  baseUrl: string,
  path: string,
  query: Record<string, string>,
  onEvent: (type: WatchEventType, o: WatchedObject, at: number) => void,
): Promise<ResourceWatch> {
  const objects = new Map<string, WatchedObject>();
  const waiters = new Set<Waiter>();
  // Why the stream is no good any more, which fails every wait on it.
  let broken: string | undefined;
  let closed = false;
  const breakWith = (why: string) => {
    broken ??= why;
    for (const w of [...waiters]) w.check();
  };
  const url = new URL(path, baseUrl);
  for (const [k, v] of Object.entries({ ...query, watch: 'true' })) url.searchParams.set(k, v);
  const handleLine = (line: string) => {
    if (!line.trim()) return;
    const at = nowMs();
    let e: { type: string; object: WatchedObject };
    try {
      e = JSON.parse(line) as typeof e;
    } catch (err) {
      return breakWith(`watch ${path}: an event that is not JSON (${(err as Error).message})`);
    }
    if (e.type === 'BOOKMARK') return;
    if (e.type === 'ERROR') return breakWith(`watch ${path}: ${e.object?.message ?? JSON.stringify(e.object)}`);
    const id = `${e.object.metadata.namespace ?? ''}/${e.object.metadata.name}`;
    if (e.type === 'DELETED') objects.delete(id);
    else objects.set(id, e.object);
    onEvent(e.type as WatchEventType, e.object, at);
    for (const w of [...waiters]) w.check();
  };
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(url, { method: 'GET' }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        reject(new Error(`watch ${url.pathname}${url.search}: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      let partial = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        lines.forEach(handleLine);
      });
      res.on('error', () => undefined); // close() destroys the stream on purpose
      res.on('close', () => {
        if (!closed) breakWith(`watch ${path}: the stream ended`);
      });
      resolve({
        objects,
        until: (holds, what, timeoutMs, failed) => wait(waiters, holds, what, timeoutMs, () => broken ?? failed?.()),
        close: () => {
          closed = true;
          req.destroy();
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function wait(
  waiters: Set<Waiter>,
  holds: () => boolean,
  what: string,
  timeoutMs: number,
  failed?: () => string | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      waiters.delete(waiter);
      if (err) reject(err);
      else resolve();
    };
    const waiter: Waiter = {
      check() {
        const failure = failed?.();
        if (failure) done(new Error(`while waiting for ${what}: ${failure}`));
        else if (holds()) done();
      },
    };
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    waiters.add(waiter);
    waiter.check();
  });
}
