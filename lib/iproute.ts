/**
 * The links, addresses and routes driver, on iproute2.
 * Writes are typed operations rendered into one `ip -batch -` per namespace,
 * so a whole phase costs one child process; reads use `ip -json`.
 * Measured choice: see README "Kernel-access layer".
 */
import { exec, start, type PendingExec } from './exec.ts';
import { inNetns } from './netns.ts';
import { linkNameProblem } from './names.ts';
import { linkNames } from './links.ts';
import { isMac, parseCidr, isIp } from './cidr.ts';

export type LinkOp =
  | { op: 'bridge-add'; name: string; mtu?: number; mac?: string }
  | { op: 'veth-add'; name: string; mtu: number; mac: string; peer: string; peerMac: string; peerNetns: string }
  | {
      op: 'vxlan-add';
      name: string;
      id: number;
      dstPort: number;
      remote?: string;
      group?: string;
      dev?: string;
      local?: string;
      mtu?: number;
    }
  | { op: 'tap-add'; name: string }
  | { op: 'dummy-add'; name: string }
  | {
      op: 'link-set';
      name: string;
      master?: string;
      nomaster?: boolean;
      up?: boolean;
      mtu?: number;
      mac?: string;
      promisc?: boolean;
      alias?: string;
      newName?: string;
    }
  | { op: 'bridge-port'; name: string; hairpin?: boolean; learning?: boolean }
  | { op: 'link-del'; name: string }
  | { op: 'addr-add'; dev: string; cidr: string; nodad?: boolean; replace?: boolean; noprefixroute?: boolean }
  | { op: 'addr-flush'; dev: string }
  | {
      op: 'route-add';
      dst: string;
      dev: string;
      via?: string;
      mtu?: number;
      metric?: number;
      table?: number;
      scope?: number;
      advmss?: number;
      onlink?: boolean;
    }
  | { op: 'rule-add'; iif?: string; from?: string; table: number; pref: number }
  | { op: 'rule-del'; iif?: string; from?: string; table: number; pref: number }
  | { op: 'link-show'; name: string };

function name(n: string): string {
  const problem = linkNameProblem(n);
  if (problem) throw new TypeError(`invalid link name ${JSON.stringify(n)}: ${problem}`);
  return n;
}

function mac(m: string): string {
  if (!isMac(m)) throw new TypeError(`invalid MAC ${JSON.stringify(m)}`);
  return m.toLowerCase();
}

function cidr(c: string): string {
  if (!parseCidr(c)) throw new TypeError(`invalid CIDR ${JSON.stringify(c)}`);
  return c;
}

function ip(a: string): string {
  if (!isIp(a)) throw new TypeError(`invalid IP ${JSON.stringify(a)}`);
  return a;
}

function int(v: number, min: number, max: number): string {
  if (!Number.isInteger(v) || v < min || v > max) throw new TypeError(`integer ${v} outside ${min}..${max}`);
  return String(v);
}

