/**
 * The pod network's kernel state between nodes: routes, the overlay VXLAN
 * device, its permanent neighbor entries and FDB entries. Each sync makes
 * the kernel hold exactly the desired entries of virtnet's own, and touches
 * nothing else:
 *   - routes carry a protocol number of their own (rtnetlink rtm_protocol,
 *     ip-route(8) "proto RTPROTO"), so virtnet's are listed and deleted by
 *     it; a destination that another route already holds is left to that route;
 *   - neighbors and FDB entries are synced on one device only, and only
 *     permanent ones (FDB: with a dst) count as virtnet's.
 * Every name, address and MAC is validated before it reaches argv.
 */
import { exec, ExecError } from './exec.ts';
import { ErrorCode, VirtnetError } from './errors.ts';
import { defaultDst, familyOf, isMac, parseCidr, sameAddress } from './cidr.ts';
import { linkNameProblem } from './names.ts';
import type { IpLink, IpRoute } from './iproute.ts';

/** Unassigned in /etc/iproute2/rt_protos (kernel include/uapi/linux/rtnetlink.h uses 0-4 and names up to 192). */
export const VIRTNET_ROUTE_PROTO = 157;
/** The ifalias on the overlay device: the mark by which a later sync knows it is virtnet's to change or remove. */
export const OVERLAY_MARK = 'virtnet-pod-overlay';

export interface KernelRoute {
  dst: string;
  via: string;
  dev: string;
  onlink?: boolean;
}
export interface SyncReport {
  changed: number;
  problems: string[];
}

export interface OverlaySpec {
  dev: string;
  vni: number;
  port: number;
  /** The underlay address the device sends from (ip-link(8) vxlan "local"). */
  localIp: string;
  /** The link holding localIp: the kernel sizes the device's MTU from it (less the VXLAN headroom). */
  lowerDev?: string;
  mtu?: number;
  /** The VTEP addresses, each given the host prefix (/32, /128). */
  addresses: string[];
}

export interface VxlanLink {
  name: string;
  vni: number;
  alias: string;
  remote?: string;
  group?: string;
  local?: string;
  port?: number;
}

function linkName(n: string): string {
  const problem = linkNameProblem(n);
  if (problem) throw new TypeError(`link name ${JSON.stringify(n)} ${problem}`);
  return n;
}

function ipText(a: string): string {
  if (!familyOf(a)) throw new TypeError(`${JSON.stringify(a)} is not an IP address`);
  return a;
}

function cidrText(c: string): string {
  const p = parseCidr(c);
  if (!p) throw new TypeError(`${JSON.stringify(c)} is not a CIDR`);
  return `${p.network}/${p.prefix}`;
}

function macText(m: string): string {
  if (!isMac(m)) throw new TypeError(`${JSON.stringify(m)} is not a MAC address`);
  return m.toLowerCase();
}

function int(v: number, min: number, max: number, what: string): string {
  if (!Number.isInteger(v) || v < min || v > max) throw new TypeError(`${what} ${v} is outside ${min}..${max}`);
  return String(v);
}

/** A route as `ip -j route show` prints it, with the family it was listed under. */
type FamilyRoute = IpRoute & { family: 4 | 6 };

/**
 * ip(8) prints a host route without its prefix length, and the default
 * route as "default" (every real node has one, both families).
 */
