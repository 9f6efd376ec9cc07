/**
 * npm run lab -- --nodes N [--segments K] [--dir D] [--prefix P] [--backend auto|host-gw|vxlan] [--no-default-network]
 * [--keep]
 * A local multi-node lab for trying virtnet's cluster mode on one machine
 * (harness/lab: a test harness, not a product cluster). Prints
 * "lab ready: <lab.json>" and runs until SIGINT or SIGTERM, then removes
 * everything it made. Needs root and the build (npm run lab builds first).
 */
import { parseArgs } from 'node:util';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { startLab } from '../harness/lab/lab.ts';

const { values: v } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: {
    nodes: { type: 'string', default: '2' },
    segments: { type: 'string', default: '1' },
    dir: { type: 'string' },
    backend: { type: 'string' },
    prefix: { type: 'string' },
    'no-default-network': { type: 'boolean' },
    keep: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) {
  process.stdout.write(
    'usage: npm run lab -- --nodes N [--segments K] [--dir D] [--prefix P] [--backend auto|host-gw|vxlan] ' +
      '[--no-default-network] [--keep]\n',
  );
  process.exit(0);
}
const num = (flag: string, s: string) => {
  if (!/^\d+$/u.test(s)) throw new Error(`lab: --${flag} ${JSON.stringify(s)} is not a whole number`);
  return Number(s);
};

async function main(): Promise<number> {
  // Installed first: a signal while the lab starts must not kill this process with everything half made.
  // The start runs to its end (or its own rollback), then the lab stops at once.
  const stopRequested = new Promise<void>((r) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => r());
  });
  const lab = await startLab({
    nodes: num('nodes', v.nodes),
    segments: num('segments', v.segments),
    ...(v.dir && { dir: v.dir }),
    ...(v.prefix && { prefix: v.prefix }),
    ...(v.backend && { nodeAgentArgs: ['--backend', v.backend] }),
    defaultNetwork: !v['no-default-network'],
    log: pino({ level: 'info' }, pino.destination(2)),
  });
  process.stdout.write(`lab ready: ${lab.json}\n`);
  await stopRequested;
  const problems = await lab.stop();
  for (const p of problems) process.stderr.write(`lab: cleanup: ${p}\n`);
  if (!v.dir && !v.keep) rmSync(lab.dir, { recursive: true, force: true });
  process.stdout.write('lab stopped\n');
  return problems.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.message.startsWith('lab:') ? '' : 'lab: '}${err.message}\n`);
    process.exit(1);
  },
);