/** A batch token may not hold whitespace or quotes: ip(8) -batch splits on them. */
function token(t: string): string {
  if (!/^[\x21-\x7e]+$/u.test(t) || /["'\\#]/u.test(t)) throw new TypeError(`unsafe batch token ${JSON.stringify(t)}`);
  return t;
}

const mtu = (v: number) => int(v, 68, 65535);
/** The words `words` when `when` holds (the value is there), else none. */
const opt = (when: unknown, ...words: Array<() => string>): string[] => (when ? words.map((w) => w()) : []);
const onOff = (v: boolean) => (v ? 'on' : 'off');

type Renderers = { [K in LinkOp['op']]: (o: Extract<LinkOp, { op: K }>) => string[] };

/** Each operation's words, in ip(8)'s order; every value re-validated by the word's checker. */
const RENDERERS: Renderers = {
  'bridge-add': (o) => [
    'link add name',
    name(o.name),
    ...opt(
      o.mtu !== undefined,
      () => 'mtu',
      () => mtu(o.mtu!),
    ),
    ...opt(
      o.mac !== undefined,
      () => 'address',
      () => mac(o.mac!),
    ),
    'type bridge',
  ],
  'veth-add': (o) => [
    ...['link add name', name(o.name), 'mtu', mtu(o.mtu), 'address', mac(o.mac)],
    ...['type veth peer name', name(o.peer), 'mtu', mtu(o.mtu), 'address', mac(o.peerMac)],
    ...['netns', token(o.peerNetns)],
  ],
  'vxlan-add': (o) => [
    'link add name',
    name(o.name),
    ...opt(
      o.mtu !== undefined,
      () => 'mtu',
      () => mtu(o.mtu!),
    ),
    ...['type vxlan id', int(o.id, 0, 16777215)],
    ...opt(
      o.remote,
      () => 'remote',
      () => ip(o.remote!),
    ),
    ...opt(
      o.group,
      () => 'group',
      () => ip(o.group!),
    ),
    ...opt(
      o.local,
      () => 'local',
      () => ip(o.local!),
    ),
    ...opt(
      o.dev,
      () => 'dev',
      () => name(o.dev!),
    ),
    ...['dstport', int(o.dstPort, 1, 65535)],
  ],
  'tap-add': (o) => ['tuntap add dev', name(o.name), 'mode tap'],
  'dummy-add': (o) => ['link add name', name(o.name), 'type dummy'],
  'link-set': (o) => [
    'link set dev',
    name(o.name),
    ...opt(
      o.newName,
      () => 'name',
      () => name(o.newName!),
    ),
    ...opt(
      o.master,
      () => 'master',
      () => name(o.master!),
    ),
    ...opt(o.nomaster, () => 'nomaster'),
    ...opt(
      o.mtu !== undefined,
      () => 'mtu',
      () => mtu(o.mtu!),
    ),
    ...opt(
      o.mac !== undefined,
      () => 'address',
      () => mac(o.mac!),
    ),
    ...opt(
      o.promisc !== undefined,
      () => 'promisc',
      () => onOff(o.promisc!),
    ),
    ...opt(
      o.alias,
      () => 'alias',
      () => token(o.alias!),
    ),
    ...opt(o.up !== undefined, () => (o.up ? 'up' : 'down')),
  ],
  'bridge-port': (o) => [
    'link set dev',
    name(o.name),
    'type bridge_slave',
    ...opt(
      o.hairpin !== undefined,
      () => 'hairpin',
      () => onOff(o.hairpin!),
    ),
    ...opt(
      o.learning !== undefined,
      () => 'learning',
      () => onOff(o.learning!),
    ),
  ],
  'link-del': (o) => ['link del dev', name(o.name)],
  'addr-add': (o) => [
    `addr ${o.replace ? 'replace' : 'add'}`,
    cidr(o.cidr),
    ...['dev', name(o.dev)],
    ...opt(o.nodad, () => 'nodad'),
    ...opt(o.noprefixroute, () => 'noprefixroute'),
  ],
  'addr-flush': (o) => ['addr flush dev', name(o.dev)],
  'route-add': (o) => [
    'route add',
    cidr(o.dst),
    ...opt(
      o.via,
      () => 'via',
      () => ip(o.via!),
    ),
    ...['dev', name(o.dev)],
    ...opt(
      o.metric !== undefined,
      () => 'metric',
      () => int(o.metric!, 0, 2 ** 32 - 1),
    ),
    ...opt(
      o.table !== undefined,
      () => 'table',
      () => int(o.table!, 1, 2 ** 32 - 1),
    ),
    ...opt(
      o.scope !== undefined,
      () => 'scope',
      () => int(o.scope!, 0, 255),
    ),
    ...opt(
      o.mtu !== undefined,
      () => 'mtu',
      () => mtu(o.mtu!),
    ),
    ...opt(
      o.advmss !== undefined,
      () => 'advmss',
      () => int(o.advmss!, 1, 65535),
    ),
    ...opt(o.onlink, () => 'onlink'),
  ],
  // ip(8) takes a rule's family only as a global option (ip -6 -batch).
  'rule-add': (o) => ruleWords('add', o),
  'rule-del': (o) => ruleWords('del', o),
  'link-show': (o) => ['link show dev', name(o.name)],
};

function ruleWords(verb: 'add' | 'del', o: Extract<LinkOp, { op: 'rule-add' | 'rule-del' }>): string[] {
  return [
    `rule ${verb}`,
    ...opt(
      o.iif,
      () => 'iif',
      () => name(o.iif!),
    ),
    ...opt(
      o.from,
      () => 'from',
      () => ip(o.from!),
    ),
    ...['table', int(o.table, 1, 2 ** 31 - 1), 'pref', int(o.pref, 1, 32765)],
  ];
}

/** Render one operation as an ip(8) batch line. Every value is re-validated here. */
export function renderOp(o: LinkOp): string {
  // A lookup by o.op loses the link between the key and o's type (TypeScript cannot correlate them).
  const render = RENDERERS[o.op] as (o: LinkOp) => string[];
  return render(o).join(' ');
}

/** One link as `ip -json link` prints it (the fields we read). */
export interface IpLink {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu: number;
  master?: string;
  flags?: string[];
  operstate?: string;
  ifalias?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: Array<{ family: 'inet' | 'inet6'; local: string; prefixlen: number; scope?: string }>;
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  flags?: string[];
}

/**
 * Apply operations with one `ip -batch -` in `netns` (undefined: our own).
 * Returns the JSON documents printed by any `link-show` operations, in order.
 * `ipv6Rules` runs the batch as `ip -6` (for IPv6 policy rules); `force`
 * goes on past failing lines (teardown of what may be half there).
 */
export async function applyLinkOps(
  ops: readonly LinkOp[],
  netns?: string,
  options: { ipv6Rules?: boolean; force?: boolean } = {},
): Promise<IpLink[][]> {
  if (ops.length === 0) return [];
  const input = ops.map(renderOp).join('\n') + '\n';
  const reads = ops.some((o) => o.op === 'link-show');
  const flags = [
    ...(options.ipv6Rules ? ['-6'] : []),
    ...(options.force ? ['-force'] : []),
    ...(reads ? ['-json', '-details'] : []),
  ];
  const spare = netns === undefined && !options.ipv6Rules && !options.force ? takeSpare() : undefined;
  const { stdout } = spare
    ? await spare.finish(input)
    : await exec(inNetns(netns, ['ip', ...flags, '-batch', '-']), {
        input,
        ...(options.force && { allowFailure: true }),
      });
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('['))
    .map((l) => JSON.parse(l) as IpLink[]);
}

/**
 * A spare `ip -batch -` in our own namespace, started ahead of need, so that
 * a host batch on a latency path (the CNI daemon's ADD and DEL) skips the
 * fork and exec (about a millisecond from Node, bench/cni.ts). Each spare
 * takes one batch only: ip(8) caches link names and indexes for the life of
 * the process (iproute2 lib/ll_map.c), and a stale cache would aim a later
 * batch at a link that has since been replaced. `-json -details` is harmless
 * for writes and lets a batch end with a `link-show`.
 */
const SPARE_ARGV = ['ip', '-json', '-details', '-batch', '-'];
let spare: PendingExec | undefined;
/** How many holders want a spare kept (CNI daemons; tests run several in one process). */
let holders = 0;

function startSpare(): void {
  spare = holders > 0 ? start(SPARE_ARGV, { deadlineFromFinish: true }) : undefined;
}

/** The spare, if one is kept and alive; the next is started once this turn of the event loop is over. */
function takeSpare(): PendingExec | undefined {
  const taken = spare?.exited === false ? spare : undefined;
  spare = undefined;
  if (holders > 0) setImmediate(() => spare ?? startSpare());
  return taken;
}

/** Keep a spare host `ip -batch -` until the returned function is called (by each holder, once). */
export function holdSpareHostBatch(): () => void {
  holders++;
  if (!spare) startSpare();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders > 0) return;
    void spare?.finish('').catch(() => undefined);
    spare = undefined;
  };
}

