/**
 * CNI benchmark: virtnet-bridge through its shim, with the resident daemon
 * (`virtnet cni-daemon`) and without it (the shim runs the Node plugin),
 * against Debian's reference Go bridge plugin, side by side in one run.
 *
 * Every plugin runs exactly as a runtime runs it: exec'd with the CNI_*
 * environment and the config on stdin, inside a private "node" network
 * namespace that plays the host (through `ip netns exec`), attaching eth0 in
 * a private pod namespace. All delegate IPAM to /usr/lib/cni/host-local.
 * The daemon runs in the node namespace too. Nothing is sent on any network;
 * the namespaces and the daemon go at the end, also on failure or Ctrl-C.
 *
 * Each iteration runs one ADD+DEL cycle per side, then `/bin/true` (the
 * `ip netns exec` wrapper's own cost) through the same wrapper. The first
 * WARMUP iterations are not counted. "Net" figures subtract the wrapper's
 * p50; the goal (issue 15) is daemon ADD+DEL p50 <= the Go plugin's, net.
 *
 *   node --import tsx bench/cni.ts [--n 40] [--json FILE]     (or BENCH_N=40)
 *
 * Exit codes: 0 the run completed (whether or not the goal was met);
 * 1 a plugin call or the setup failed; 2 the run completed but ADD/DEL left
 * something behind (a veth or an IPAM allocation); 128+n on signal n.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { round2, summarize, type Summary } from './stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VIRTNET_BIN = join(ROOT, 'dist/cni/virtnet-bridge');
const VIRTNET_CLI = join(ROOT, 'dist/cli/virtnet');
const CNI_DIR = '/usr/lib/cni';
const GO_BIN = join(CNI_DIR, 'bridge');
const WARMUP = 3;
const DEFAULT_N = 40;
const IFNAME = 'eth0';

// ---------------------------------------------------------------- arguments

interface Options {
  n: number;
  json?: string;
}

function usage(): never {
  process.stderr.write(
    'usage: node --import tsx bench/cni.ts [--n N] [--json FILE]   (N also from BENCH_N; default 40)\n',
  );
  process.exit(1);
}

function parsePositiveInt(v: string | undefined, what: string): number {
  const n = Number(v);
  if (!v || !Number.isInteger(n) || n < 1) {
    process.stderr.write(`${what}: "${v ?? ''}" is not a positive integer\n`);
    usage();
  }
  return n;
}

function parseArgs(argv: readonly string[]): Options {
  let n = process.env.BENCH_N ? parsePositiveInt(process.env.BENCH_N, 'BENCH_N') : DEFAULT_N;
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const [flag, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    if (flag === '--n') n = parsePositiveInt(value(), '--n');
    else if (flag === '--json') {
      json = value();
      if (!json) usage();
    } else if (flag === '--help' || flag === '-h') usage();
    else {
      process.stderr.write(`unknown argument "${arg}"\n`);
      usage();
    }
  }
  return json === undefined ? { n } : { n, json };
}

// ------------------------------------------------------- resources & cleanup

const pid = process.pid;
const NODE_NS = `vnb-node-${pid}`;
const POD_NS = `vnb-pod-${pid}`;
const POD_PATH = `/var/run/netns/${POD_NS}`;
const createdNetns: string[] = [];
let tmp: string | undefined;
let active: ChildProcess | undefined;
let daemon: ChildProcess | undefined;
let cleaned = false;

function kill(child: ChildProcess | undefined): void {
  if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Synchronous and idempotent, so that signal and exit handlers can call it. */
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  kill(active);
  // sh and ip netns exec exec in place, so this pid is the daemon's.
  kill(daemon);
  for (const ns of createdNetns.splice(0).reverse()) {
    const r = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
    if (r.status !== 0) process.stderr.write(`cleanup: ip netns del ${ns} failed: ${r.stderr.trim()}\n`);
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
for (const [sig, num] of Object.entries(SIGNALS)) {
  process.on(sig, () => {
    process.stderr.write(`\n${sig}: cleaning up\n`);
    cleanup();
    process.exit(128 + num);
  });
}
process.on('exit', cleanup);

function mustRun(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

function addNetns(name: string): void {
  mustRun('ip', ['netns', 'add', name]);
  createdNetns.push(name);
  mustRun('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

// ------------------------------------------------------------------ running

class PluginFailure extends Error {}

interface Timed {
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawn argv, feed `input` on stdin, and time from spawn to the close of its stdio. */
function timed(argv: readonly string[], env: NodeJS.ProcessEnv, input: string): Promise<Timed> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error('empty argv'));
  return new Promise((resolveRun, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    active = child;
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {
      /* EPIPE: the child did not read stdin */
    });
    child.on('error', (e) => {
      active = undefined;
      reject(e);
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      active = undefined;
      resolveRun({
        ms,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(input);
  });
}

const wrap = (argv: readonly string[]): string[] => ['ip', 'netns', 'exec', NODE_NS, ...argv];

/** The environment every child gets: a clean one, as a runtime would give, plus the CNI variables. */
const baseEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
};
/** Set with tmp: the node policy (cni/policy.ts) that lets virtnet's data live under tmp; the Go plugins ignore it. */
let policyFile: string | undefined;

interface Side {
  label: string;
  binary: string;
  network: string;
  bridge: string;
  subnet: string;
  hostLocalDir: string;
  config: string;
  idPrefix: string;
  /** More environment for this side's calls (which socket the shim tries). */
  env: NodeJS.ProcessEnv;
}

function describeFailure(side: Side, verb: string, id: string, r: Timed): string {
  return [
    `${side.label} ${verb} failed (container ${id}): exit ${r.code ?? `signal ${r.signal ?? '?'}`}`,
    r.stdout.trim() && `  stdout: ${r.stdout.trim()}`,
    r.stderr.trim() && `  stderr: ${r.stderr.trim()}`,
  ]
    .filter(Boolean)
    .join('\n');
}

async function cniCall(side: Side, verb: 'ADD' | 'DEL', id: string): Promise<Timed> {
  const env = {
    ...baseEnv,
    CNI_COMMAND: verb,
    CNI_CONTAINERID: id,
    CNI_NETNS: POD_PATH,
    CNI_IFNAME: IFNAME,
    CNI_PATH: CNI_DIR,
    ...(policyFile && { VIRTNET_CNI_POLICY: policyFile }),
    ...side.env,
  };
  const r = await timed(wrap([side.binary]), env, side.config);
  if (r.code !== 0) throw new PluginFailure(describeFailure(side, verb, id, r));
  return r;
}

interface CycleTimes {
  add: number;
  del: number;
}

async function cycle(side: Side, id: string, verify: boolean): Promise<CycleTimes> {
  const add = await cniCall(side, 'ADD', id);
  let result: { ips?: { address?: string }[] };
  try {
    result = JSON.parse(add.stdout) as typeof result;
  } catch {
    throw new PluginFailure(
      `${side.label} ADD (container ${id}) printed no JSON result: ${add.stdout.trim() || '(empty)'}`,
    );
  }
  const ip = result.ips?.[0]?.address;
  if (!ip) throw new PluginFailure(`${side.label} ADD (container ${id}) returned no IP: ${add.stdout.trim()}`);
  if (verify) {
    // Outside the timed region: the attachment really exists, with that address, on that bridge.
    const shown = mustRun('ip', ['-n', POD_NS, '-o', 'addr', 'show', 'dev', IFNAME]);
    if (!shown.includes(`inet ${ip} `))
      throw new PluginFailure(`${side.label} ADD: ${IFNAME} in the pod lacks ${ip}:\n${shown}`);
    const ports = mustRun('ip', ['-n', NODE_NS, '-o', 'link', 'show', 'master', side.bridge]);
    if (!ports.trim()) throw new PluginFailure(`${side.label} ADD: no port on bridge ${side.bridge}`);
  }
  const del = await cniCall(side, 'DEL', id);
  return { add: add.ms, del: del.ms };
}

async function plain(label: string, argv: readonly string[]): Promise<number> {
  const r = await timed(wrap(argv), baseEnv, '');
  if (r.code !== 0)
    throw new PluginFailure(`${label} (${argv.join(' ')}) failed: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return r.ms;
}

// ----------------------------------------------------------- post-run check

interface CleanCheck {
  ok: boolean;
  nodeVeths: string[];
  podLinks: string[];
  hostLocalLeftovers: Record<string, string[]>;
  virtnetRecords: string[];
  lines: string[];
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function linkNamesIn(ns: string, extra: string[]): string[] {
  const links = JSON.parse(mustRun('ip', ['-n', ns, '-j', 'link', 'show', ...extra]) || '[]') as { ifname: string }[];
  return links.map((l) => l.ifname);
}

function checkClean(sides: readonly Side[], virtnetState: string): CleanCheck {
  const nodeVeths = linkNamesIn(NODE_NS, ['type', 'veth']);
  const podLinks = linkNamesIn(POD_NS, []).filter((n) => n !== 'lo');
  const hostLocalLeftovers: Record<string, string[]> = {};
  const lines: string[] = [];
  const mark = (ok: boolean): string => (ok ? 'ok  ' : 'FAIL');
  lines.push(`${mark(nodeVeths.length === 0)} node netns veths: ${nodeVeths.length ? nodeVeths.join(' ') : 'none'}`);
  lines.push(
    `${mark(podLinks.length === 0)} pod netns links besides lo: ${podLinks.length ? podLinks.join(' ') : 'none'}`,
  );
  let ok = nodeVeths.length === 0 && podLinks.length === 0;
  for (const side of sides) {
    const dir = join(side.hostLocalDir, side.network);
    const files = listDir(dir);
    const leftovers = files.filter((f) => !/^(lock|last_reserved_ip\.\d+)$/u.test(f));
    hostLocalLeftovers[side.label] = leftovers;
    ok &&= leftovers.length === 0;
    lines.push(
      `${mark(leftovers.length === 0)} host-local ${dir}: ${files.join(' ') || '(empty)'}` +
        (leftovers.length ? `  <- allocations left: ${leftovers.join(' ')}` : ''),
    );
  }
  const virtnetRecords = sides
    .filter((s) => s.binary === VIRTNET_BIN)
    .flatMap((s) => listDir(join(virtnetState, s.network)).filter((f) => f.endsWith('.json')));
  ok &&= virtnetRecords.length === 0;
  lines.push(
    `${mark(virtnetRecords.length === 0)} virtnet attachment records in ${virtnetState}: ` +
      `${virtnetRecords.length ? virtnetRecords.join(' ') : 'none'}`,
  );
  const bridges = linkNamesIn(NODE_NS, ['type', 'bridge']);
  lines.push(
    `info bridges kept in the node netns (the plugins leave the bridge by design): ${bridges.join(' ') || 'none'}`,
  );
  return { ok, nodeVeths, podLinks, hostLocalLeftovers, virtnetRecords, lines };
}

// ------------------------------------------------------------------- report

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
const pad = (s: string, w: number): string => s.padStart(w);

function tool(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '?';
}

type Verb = 'ADD' | 'DEL' | 'ADD+DEL';
const VERBS: readonly Verb[] = ['ADD', 'DEL', 'ADD+DEL'];

/** Samples per side and verb, and the wrapper's. */
interface Samples {
  bySide: Map<string, Record<Verb, number[]>>;
  wrapper: number[];
}

interface Row {
  label: string;
  raw: Summary;
  net: { p50: number; p95: number };
}

function rows(samples: Samples): Row[] {
  const wrapperP50 = summarize(samples.wrapper).p50;
  return [...samples.bySide].flatMap(([side, verbs]) =>
    VERBS.map((verb) => {
      const raw = summarize(verbs[verb]);
      // ADD+DEL is two calls, so two wrappers come off it.
      const wrappers = verb === 'ADD+DEL' ? 2 : 1;
      return {
        label: `${side} ${verb}`,
        raw,
        net: { p50: raw.p50 - wrappers * wrapperP50, p95: raw.p95 - wrappers * wrapperP50 },
      };
    }),
  );
}

function printTable(all: Row[], wrapper: Summary, n: number, seconds: number): void {
  console.log('');
  console.log(`Results (ms, N=${n}; net = raw - wrapper p50 ${fmt(wrapper.p50)} ms per call; ${seconds.toFixed(1)} s)`);
  const head = ['raw p50', 'raw p95', 'net p50', 'net p95', 'min', 'max'];
  console.log(''.padEnd(22) + head.map((h) => pad(h, 9)).join(''));
  for (const r of all) {
    const cells = [r.raw.p50, r.raw.p95, r.net.p50, r.net.p95, r.raw.min, r.raw.max];
    console.log(r.label.padEnd(22) + cells.map((c) => pad(fmt(c), 9)).join(''));
  }
  console.log('wrapper'.padEnd(22) + [wrapper.p50, wrapper.p95].map((c) => pad(fmt(c), 9)).join(''));
}

/** Each virtnet side against Go, per verb: net p50 ratios (the goal: daemon ADD+DEL <= 1.0). */
function ratios(all: Row[], virtnetSides: readonly string[]): Record<string, Record<Verb, number>> {
  const p50 = (label: string) => all.find((r) => r.label === label)?.net.p50 ?? Number.NaN;
  return Object.fromEntries(
    virtnetSides.map((side) => [
      side,
      Object.fromEntries(VERBS.map((v) => [v, p50(`${side} ${v}`) / p50(`go ${v}`)])) as Record<Verb, number>,
    ]),
  );
}

// --------------------------------------------------------------------- main

/** `virtnet cni-daemon` in the node namespace; resolves once its socket exists. */
async function startDaemon(socket: string): Promise<void> {
  const log = join(tmp ?? '', 'cni-daemon.log');
  daemon = spawn(
    'sh',
    ['-c', 'exec ip netns exec "$0" node "$1" cni-daemon --socket "$2" 2>>"$3"', NODE_NS, VIRTNET_CLI, socket, log],
    { env: { ...process.env }, stdio: 'ignore' },
  );
  for (const end = Date.now() + 10_000; !existsSync(socket); await new Promise((r) => setTimeout(r, 20))) {
    if (daemon.exitCode !== null || Date.now() > end)
      throw new Error(`cni-daemon did not start: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
  }
}

function makeSide(label: string, binary: string, k: number, extra: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  const hostLocalDir = join(tmp ?? '', `host-local-${k}`);
  const network = `vnb-${k}`;
  const bridge = `vbench${k}`;
  const subnet = `10.231.${k}.0/24`;
  const config = JSON.stringify({
    cniVersion: binary === GO_BIN ? '1.0.0' : '1.1.0',
    name: network,
    type: binary.slice(binary.lastIndexOf('/') + 1),
    bridge,
    isGateway: true,
    ipMasq: false,
    ...extra,
    ipam: { type: 'host-local', subnet, dataDir: hostLocalDir },
  });
  return { label, binary, network, bridge, subnet, hostLocalDir, config, idPrefix: `vnb-${k}-${pid}`, env };
}

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error('must run as root (it creates network namespaces)');
  for (const bin of [VIRTNET_BIN, VIRTNET_CLI, GO_BIN, join(CNI_DIR, 'host-local')]) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      const hint = bin.startsWith(ROOT) ? ' (run `npm run build` first)' : '';
      throw new Error(`${bin} is missing or not executable${hint}`);
    }
  }
}

async function measure(sides: readonly Side[], n: number): Promise<Samples> {
  const bySide = new Map(sides.map((s) => [s.label, { ADD: [], DEL: [], 'ADD+DEL': [] } as Record<Verb, number[]>]));
  const wrapper: number[] = [];
  for (let i = 0; i < WARMUP + n; i++) {
    const counted = i >= WARMUP;
    for (const side of sides) {
      // The attachments are checked for real during warm-up (untimed).
      const t = await cycle(side, `${side.idPrefix}-${i}`, !counted);
      const into = bySide.get(side.label)!;
      if (counted)
        for (const [v, ms] of [
          ['ADD', t.add],
          ['DEL', t.del],
          ['ADD+DEL', t.add + t.del],
        ] as const)
          into[v].push(ms);
    }
    const w = await plain('wrapper', ['/bin/true']);
    if (counted) wrapper.push(w);
    const done = i + 1 - WARMUP;
    if (counted && (done % 10 === 0 || done === n)) process.stderr.write(`  ${done}/${n} cycles\n`);
  }
  return { bySide, wrapper };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  preflight();
  tmp = mkdtempSync(join(tmpdir(), 'vnb-'));
  policyFile = join(tmp, 'cni-policy.json');
  writeFileSync(policyFile, JSON.stringify({ dataRoots: [tmp] }));
  const virtnetState = join(tmp, 'virtnet-state');
  const socket = join(tmp, 'daemon', 'cni.sock');
  const state = { dataDir: virtnetState };
  const sides = [
    makeSide('daemon', VIRTNET_BIN, 1, state, { VIRTNET_CNI_SOCKET: socket }),
    makeSide('fallback', VIRTNET_BIN, 2, state, { VIRTNET_CNI_SOCKET: join(tmp, 'no-daemon.sock') }),
    makeSide('go', GO_BIN, 3, {}, {}),
  ];
  addNetns(NODE_NS);
  addNetns(POD_NS);
  await startDaemon(socket);

  const goPkg = tool('dpkg-query', ['-W', '-f', '${Version}', 'containernetworking-plugins']);
  console.log(`CNI benchmark: N=${opts.n} ADD+DEL cycles per side after ${WARMUP} warm-up cycles, in turn`);
  console.log(`  daemon:   ${VIRTNET_BIN} (the shim) -> virtnet cni-daemon at ${socket}`);
  console.log(`  fallback: ${VIRTNET_BIN} (the shim, no daemon) -> node ${process.version} virtnet-bridge-node`);
  console.log(`  go:       ${GO_BIN} (containernetworking-plugins ${goPkg}, cniVersion 1.0.0)`);
  console.log(`  IPAM: ${CNI_DIR}/host-local   kernel ${release()}   wrapper: ip netns exec ${NODE_NS} <cmd>`);

  const started = performance.now();
  const samples = await measure(sides, opts.n);
  const seconds = (performance.now() - started) / 1000;
  const all = rows(samples);
  const wrapper = summarize(samples.wrapper);
  printTable(all, wrapper, opts.n, seconds);
  const r = ratios(all, ['daemon', 'fallback']);
  console.log('');
  for (const [side, byVerb] of Object.entries(r))
    console.log(`${side}/go net p50: ${VERBS.map((v) => `${v} ${byVerb[v].toFixed(2)}x`).join('  ')}`);
  const goal = r.daemon!['ADD+DEL'];
  console.log(`goal (issue 15): daemon ADD+DEL <= 1.00x go -> ${goal <= 1 ? 'MET' : 'NOT MET'} (${goal.toFixed(2)}x)`);

  console.log('');
  console.log('Post-run check:');
  const clean = checkClean(sides, virtnetState);
  for (const line of clean.lines) console.log(`  ${line}`);
  console.log(`  => ${clean.ok ? 'clean' : 'LEFTOVERS FOUND'}`);
  if (opts.json) {
    const doc = {
      date: new Date().toISOString(),
      n: opts.n,
      warmup: WARMUP,
      node: process.version,
      kernel: release(),
      goPlugins: goPkg,
      wrapperP50: round2(wrapper.p50),
      rows: all.map((x) => ({
        label: x.label,
        rawP50: round2(x.raw.p50),
        rawP95: round2(x.raw.p95),
        netP50: round2(x.net.p50),
        netP95: round2(x.net.p95),
      })),
      ratios: r,
      goalMet: goal <= 1,
      clean: clean.ok,
    };
    writeFileSync(opts.json, `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`\nwrote ${opts.json}`);
  }
  return clean.ok ? 0 : 2;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  if (err instanceof PluginFailure) process.stderr.write(`\nPLUGIN CALL FAILED\n${err.message}\n`);
  else process.stderr.write(`\nbenchmark failed: ${(err as Error).stack ?? String(err)}\n`);
  exitCode = 1;
} finally {
  cleanup();
  const left = tool('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n === NODE_NS || n === POD_NS);
  console.log(
    left.length ? `cleanup: namespaces still present: ${left.join(', ')}` : `cleanup: deleted ${NODE_NS} and ${POD_NS}`,
  );
}
process.exit(exitCode);
