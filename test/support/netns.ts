/**
 * Network namespaces for tests: each test makes its own, and every one is
 * deleted afterwards, also when the test fails. A "node" namespace plays the
 * host, so nothing a test does reaches the real host's links or rules.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface Netns {
  name: string;
  path: string;
  /** Run argv inside this namespace; throws on a non-zero exit. */
  run(argv: string[], input?: string): string;
  /** Run argv inside; returns the exit code and output instead of throwing. */
  try(argv: string[], input?: string): { status: number; stdout: string; stderr: string };
}

const created = new Set<string>();

export function makeNetns(prefix: string): Netns {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  created.add(name);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  const tryRun = (argv: string[], input?: string) => {
    const r = spawnSync('ip', ['netns', 'exec', name, ...argv], { input: input ?? '', encoding: 'utf8' });
    return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    name,
    path: `/var/run/netns/${name}`,
    try: tryRun,
    run(argv, input) {
      const r = tryRun(argv, input);
      if (r.status !== 0) throw new Error(`${argv.join(' ')} in ${name}: exit ${r.status}: ${r.stderr}`);
      return r.stdout;
    },
  };
}

export function deleteNetns(ns: Netns | string): void {
  const name = typeof ns === 'string' ? ns : ns.name;
  spawnSync('ip', ['netns', 'del', name]);
  created.delete(name);
}

/** Delete every namespace this process made; for `after` hooks and exits. */
export function deleteAllNetns(): void {
  for (const name of [...created]) deleteNetns(name);
}

process.on('exit', deleteAllNetns);

export interface LinkJson {
  ifname: string;
  address: string;
  mtu: number;
  master?: string;
  flags: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

export function links(ns: Netns): LinkJson[] {
  return JSON.parse(ns.run(['ip', '-j', '-d', 'addr', 'show'])) as LinkJson[];
}

export function nftTables(ns: Netns): string[] {
  const doc = JSON.parse(ns.run(['nft', '-j', 'list', 'tables'])) as {
    nftables: Array<{ table?: { family: string; name: string } }>;
  };
  return doc.nftables.flatMap((e) => (e.table ? [`${e.table.family} ${e.table.name}`] : []));
}

/** One or more pings with a 1 s deadline each; true when any reply came back. */
export function ping(from: Netns, ip: string, count = 1): boolean {
  return from.try(['ping', '-c', String(count), '-W', '1', '-i', '0.2', ip]).status === 0;
}