/**
 * Start `ip -batch -` in `netns` now and give it its operations later, so
 * that the exec overlaps what the caller is waiting for (ADD starts the
 * container's batch while the IPAM delegate runs). `apply([])` just ends it.
 */
export function prepareLinkOps(netns?: string): { apply(ops: readonly LinkOp[]): Promise<void> } {
  const pending = start(inNetns(netns, ['ip', '-batch', '-']));
  return {
    async apply(ops) {
      await pending.finish(ops.length ? ops.map(renderOp).join('\n') + '\n' : '');
    },
  };
}

/** Deletions whose link is gone but whose ip(8) has not exited yet (deleteLink). */
let finishing = 0;
/** Beyond this many, a deletion waits for its ip(8) to exit: a burst of DELs must not leave a crowd of children. */
const MAX_FINISHING = 16;
const POLL_MS = 1;

/**
 * Delete link `name` in our own namespace. `gone` settles as soon as the
 * kernel has unlisted the link (and a veth's peer with it), when its name is
 * free again and nothing can reach it; `finished` when ip(8) has exited.
 * Between the two lies the kernel's unregister work after RTNL is dropped
 * (netdev_run_todo: waiting out RCU readers and references), about 20 ms for
 * a veth on this machine's kernel, for which ip(8) waits on the netlink ACK.
 * `gone` means the link is not listed, whoever removed it: it rejects with
 * ip(8)'s failure only while the link is still there. `finished` rejects
 * with any failure.
 * Outside a process that holds the spare (holdSpareHostBatch), the two are one.
 */