function canonicalDst(r: FamilyRoute): string | undefined {
  if (r.dst === 'default') return defaultDst(r.family);
  const p = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/${familyOf(r.dst) === 6 ? 128 : 32}`);
  // Anything else ip(8) may print there is no destination of ours to compare.
  return p ? `${p.network}/${p.prefix}` : undefined;
}

const failed = (what: string, err: unknown) =>
  `${what}: ${err instanceof ExecError ? err.stderr.trim() || err.message : (err as Error).message}`;

export class RouteSync {
  /**
   * @param wrap argv prefix that enters the node's netns, e.g. ['nsenter', '--net=/run/netns/n1', '--']; [] is this
   * process's.
   */
  constructor(private readonly wrap: readonly string[] = []) {}

  private run(argv: readonly string[], input?: string, allowFailure = false) {
    return exec([...this.wrap, ...argv], { ...(input !== undefined && { input }), allowFailure });
  }

  private async json<T>(argv: readonly string[]): Promise<T> {
    const { stdout } = await this.run(argv);
    return JSON.parse(stdout.trim() || '[]') as T;
  }

  /** The link as `ip -d -j link show` gives it, or undefined when there is none of that name. */
  async link(dev: string): Promise<IpLink | undefined> {
    const r = await this.run(['ip', '-d', '-j', 'link', 'show', 'dev', linkName(dev)], undefined, true);
    if (r.exitCode !== 0) {
      if (/does not exist|Cannot find device/u.test(r.stderr)) return undefined;
      throw new ExecError(r);
    }
    return (JSON.parse(r.stdout) as IpLink[])[0];
  }

  /**
   * This namespace's global-scope addresses: each with its subnet and link (one `ip addr` read serves the plan and the
   * overlay's lower device).
   */
  async connectedPrefixes(): Promise<{ cidr: string; dev: string; address: string }[]> {
    const links = await this.json<IpLink[]>(['ip', '-j', 'addr', 'show']);
    return links.flatMap((l) =>
      (l.addr_info ?? [])
        .filter((a) => a.scope === 'global')
        .map((a) => ({ cidr: cidrText(`${a.local}/${a.prefixlen}`), dev: l.ifname, address: a.local })),
    );
  }

  /** Routes in the main table, per family: virtnet's (by protocol) and all. */
  private async mainRoutes(): Promise<{ ours: FamilyRoute[]; all: FamilyRoute[] }> {
    const read = (flags: string[]) =>
      this.run(
        ['ip', ...flags, '-j', '-batch', '-'],
        `route show table main proto ${VIRTNET_ROUTE_PROTO}\nroute show table main\n`,
      );
    const docs = (await Promise.all([read([]), read(['-6'])])).map((r) =>
      r.stdout
        .split('\n')
        .filter((l) => l.startsWith('['))
        .map((l) => JSON.parse(l) as IpRoute[]),
    );
    const tagged = (k: 0 | 1) =>
      docs.flatMap((d, i) => (d[k] ?? []).map((r) => ({ ...r, family: i === 0 ? 4 : 6 }) as FamilyRoute));
    return { ours: tagged(0), all: tagged(1) };
  }

  /**
   * Make virtnet's routes exactly `desired`; a destination held by a route not virtnet's is a problem, not replaced.
   */
  async syncRoutes(desired: readonly KernelRoute[]): Promise<SyncReport> {
    const { ours, all } = await this.mainRoutes();
    const report: SyncReport = { changed: 0, problems: [] };
    const wanted = new Set<string>();
    for (const r of desired) {
      const dst = cidrText(r.dst);
      const family = familyOf(parseCidr(dst)!.address) === 6 ? ['-6'] : [];
      const mine = ours.find((o) => canonicalDst(o) === dst);
      // ours is a subset of all: a dst listed more often in all is (also) held by a route not ours.
      const holders = all.filter((o) => canonicalDst(o) === dst);
      const foreign =
        holders.length > ours.filter((o) => canonicalDst(o) === dst).length
          ? (holders.find((o) => o.protocol !== String(VIRTNET_ROUTE_PROTO)) ?? holders[0])
          : undefined;
      if (foreign) {
        report.problems.push(
          `route ${dst} exists and is not virtnet's (proto ` +
            `${foreign.protocol ?? 'boot'}${foreign.gateway ? ` via ${foreign.gateway}` : ''} dev ${foreign.dev}): ` +
            `left alone, no route via ${r.via}`,
        );
        continue;
      }
      wanted.add(dst);
      const same =
        mine &&
        mine.dev === r.dev &&
        mine.gateway !== undefined &&
        sameAddress(mine.gateway, r.via) &&
        (mine.flags ?? []).includes('onlink') === !!r.onlink;
      if (same) continue;
      const argv = [
        'ip',
        ...family,
        'route',
        'replace',
        dst,
        'via',
        ipText(r.via),
        'dev',
        linkName(r.dev),
        ...(r.onlink ? ['onlink'] : []),
        'proto',
        String(VIRTNET_ROUTE_PROTO),
      ];
      await this.run(argv).then(
        () => report.changed++,
        (e: unknown) => report.problems.push(failed(`route ${dst} via ${r.via} dev ${r.dev}`, e)),
      );
    }
    for (const o of ours) {
      const dst = canonicalDst(o);
      if (dst === undefined || wanted.has(dst)) continue;
      const family = familyOf(parseCidr(dst)!.address) === 6 ? ['-6'] : [];
      await this.run(['ip', ...family, 'route', 'del', dst, 'proto', String(VIRTNET_ROUTE_PROTO)]).then(
        () => report.changed++,
        (e: unknown) => report.problems.push(failed(`stale route ${dst}`, e)),
      );
    }
    return report;
  }

  /** Make the permanent neighbor entries on `dev` exactly `desired` (ip-neighbour(8) "nud permanent"). */
  async syncNeighbors(dev: string, desired: readonly { ip: string; mac: string }[]): Promise<SyncReport> {
    const present = await this.json<Array<{ dst: string; lladdr?: string }>>([
      'ip',
      '-j',
      'neigh',
      'show',
      'dev',
      linkName(dev),
      'nud',
      'permanent',
    ]);
    const report: SyncReport = { changed: 0, problems: [] };
    for (const n of desired) {
      const has = present.find((p) => sameAddress(p.dst, n.ip));
      if (has && has.lladdr?.toLowerCase() === n.mac.toLowerCase()) continue;
      await this.run([
        'ip',
        'neigh',
        'replace',
        ipText(n.ip),
        'lladdr',
        macText(n.mac),
        'dev',
        dev,
        'nud',
        'permanent',
      ]).then(
        () => report.changed++,
        (e: unknown) => report.problems.push(failed(`neighbor ${n.ip} on ${dev}`, e)),
      );
    }
    for (const p of present.filter((p) => !desired.some((n) => sameAddress(p.dst, n.ip)))) {
      await this.run(['ip', 'neigh', 'del', ipText(p.dst), 'dev', dev]).then(
        () => report.changed++,
        (e: unknown) => report.problems.push(failed(`stale neighbor ${p.dst} on ${dev}`, e)),
      );
    }
    return report;
  }

  /**
   * Make the permanent FDB entries with a dst on `dev` exactly `desired`
   * (`onlyMac`: only entries of that MAC count, e.g. the all-zeros ones of
   * head-end replication). Entries are appended, so that one MAC may have
   * several dsts (bridge(8) "fdb append"); learned ones are left alone.
   */
  async syncFdb(
    dev: string,
    desired: readonly { mac: string; dst: string }[],
    o: { onlyMac?: string } = {},
  ): Promise<SyncReport> {
    const listed = await this.json<Array<{ mac: string; dst?: string; state?: string }>>([
      'bridge',
      '-j',
      'fdb',
      'show',
      'dev',
      linkName(dev),
    ]);
    const present = listed.filter(
      (e) => e.dst !== undefined && e.state === 'permanent' && (!o.onlyMac || e.mac === o.onlyMac),
    );
    const same = (a: { mac: string; dst?: string }, b: { mac: string; dst: string }) =>
      a.mac.toLowerCase() === b.mac.toLowerCase() && a.dst !== undefined && sameAddress(a.dst, b.dst);
    const report: SyncReport = { changed: 0, problems: [] };
    for (const e of desired.filter((d) => !present.some((p) => same(p, d)))) {
      await this.run([
        'bridge',
        'fdb',
        'append',
        macText(e.mac),
        'dev',
        dev,
        'dst',
        ipText(e.dst),
        'self',
        'permanent',
      ]).then(
        () => report.changed++,
        (err: unknown) => report.problems.push(failed(`FDB ${e.mac} dst ${e.dst} on ${dev}`, err)),
      );
    }
    for (const p of present.filter((p) => !desired.some((d) => same(p, d as { mac: string; dst: string })))) {
      await this.run(['bridge', 'fdb', 'del', macText(p.mac), 'dev', dev, 'dst', ipText(p.dst!), 'self']).then(
        () => report.changed++,
        (err: unknown) => report.problems.push(failed(`stale FDB ${p.mac} dst ${p.dst} on ${dev}`, err)),
      );
    }
    return report;
  }

  /** Every VXLAN link here, with what tells a head-end one (neither remote nor group) from the others. */
  async vxlanLinks(): Promise<VxlanLink[]> {
    const links = await this.json<IpLink[]>(['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan']);
    return links.map((l) => {
      const d = (l.linkinfo?.info_data ?? {}) as Record<string, unknown>;
      const text = (...keys: string[]) => keys.map((k) => d[k]).find((v): v is string => typeof v === 'string');
      const [remote, group, local] = [text('remote', 'remote6'), text('group', 'group6'), text('local', 'local6')];
      return {
        name: l.ifname,
        vni: Number(d.id),
        alias: l.ifalias ?? '',
        ...(remote && { remote }),
        ...(group && { group }),
        ...(local && { local }),
        ...(typeof d.port === 'number' && { port: d.port }),
      };
    });
  }

  /**
   * The overlay device as `spec` says: created (nolearning: only the FDB
   * entries virtnet writes say where a MAC is, as flannel's vxlan device),
   * re-created when its settings differ, with exactly its VTEP addresses, up.
   * A link of that name that is not marked as virtnet's is refused.
   */
  async ensureOverlay(spec: OverlaySpec): Promise<{ created: boolean }> {
    const dev = linkName(spec.dev);
    const existing = await this.link(dev);
    if (existing && existing.ifalias !== OVERLAY_MARK)
      throw new VirtnetError(
        ErrorCode.invalidConfig,
        `link ${dev} exists and is not virtnet's overlay (its alias is not "${OVERLAY_MARK}"): left alone, no overlay`,
      );
    const created = !existing || !overlayMatches(existing, spec);
    const lines: string[] = [];
    if (existing && created) lines.push(`link del dev ${dev}`);
    if (created) {
      lines.push(
        [
          'link add name',
          dev,
          ...(spec.mtu !== undefined ? ['mtu', int(spec.mtu, 68, 65535, 'MTU')] : []),
          'type vxlan id',
          int(spec.vni, 0, 16777215, 'VNI'),
          'local',
          ipText(spec.localIp),
          ...(spec.lowerDev ? ['dev', linkName(spec.lowerDev)] : []),
          'dstport',
          int(spec.port, 1, 65535, 'port'),
          'nolearning',
        ].join(' '),
      );
      // The kernel ignores an alias in the create (cni/marks.ts), so it is the next line of the same batch.
      lines.push(`link set dev ${dev} alias ${OVERLAY_MARK}`);
    }
    const want = spec.addresses.map((a) => `${ipText(a)}/${familyOf(a) === 6 ? 128 : 32}`);
    const have = created
      ? []
      : (existing?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
    for (const a of want.filter((w) => !have.some((h) => sameCidr(h, w))))
      lines.push(`addr replace ${a} dev ${dev}${a.includes(':') ? ' nodad' : ''}`);
    for (const h of have.filter((h) => !want.some((w) => sameCidr(h, w))))
      lines.push(`addr del ${ipText(h.split('/')[0]!)}/${int(Number(h.split('/')[1]), 0, 128, 'prefix')} dev ${dev}`);
    if (spec.mtu !== undefined && !created && existing?.mtu !== spec.mtu)
      lines.push(`link set dev ${dev} mtu ${int(spec.mtu, 68, 65535, 'MTU')}`);
    if (created || !(existing?.flags ?? []).includes('UP')) lines.push(`link set dev ${dev} up`);
    if (lines.length) await this.run(['ip', '-batch', '-'], lines.join('\n') + '\n');
    return { created };
  }

  /** Delete the overlay device; true when one was deleted, false when it was already gone. */
  async removeOverlay(dev: string): Promise<boolean> {
    const existing = await this.link(linkName(dev));
    if (!existing) return false;
    if (existing.ifalias !== OVERLAY_MARK)
      throw new VirtnetError(
        ErrorCode.invalidConfig,
        `link ${dev} is not virtnet's overlay (its alias is not "${OVERLAY_MARK}"): not removed`,
      );
    await this.run(['ip', 'link', 'del', 'dev', dev]);
    return true;
  }
}

function sameCidr(a: string, b: string): boolean {
  const [pa, pb] = [parseCidr(a), parseCidr(b)];
  return !!pa && !!pb && pa.prefix === pb.prefix && sameAddress(pa.address, pb.address);
}

/** Whether an existing overlay device has the settings `spec` asks for (ip -d -j link: linkinfo.info_data). */
function overlayMatches(link: IpLink, spec: OverlaySpec): boolean {
  const d = (link.linkinfo?.info_data ?? {}) as Record<string, unknown>;
  const local = (d.local ?? d.local6) as string | undefined;
  return (
    link.linkinfo?.info_kind === 'vxlan' &&
    d.id === spec.vni &&
    d.port === spec.port &&
    d.learning === false &&
    local !== undefined &&
    sameAddress(local, spec.localIp) &&
    (d.link ?? undefined) === (spec.lowerDev ?? undefined)
  );
}
