/**
 * Measures the candidates for the kernel-access layer, side by side in one
 * run, inside a private network namespace (`npm run bench:kernel` starts it
 * under `unshare --net`): iproute2 (ip -json reads, ip -batch writes), the
 * `netlink` npm package, and nftables through `nft -j`.
 */
import { createRequire } from 'node:module';
import { exec } from '../lib/exec.ts';
import { applyLinkOps, ipJson } from '../lib/iproute.ts';
import { applyNft, dropTable } from '../lib/nft.ts';
import { inNetns } from '../lib/netns.ts';
import { quantile } from './stats.ts';

const N = Number(process.env.BENCH_N ?? 50);

async function measure(label: string, fn: () => Promise<unknown>): Promise<[string, number, number]> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return [label, quantile(times, 0.5), quantile(times, 0.95)];
}

interface NetlinkSocket {
  getLinks(): Promise<unknown[]>;
  newLink(msg: unknown, attrs: unknown, options: { flags: number }): Promise<unknown>;
  delLink(msg: unknown, attrs: unknown): Promise<unknown>;
}

/**
 * The package leaves IFLA_LINKINFO raw, so the nested IFLA_INFO_KIND
 * attribute is encoded by hand (rtnetlink(7): u16 length, u16 type, data,
 * padded to 4 bytes): 11 bytes of "bridge\0" payload plus header.
 */
const BRIDGE_LINKINFO = Buffer.from([0x0b, 0x00, 0x01, 0x00, ...Buffer.from('bridge\0'), 0x00]);

/** netlink(7) request flags: create the object, fail if it exists. */
const NLM_F_CREATE = 0x400;
const NLM_F_EXCL = 0x200;

async function main(): Promise<void> {
  // A fresh namespace holds only lo: refuse to create links anywhere else.
  if ((await ipJson<unknown[]>(['link', 'show'])).length !== 1)
    throw new Error('run me in a private netns: npm run bench:kernel');
  const netlink = createRequire(import.meta.url)('netlink') as { createRtNetlink(): NetlinkSocket };
  const sock = netlink.createRtNetlink();
  const ruleset = [
    ...dropTable('ip', 'vnbench'),
    { add: { table: { family: 'ip', name: 'vnbench' } } },
    {
      add: {
        chain: {
          family: 'ip',
          table: 'vnbench',
          name: 'post',
          type: 'nat',
          hook: 'postrouting',
          prio: 100,
          policy: 'accept',
        },
      },
    },
    {
      add: {
        rule: {
          family: 'ip',
          table: 'vnbench',
          chain: 'post',
          expr: [
            {
              match: {
                op: '==',
                left: { payload: { protocol: 'ip', field: 'saddr' } },
                right: { prefix: { addr: '10.0.2.0', len: 24 } },
              },
            },
            { masquerade: null },
          ],
        },
      },
    },
  ];
  const rows = [
    await measure('read links: ip -json link show', () => ipJson(['link', 'show'])),
    await measure('read links: nsenter --net + ip -json', () =>
      exec(inNetns('/proc/self/ns/net', ['ip', '-json', 'link', 'show'])),
    ),
    await measure('read links: netlink getLinks()', () => sock.getLinks()),
    await measure('bridge add+del: 2 ip execs', async () => {
      await exec(['ip', 'link', 'add', 'name', 'vnb0', 'type', 'bridge']);
      await exec(['ip', 'link', 'del', 'vnb0']);
    }),
    await measure('bridge add+up+del: 1 ip -batch + 1 exec', async () => {
      await applyLinkOps([
        { op: 'bridge-add', name: 'vnb0' },
        { op: 'link-set', name: 'vnb0', up: true },
      ]);
      await applyLinkOps([{ op: 'link-del', name: 'vnb0' }]);
    }),
    await measure('bridge add+del: netlink', async () => {
      await sock.newLink(
        { flags: {} },
        { ifname: 'vnb0', linkinfo: BRIDGE_LINKINFO },
        { flags: NLM_F_CREATE | NLM_F_EXCL },
      );
      await sock.delLink({}, { ifname: 'vnb0' });
    }),
    await measure('nft -j: table + nat chain + rule', () => applyNft(ruleset)),
  ];
  await applyNft(dropTable('ip', 'vnbench'));
  console.log(`kernel-access candidates, N=${N} (ms)`);
  console.log('| operation | p50 | p95 |\n|---|---|---|');
  for (const [label, p50, p95] of rows) console.log(`| ${label} | ${p50.toFixed(2)} | ${p95.toFixed(2)} |`);
  process.exit(0);
}

await main();
