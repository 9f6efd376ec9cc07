/**
 * Run a CNI plugin exactly as a runtime does: an executable, the CNI_*
 * environment and the config on stdin, here inside a test "node" namespace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, after } from 'node:test';
import { deleteAllNetns, makeNetns, type Netns } from './netns.ts';
import { DEFAULT_ALLOWED_IPAM } from '../../cni/policy.ts';
import { startTestDaemon, type TestDaemon } from './cni-daemon.ts';

export const PLUGIN = resolve('dist/cni/virtnet-bridge');
export const REFERENCE_PLUGINS = '/usr/lib/cni';
export const CNI_PATH = `${resolve('dist/cni')}:${REFERENCE_PLUGINS}`;

export interface CallResult {
  status: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON. */
  json: Record<string, any> | undefined;
}

export interface CallOptions {
  containerID?: string;
  ifname?: string;
  netns?: string;
  plugin?: string;
  args?: string;
  /** CNI_PATH, when not the default (dist/cni and the reference plugins). */
  cniPath?: string;
  /**
   * The node policy file (VIRTNET_CNI_POLICY); by default the one of the scratch directory holding the config's
   * dataDir.
   */
  policy?: string;
  /** More environment, e.g. VIRTNET_DELEGATE_DEPTH. */
  env?: Record<string, string>;
}

/**
 * Set to 1, every nodeFixture runs `virtnet cni-daemon` in its node namespace and callPlugin goes through the shim
 * to it (test/integration/cni/daemon-conformance.test.ts runs the verb suites so).
 */
export const DAEMON_MODE_ENV = 'VIRTNET_TEST_CNI_DAEMON';
let daemonSocket: string | undefined;

/** The scratch directories of this process, each with its policy file and its log directory. */
const scratches: Array<{ dir: string; policy: string; logDir: string }> = [];

/**
 * The IPAM plugins the test policy allows: the node default (cni/policy.ts
 * DEFAULT_ALLOWED_IPAM), this directory's fakes, which tests put in
 * CNI_PATH to record calls and fail on demand, one allowed plugin that is
 * installed nowhere (STATUS answers 50 for it, verbs.test.ts), and "looper",
 * the self-delegating plugin of hardening.test.ts: an admin may allow a name
 * that turns out to be this plugin, and the defences behind the allowlist
 * (inode, VIRTNET_DELEGATE_DEPTH) must still hold.
 */
export const TEST_ALLOWED_IPAM = [
  ...DEFAULT_ALLOWED_IPAM,
  'fake-ipam.cjs',
  'fake-delegate.cjs',
  'no-such-ipam',
  'looper',
];

/** The policy of the scratch directory that holds the config's dataDir, else the newest one's. */
function policyFor(conf: object): string | undefined {
  const dataDir = (conf as { dataDir?: unknown }).dataDir;
  const owner = typeof dataDir === 'string' ? scratches.find((s) => dataDir.startsWith(`${s.dir}/`)) : undefined;
  return owner?.policy ?? process.env.VIRTNET_CNI_POLICY;
}

export function callPlugin(node: Netns, verb: string, conf: object, o: CallOptions = {}): CallResult {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: verb,
    CNI_PATH: o.cniPath ?? CNI_PATH,
    // The shim's socket: the fixture's daemon in daemon mode, else one that is never there, so the shim runs the
    // Node plugin and a daemon this machine may run is never used by a test.
    VIRTNET_CNI_SOCKET: daemonSocket ?? '/nonexistent/virtnet-cni.sock',
    ...o.env,
  };
  const policy = o.policy ?? policyFor(conf);
  if (policy) env.VIRTNET_CNI_POLICY = policy;
  if (o.containerID !== undefined) env.CNI_CONTAINERID = o.containerID;
  if (o.ifname !== undefined) env.CNI_IFNAME = o.ifname;
  if (o.netns !== undefined) env.CNI_NETNS = o.netns;
  if (o.args !== undefined) env.CNI_ARGS = o.args;
  const r = spawnSync('ip', ['netns', 'exec', node.name, o.plugin ?? PLUGIN], {
    env,
    input: JSON.stringify(conf),
    encoding: 'utf8',
  });
  let json: Record<string, any> | undefined;
  try {
    json = r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, any>) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr, json };
}

