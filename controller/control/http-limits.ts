/**
 * Limits for the HTTP servers of the cluster components (webhook, metrics
 * and probes): anyone who reaches their port can open connections, so a
 * slow or idle client must not hold a socket, nor many of them the process's
 * file descriptors. Node's defaults leave headersTimeout at 60 s and
 * maxConnections unbounded (node:http "server.headersTimeout").
 */
import type { Server } from 'node:http';

export interface ServerLimits {
  /**
   * The whole request (headers and body) must arrive within this, else the socket is closed (server.requestTimeout).
   */
  requestTimeoutMs: number;
  /** The headers must arrive within this (server.headersTimeout). */
  headersTimeoutMs: number;
  /** Sockets beyond this are closed at once (server.maxConnections). */
  maxConnections: number;
}

/**
 * Options for createServer: Node checks requestTimeout and headersTimeout
 * only every connectionsCheckingInterval (30 s by default), which would make
 * a 5 s headers timeout a 35 s one.
 */
export const SERVER_OPTIONS = { connectionsCheckingInterval: 500 } as const;

export const PROBE_LIMITS: ServerLimits = { requestTimeoutMs: 10_000, headersTimeoutMs: 5_000, maxConnections: 32 };

export function boundServer<S extends Server>(server: S, limits: ServerLimits): S {
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = limits.headersTimeoutMs;
  // Idle keep-alive sockets go after 5 s; a client (the apiserver, Prometheus) opens a new one when it needs to.
  server.keepAliveTimeout = 5_000;
  server.maxConnections = limits.maxConnections;
  return server;
}
