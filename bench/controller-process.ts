/**
 * The controller of bench/controller-scale.ts, in a process of its own so
 * that the RSS and CPU time measured are the controller's alone (the API
 * server and the bench's fake kubelet run in the parent). The real
 * Controller with client-node's KubeApi and real watches, driven over the
 * IPC channel of child_process.fork (messages below). Reconciles are
 * counted through the controller's own reconcile-duration histogram, so no
 * controller code changes for the bench.
 *   node --import tsx bench/controller-process.ts   (spawned by controller-scale.ts)
 */
import { subscribe } from 'node:diagnostics_channel';
import { pino } from 'pino';
import { Controller } from '../controller/control/controller.ts';
import { KubeApi, loadKubeConfig } from '../controller/kube/kube.ts';
import { ControllerMetrics } from '../controller/control/metrics.ts';
import { nowMs } from './kube-watch.ts';

export type ToController =
  | { type: 'start'; kubeconfig: string }
  | { type: 'usage' }
  /** Run one resync pass (what the resync timer does) and answer when `expect` VMI reconciles finished. */
  | { type: 'resync'; expect: number; timeoutMs: number }
  /** The durations of VMI reconciles number `from` to `to` (0-based, in the order they finished). */
  | { type: 'durations'; from: number; to: number }
  | { type: 'stop' };

export interface ProcessUsage {
  rssBytes: number;
  maxRssBytes: number;
  userCpuMs: number;
  systemCpuMs: number;
  /** VMI reconciles finished since start, and those that failed (and were retried). */
  vmiReconciles: number;
  reconcileErrors: number;
  /** TCP connections the process opened (net.connect), to see whether its HTTP client reuses them. */
  connections: number;
  heapUsedBytes: number;
}

export type FromController =
  | { type: 'loaded' }
  | { type: 'started'; startAt: number; syncedAt: number }
  | { type: 'usage'; usage: ProcessUsage }
  | { type: 'resynced'; triggeredAt: number; lastEndAt: number; durationsMs: number[] }
  | { type: 'durations'; durationsMs: number[] }
  | { type: 'stopped'; stopMs: number }
  | { type: 'failed'; message: string };

const send = (m: FromController) => process.send?.(m);

/** The end time and duration of every VMI reconcile, as the controller's histogram observes them. */
class ReconcileLog {
  readonly ends: number[] = [];
  readonly durationsMs: number[] = [];
  private waiter: (() => void) | undefined;

  constructor(metrics: ControllerMetrics) {
    const histogram = metrics.reconcileDuration;
    const observe = histogram.observe.bind(histogram);
    histogram.observe = ((labels: { kind?: string }, seconds: number) => {
      if (labels.kind === 'vmi') {
        this.ends.push(nowMs());
        this.durationsMs.push(seconds * 1000);
        this.waiter?.();
      }
      observe(labels, seconds);
    }) as typeof histogram.observe;
  }

  /** Resolves once `count` reconciles have finished in all. */
  reach(count: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms: ${this.ends.length} of ${count} reconciles`)),
        timeoutMs,
      );
      this.waiter = () => {
        if (this.ends.length < count) return;
        clearTimeout(timer);
        this.waiter = undefined;
        resolve();
      };
      this.waiter();
    });
  }
}

// Node publishes every net.connect() on this channel
// (https://nodejs.org/api/diagnostics_channel.html#built-in-channels).
let connections = 0;
subscribe('net.client.socket', () => void connections++);

async function usage(metrics: ControllerMetrics, log: ReconcileLog): Promise<ProcessUsage> {
  const r = process.resourceUsage(); // maxRSS in KiB, CPU times in µs (getrusage(2))
  const errors = (await metrics.reconcileErrors.get()).values.reduce((sum, v) => sum + v.value, 0);
  const memory = process.memoryUsage();
  return {
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    connections,
    maxRssBytes: r.maxRSS * 1024,
    userCpuMs: r.userCPUTime / 1000,
    systemCpuMs: r.systemCPUTime / 1000,
    vmiReconciles: log.ends.length,
    reconcileErrors: errors,
  };
}

let ctrl: Controller | undefined;
const metrics = new ControllerMetrics();
const log = new ReconcileLog(metrics);

async function handle(m: ToController): Promise<void> {
  if (m.type === 'start') {
    // Errors to stderr (the parent's stdout is its table). Not warnings: stop() logs each informer's aborted watch as
    // one; failed reconciles are counted instead.
    const logger = pino({ level: 'error' }, pino.destination(2));
    ctrl = new Controller(new KubeApi(loadKubeConfig(m.kubeconfig)), {
      image: 'virtnet:bench',
      serviceCIDRs: ['10.96.0.0/12'],
      log: logger,
      metrics,
      testGuest: {
        kernel: '/var/cache/virtnet/guest/vmlinuz',
        initrd: '/var/cache/virtnet/guest/initrd.img',
        cmdline: 'console=ttyS0',
      },
      resyncMs: 3_600_000, // no timer-driven pass during the measurements: the bench asks for one
    });
    const startAt = nowMs();
    await ctrl.start();
    send({ type: 'started', startAt, syncedAt: nowMs() });
  } else if (m.type === 'usage') {
    send({ type: 'usage', usage: await usage(metrics, log) });
  } else if (m.type === 'durations') {
    send({ type: 'durations', durationsMs: log.durationsMs.slice(m.from, m.to) });
  } else if (m.type === 'resync') {
    if (!ctrl) throw new Error('resync before start');
    const before = log.ends.length;
    const triggeredAt = nowMs();
    ctrl.resyncNow();
    await log.reach(before + m.expect, m.timeoutMs);
    send({
      type: 'resynced',
      triggeredAt,
      lastEndAt: log.ends[before + m.expect - 1]!,
      durationsMs: log.durationsMs.slice(before, before + m.expect),
    });
  } else {
    const t = nowMs();
    await ctrl?.stop();
    send({ type: 'stopped', stopMs: nowMs() - t });
    process.disconnect(); // with the controller stopped, nothing else holds the process
  }
}

process.on('message', (m: ToController) => {
  handle(m).catch((err: Error) => send({ type: 'failed', message: `${m.type}: ${err.message}` }));
});
send({ type: 'loaded' });
