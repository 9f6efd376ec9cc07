// Watches: a chunked HTTP 200 response carrying one JSON event per line.
// https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
// https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks
import type { ServerResponse } from 'node:http';
import { fieldSelector, labelSelector } from './selectors.ts';
import { apiVersionOf, resourceKey, type ResourceDef } from './resources.ts';
import { badRequest, expiredStatus, type Status } from './status.ts';
import type { Store, StoredEvent } from './store.ts';
import { clone, type Obj } from './util.ts';

export interface WatchRequest {
  def: ResourceDef;
  namespace?: string;
  name?: string;
  query: URLSearchParams;
}

interface OpenWatch {
  lastRv: number;
  end(error?: Status): void;
}

const tooOld = (rv: number, compactedAt: number) => `too old resource version: ${rv} (${compactedAt})`;

export class WatchHub {
  private readonly open = new Set<OpenWatch>();

  constructor(
    private readonly store: Store,
    private readonly bookmarkIntervalMs: number,
  ) {}

  /** Checks the request (throwing a KubeError while an error answer is still possible), then streams. */
  serve(res: ServerResponse, req: WatchRequest, onStart: () => void): void {
    const { def, namespace, name, query } = req;
    const labels = labelSelector(query.get('labelSelector'));
    const fields = fieldSelector(query.get('fieldSelector'), def);
    const matches = (o: Obj) =>
      (namespace === undefined || o.metadata.namespace === namespace) &&
      (name === undefined || o.metadata.name === name) &&
      labels(o) &&
      fields(o);
    const rvParam = query.get('resourceVersion') ?? '';
    if (rvParam !== '' && !/^\d+$/.test(rvParam)) throw badRequest(`invalid resource version: ${rvParam}`);
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    if (!(timeoutSeconds >= 0)) throw badRequest(`invalid timeoutSeconds: ${query.get('timeoutSeconds')}`);
    const initialEvents = query.get('sendInitialEvents') === 'true';
    // Unset or "0": start with the current state as synthetic ADDED events. A number: resume after it.
    const from = rvParam === '' || rvParam === '0' || initialEvents ? undefined : Number(rvParam);

    onStart();
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders(); // a client waits for the headers before it reads any event
    const send = (type: string, object: unknown) => {
      if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    if (from !== undefined && from < this.store.compactedAt) {
      // The real server answers 200 and reports the expiry in the stream, then ends it.
      send('ERROR', expiredStatus(tooOld(from, this.store.compactedAt)));
      res.end();
      return;
    }
    const bookmark = (annotations?: Record<string, string>) =>
      send('BOOKMARK', {
        kind: def.kind,
        apiVersion: apiVersionOf(def),
        metadata: { resourceVersion: String(this.store.currentRV), ...(annotations ? { annotations } : {}) },
      });
    const watch: OpenWatch = { lastRv: from ?? this.store.currentRV, end: () => undefined };
    const deliver = (e: StoredEvent) => {
      if (resourceKey(e.def) !== resourceKey(def)) return;
      watch.lastRv = e.rv;
      const now = e.type !== 'DELETED' && matches(e.object);
      const before = e.prev !== undefined && matches(e.prev);
      // Selectors see transitions: an object that starts matching is ADDED, one that stops
      // matching is DELETED (its previous state at the new resourceVersion), as the watch cache does.
      if (e.type === 'DELETED') {
        if (before) send('DELETED', e.object);
      } else if (now && before) send('MODIFIED', e.object);
      else if (now) send('ADDED', e.object);
      else if (before)
        send('DELETED', { ...clone(e.prev!), metadata: { ...clone(e.prev!.metadata), resourceVersion: String(e.rv) } });
    };
    if (from === undefined) {
      for (const o of this.store.list(def, namespace)) if (matches(o)) send('ADDED', o);
      if (initialEvents) bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else {
      for (const e of this.store.history) if (e.rv > from) deliver(e);
    }
    const unsubscribe = this.store.subscribe(deliver);
    const timers: NodeJS.Timeout[] = [];
    if (query.get('allowWatchBookmarks') === 'true')
      timers.push(setInterval(() => bookmark(), this.bookmarkIntervalMs).unref());
    if (timeoutSeconds > 0) timers.push(setTimeout(() => watch.end(), timeoutSeconds * 1000).unref());
    watch.end = (error?: Status) => {
      if (error) send('ERROR', error);
      if (!res.writableEnded) res.end();
    };
    this.open.add(watch);
    res.on('close', () => {
      unsubscribe();
      timers.forEach(clearTimeout);
      this.open.delete(watch);
    });
  }

  /** As after an etcd compaction past every watcher: each stream gets 410 Expired and ends. */
  expireAll(): void {
    for (const w of [...this.open]) w.end(expiredStatus(tooOld(w.lastRv, this.store.compactedAt)));
  }

  closeAll(): void {
    for (const w of [...this.open]) w.end();
  }
}