export function deleteLink(name: string): { gone: Promise<void>; finished: Promise<void> } {
  const finished = applyLinkOps([{ op: 'link-del', name }]).then(() => undefined);
  // A failure leaves `gone` true when the link is not listed after all (a netns deleted meanwhile took it).
  const unlessGone = (e: unknown) => {
    if (linkNames().has(name)) throw e;
  };
  // Only a resident process (one that holds the spare: the CNI daemon) answers early. An exec'd plugin exits once it
  // has answered, and its ip(8) would outlive it, a stray child in the runtime's namespace.
  if (holders === 0 || finishing >= MAX_FINISHING) return { gone: finished.catch(unlessGone), finished };
  finishing++;
  let exited = false;
  void finished
    .catch(() => undefined)
    .finally(() => {
      finishing--;
      exited = true;
    });
  const unlisted = new Promise<void>((resolve) => {
    const poll = () => {
      if (exited) return;
      if (!linkNames().has(name)) return resolve();
      setTimeout(poll, POLL_MS);
    };
    setTimeout(poll, POLL_MS);
  });
  return { gone: Promise.race([unlisted, finished]).catch(unlessGone), finished };
}

/** `ip -json [-details] <args>` in `netns`, parsed. */
export async function ipJson<T>(args: readonly string[], netns?: string): Promise<T> {
  const { stdout } = await exec(inNetns(netns, ['ip', '-json', ...args]));
  return JSON.parse(stdout.trim() || '[]') as T;
}

/**
 * Read links (with addresses) and main-table routes. ip(8) takes the address
 * family only as a global option, so IPv6 routes cost a second child process,
 * started in parallel and only when asked for.
 */
export async function readNetns(
  netns: string | undefined,
  withIpv6Routes: boolean,
): Promise<{ links: IpLink[]; routes: IpRoute[] }> {
  const v4 = exec(inNetns(netns, ['ip', '-json', '-details', '-batch', '-']), {
    input: 'addr show\nroute show table main\n',
  });
  const v6 = withIpv6Routes ? ipJson<IpRoute[]>(['-6', 'route', 'show', 'table', 'main'], netns) : Promise.resolve([]);
  const [{ stdout }, routes6] = await Promise.all([v4, v6]);
  const docs = stdout
    .split('\n')
    .filter((l) => l.startsWith('['))
    .map((l) => JSON.parse(l) as unknown[]);
  return { links: (docs[0] ?? []) as IpLink[], routes: [...((docs[1] ?? []) as IpRoute[]), ...routes6] };
}
