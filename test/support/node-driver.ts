/**
 * The `virtnet` command as a user runs it, on a test "node": the CLI runs in
 * the node's network namespace (nsenter --net, which keeps the host's mount
 * namespace, so the sandboxes it makes with `ip netns add` are visible to
 * later commands) with its own state directory. Nothing reaches the host's
 * links, rules or /var/lib/virtnet.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeNetns, deleteNetns, type Netns } from './netns.ts';
import { ipamAllocations } from './cni.ts';

export const VIRTNET = resolve('dist/cli/virtnet');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export class TestNode {
  readonly netns: Netns;
  readonly stateDir: string;

  /** @param baseEnv added to the environment of every command this node runs (an image cache, a registries.conf). */
  constructor(private readonly baseEnv: Record<string, string> = {}) {
    this.netns = makeNetns('vnt-node');
    this.stateDir = mkdtempSync(join(tmpdir(), 'virtnet-test-node-'));
  }

  private argv(args: string[]): string[] {
    return [
      'nsenter',
      `--net=${this.netns.path}`,
      '--',
      process.execPath,
      VIRTNET,
      '--state-dir',
      this.stateDir,
      ...args,
    ];
  }

  /**
   * The CLI's environment: this process's, less a test's node policy for its
   * own plugin calls (test/support/cni.ts sets VIRTNET_CNI_POLICY), which
   * would override the runtime's own.
   */
  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const { VIRTNET_CNI_POLICY: _testPolicy, ...rest } = process.env;
    return { ...rest, ...this.baseEnv, ...extra };
  }

  /** Run `virtnet ARGS` to its end (with `env` added to the environment). */
  run(
    args: string[],
    timeoutMs = 240_000,
    env: Record<string, string> = {},
  ): CliResult & { signal: NodeJS.Signals | null } {
    const [file, ...rest] = this.argv(args);
    const r = spawnSync(file!, rest, { encoding: 'utf8', timeout: timeoutMs, env: this.env(env) });
    return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
  }

  /** Run it and fail with its own words unless it succeeds. */
  must(args: string[], timeoutMs?: number): string {
    const r = this.run(args, timeoutMs);
    if (r.status !== 0) throw new Error(`virtnet ${args.join(' ')}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** Start `virtnet ARGS` and return at once (to kill it midway). */
  start(args: string[]): ChildProcess {
    const [file, ...rest] = this.argv(args);
    return spawn(file!, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: this.env() });
  }

  /** The sandbox namespaces that exist now and were named by a record of this node. */
  sandboxes(): string[] {
    return readdirSync('/run/netns').filter((n) => /^vn-[0-9a-f]{10}$/u.test(n) && this.recordedNetns().includes(n));
  }

  recordedNetns(): string[] {
    return spawnSync('grep', ['-rhoE', '"netns": "vn-[0-9a-f]{10}"', join(this.stateDir, 'vmis')], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => l.slice(10, -1));
  }

  /** A VMI's launcher state directory (its console log, status, libvirt socket). */
  launcherDir(name: string, namespace = 'default'): string {
    const rec = JSON.parse(readFileSync(join(this.stateDir, 'vmis', namespace, name, 'record.json'), 'utf8')) as {
      netns: string;
    };
    return join(this.stateDir, 'launchers', rec.netns);
  }

  /** IPAM allocations left in host-local's data directory (one file per address). */
  ipamAllocations(): string[] {
    return ipamAllocations(join(this.stateDir, 'ipam'), 'virtnet');
  }

  /** Everything down, then the node gone; for `after` hooks (also after a failure). */
  destroy(): void {
    for (const args of [['down', '--all', '--force'], ['gc']]) this.run(args, 120_000);
    deleteNetns(this.netns);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