/** Fails with the plugin's own words when a call that should succeed does not. */
export function mustCall(node: Netns, verb: string, conf: object, o: CallOptions = {}): CallResult {
  const r = callPlugin(node, verb, conf, o);
  if (r.status !== 0) throw new Error(`${verb} failed (exit ${r.status}): ${r.stdout} ${r.stderr}`);
  return r;
}

/**
 * A scratch directory for IPAM and plugin state, removed by the returned
 * function. It holds the node policy the plugin runs under in tests
 * (cni/policy.ts): data only in this process's scratch directories, logs
 * only in this one's log directory (`logDir`, beside it: the plugin refuses
 * a log under a data root), IPAM by the default plugins and the fakes. The
 * newest one's policy is also this process's VIRTNET_CNI_POLICY, which
 * plugins run through netattach inherit.
 */
export function scratchDir(): { dir: string; policy: string; logDir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-'));
  const logDir = mkdtempSync(join(tmpdir(), 'virtnet-test-log-'));
  const policy = join(dir, 'cni-policy.json');
  scratches.unshift({ dir, policy, logDir });
  // Every scratch directory of this process is a data root: a test may keep state in one and run a node agent from
  // another.
  writeFileSync(
    policy,
    JSON.stringify({ dataRoots: scratches.map((s) => s.dir), logRoot: logDir, allowedIpam: TEST_ALLOWED_IPAM }),
  );
  process.env.VIRTNET_CNI_POLICY = policy;
  const cleanup = () => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(logDir, { recursive: true, force: true });
  };
  return { dir, policy, logDir, cleanup };
}

/** host-local's allocation files (one per IP) under its dataDir. */
export function ipamAllocations(ipamDir: string, network: string): string[] {
  const d = join(ipamDir, network);
  if (!existsSync(d)) return [];
  return readdirSync(d).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
}

export interface ConfOptions {
  name?: string;
  cniVersion?: string;
  bridge?: string;
  subnet?: string;
  extra?: Record<string, unknown>;
  ipamExtra?: Record<string, unknown>;
}

/** A virtnet-bridge config with host-local IPAM, state kept under `dir`. */
export function bridgeConf(dir: string, o: ConfOptions = {}): Record<string, unknown> {
  const name = o.name ?? 'testnet';
  return {
    cniVersion: o.cniVersion ?? '1.1.0',
    name,
    type: 'virtnet-bridge',
    bridge: o.bridge ?? 'vtest0',
    isGateway: true,
    dataDir: join(dir, 'virtnet'),
    ipam: { type: 'host-local', subnet: o.subnet ?? '10.99.0.0/24', dataDir: join(dir, 'ipam'), ...o.ipamExtra },
    ...o.extra,
  };
}

/**
 * The common fixture of a CNI test file: a "node" namespace that plays the
 * host and a scratch directory, both removed after the file's tests (call it
 * inside `describe`).
 */
export function nodeFixture(): { readonly node: Netns; readonly dir: string; readonly logDir: string } {
  const scratch = scratchDir();
  let node: Netns | undefined;
  let daemon: TestDaemon | undefined;
  before(async () => {
    node = makeNetns('vnt-node');
    if (process.env[DAEMON_MODE_ENV] === '1') {
      daemon = await startTestDaemon(node, scratch.dir, { args: ['--log-level', 'debug'] });
      daemonSocket = daemon.socket;
    }
  });
  after(async () => {
    const served = daemon
      ?.stderr()
      .split('\n')
      .filter((l) => l.includes('"msg":"call"')).length;
    await daemon?.stop();
    daemonSocket = undefined;
    deleteAllNetns();
    scratch.cleanup();
    // Daemon mode must not pass by falling back: the daemon has to have served the suite's calls.
    if (daemon && !served) throw new Error(`daemon mode: the CNI daemon served no call: ${daemon.stderr()}`);
  });
  return {
    get node(): Netns {
      if (!node) throw new Error('nodeFixture: used outside a test');
      return node;
    },
    dir: scratch.dir,
    logDir: scratch.logDir,
  };
}
