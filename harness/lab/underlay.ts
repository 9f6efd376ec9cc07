/**
 * The lab's underlay: the wires between simulated nodes. Each node is a
 * network namespace with one veth ("eth0") into an L2 segment, a bridge on
 * the host. With one segment every node shares an L2 (host-gw routes reach
 * them all); with more, a router namespace joins the segments, so nodes on
 * different segments reach each other only through it, and the pod network
 * needs the VXLAN overlay between them. The host has an address on segment 0
 * (the API server listens there) and a route to the other segments through
 * the router, so every node reaches the API server.
 *
 * Everything here is made by the lab and goes when its namespaces and
 * bridges are deleted (routes and veths go with their devices).
 */
import { execFileSync, spawnSync } from 'node:child_process';

export interface UnderlayNode {
  name: string;
  netns: string;
  segment: number;
  ip: string;
  prefix: number;
  hostVeth: string;
}
export interface Underlay {
  hostIp: string;
  bridges: string[];
  router?: string;
  nodes: UnderlayNode[];
}

const ip = (...argv: string[]) => execFileSync('ip', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
const inNs = (ns: string, ...argv: string[]) => ip('-n', ns, ...argv);
const sysctl = (ns: string, key: string, value: string) =>
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`]);

/** Segment s is 10.123.s.0/24: the host is .1 on segment 0, the router .254 on each, node i .(10 + i). */
export const segmentBase = (s: number) => `10.123.${s}`;
export const ROUTER_HOST = 254;

/** Refuse to build over addresses the host already routes: the lab must not shadow a real network. */
export function checkUnderlayFree(segments: number): void {
  const routes = execFileSync('ip', ['-4', '-j', 'route', 'show'], { encoding: 'utf8' });
  const taken = (JSON.parse(routes) as Array<{ dst: string }>).map((r) => r.dst).filter((d) => d.startsWith('10.123.'));
  if (taken.length)
    throw new Error(
      `lab: the host already routes ${taken.join(', ')}; the lab's underlay is ` +
        `10.123.0.0/${segments > 1 ? 16 : 24} (is another lab running?)`,
    );
}

function makeBridge(name: string): void {
  ip('link', 'add', name, 'type', 'bridge');
  ip('link', 'set', name, 'up');
}

function wireNode(n: UnderlayNode, bridge: string): void {
  ip('netns', 'add', n.netns);
  inNs(n.netns, 'link', 'set', 'lo', 'up');
  ip('link', 'add', n.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns);
  ip('link', 'set', n.hostVeth, 'master', bridge, 'up');
  inNs(n.netns, 'addr', 'add', `${n.ip}/${n.prefix}`, 'dev', 'eth0');
  inNs(n.netns, 'link', 'set', 'eth0', 'up');
  // A node routes its pods' traffic (the pod bridge to eth0 and back).
  sysctl(n.netns, 'net.ipv4.ip_forward', '1');
  // A default route, as every real node has one (the agent's route sync must live with it): through the
  // router, the only way to the other segments; with one segment to .254, where nothing answers, so no
  // traffic leaves the lab.
  inNs(n.netns, 'route', 'add', 'default', 'via', `${segmentBase(n.segment)}.${ROUTER_HOST}`);
}

/** The host end of the router's leg on segment s: named after the segment's bridge's prefix. */
const routerVeth = (bridge: string, s: number) => `${bridge.replace(/-br\d+$/u, '')}-r${s}`;

function makeRouter(prefix: string, bridges: string[]): string {
  const router = `${prefix}-rtr`;
  ip('netns', 'add', router);
  inNs(router, 'link', 'set', 'lo', 'up');
  sysctl(router, 'net.ipv4.ip_forward', '1');
  bridges.forEach((br, s) => {
    const hostSide = routerVeth(br, s);
    ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', `seg${s}`, 'netns', router);
    ip('link', 'set', hostSide, 'master', br, 'up');
    inNs(router, 'addr', 'add', `${segmentBase(s)}.${ROUTER_HOST}/24`, 'dev', `seg${s}`);
    inNs(router, 'link', 'set', `seg${s}`, 'up');
  });
  return router;
}

/**
 * Build the underlay for `count` nodes over `segments` L2 segments (node i,
 * from 1, on segment (i - 1) mod segments). Partly made state is removed
 * before the error goes on.
 */
export function buildUnderlay(prefix: string, count: number, segments: number): Underlay {
  checkUnderlayFree(segments);
  const bridges = Array.from({ length: segments }, (_, s) => `${prefix}-br${s}`);
  const nodes: UnderlayNode[] = Array.from({ length: count }, (_, k) => {
    const i = k + 1;
    const segment = k % segments;
    return {
      name: `node-${i}`,
      netns: `${prefix}-node-${i}`,
      segment,
      ip: `${segmentBase(segment)}.${10 + i}`,
      prefix: 24,
      hostVeth: `${prefix}-n${i}`,
    };
  });
  const u: Underlay = { hostIp: `${segmentBase(0)}.1`, bridges, nodes };
  try {
    for (const b of bridges) makeBridge(b);
    ip('addr', 'add', `${u.hostIp}/24`, 'dev', bridges[0]!);
    if (segments > 1) {
      u.router = makeRouter(prefix, bridges);
      for (let s = 1; s < segments; s++)
        ip('route', 'add', `${segmentBase(s)}.0/24`, 'via', `${segmentBase(0)}.${ROUTER_HOST}`);
    }
    for (const n of nodes) wireNode(n, bridges[n.segment]!);
    return u;
  } catch (err) {
    removeUnderlay(u);
    throw err;
  }
}

/** Delete what buildUnderlay made; succeeds when parts, or all of it, are already gone. */
export function removeUnderlay(u: Pick<Underlay, 'bridges' | 'router' | 'nodes'>): string[] {
  const problems: string[] = [];
  const quiet = (argv: string[]) => {
    const r = spawnSync('ip', argv, { encoding: 'utf8' });
    if (r.status !== 0 && !/No such|Cannot find|does not exist|not found/iu.test(r.stderr))
      problems.push(`ip ${argv.join(' ')}: ${r.stderr.trim()}`);
  };
  // The host ends first: a namespace's links go when the kernel destroys it, later, and only once nothing holds it.
  for (const n of u.nodes) quiet(['link', 'delete', n.hostVeth]);
  u.bridges.forEach((b, s) => u.router && quiet(['link', 'delete', routerVeth(b, s)]));
  for (const n of u.nodes) quiet(['netns', 'delete', n.netns]);
  if (u.router) quiet(['netns', 'delete', u.router]);
  for (const b of u.bridges) quiet(['link', 'delete', b]);
  return problems;
}
