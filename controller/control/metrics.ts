/**
 * The controller's Prometheus metrics (names virtnet_<subsystem>_<name>_<unit>,
 * as the Prometheus naming guide asks), on a registry of its own, served
 * with /healthz and /readyz by one small HTTP server.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Histogram, Registry } from 'prom-client';
import { boundServer, PROBE_LIMITS, SERVER_OPTIONS } from './http-limits.ts';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly phaseTransition = new Histogram({
    name: 'virtnet_vmi_phase_transition_time_from_creation_seconds',
    help: "Time from a VMI's creation to its entering a phase",
    labelNames: ['phase'],
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'virtnet_controller_reconcile_duration_seconds',
    help: 'Time to reconcile one object, API calls included',
    labelNames: ['kind'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'virtnet_controller_reconcile_errors_total',
    help: 'Reconciles that failed and were retried (or dropped after the retry bound)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
}

/** /metrics, /healthz (the process serves), /readyz (ready() says the caches are synced). */
export function serveMetrics(
  registry: Registry,
  port: number,
  ready: () => boolean,
  host = '0.0.0.0',
): Promise<Server> {
  const server = boundServer(
    createServer(SERVER_OPTIONS, (req, res) => {
      if (req.url === '/metrics') {
        void registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text));
      } else if (req.url === '/healthz') res.writeHead(200).end('ok');
      else if (req.url === '/readyz') res.writeHead(ready() ? 200 : 503).end(ready() ? 'ok' : 'caches not synced');
      else res.writeHead(404).end();
    }),
    PROBE_LIMITS,
  );
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
