/**
 * VMI created → Running with its guest's lease, on the local multi-node lab
 * (harness/lab): N VMIs (bridge binding, the TCG test guest) created at
 * once, as `kubectl apply -f` of a list does, and placed by the lab's
 * scheduler over the nodes. Each VMI's time is from its create call to the
 * first status with phase Running and the primary NIC leased. The same run
 * on a one-node lab is the reference, so the figure is also a ratio: what
 * several nodes cost (or save) with the same two cores.
 *   npm run build && node --import tsx bench/lab-vmis.ts [--nodes 3] [--vmis 10]
 */
import * as k8s from '@kubernetes/client-node';
import { startLab, type Lab } from '../harness/lab/lab.ts';
import { round2, summarize } from './stats.ts';

type Obj = Record<string, any>;
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || dflt : dflt);
const NODES = opt('--nodes', 3);
const VMIS = opt('--vmis', 10);
const G = { group: 'virtnet.io', version: 'v1alpha1', namespace: 'default', plural: 'virtualmachineinstances' };

const vmi = (name: string): Obj => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: { name },
  spec: {
    domain: {
      resources: { requests: { memory: '256Mi' } },
      devices: { interfaces: [{ name: 'default', bridge: {} }] },
    },
    networks: [{ name: 'default', pod: {} }],
  },
});

interface Run {
  nodes: number;
  ms: number[];
  placed: Record<string, number>;
}

/** Create every VMI at once and time each to Running with its lease (polled every 100 ms, so ±100 ms). */
async function runOnce(lab: Lab): Promise<Run> {
  const custom = lab.server.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  const names = Array.from({ length: VMIS }, (_, i) => `bench-${i + 1}`);
  const created = new Map<string, number>();
  await Promise.all(
    names.map(async (n) => {
      created.set(n, performance.now());
      await custom.createNamespacedCustomObject({ ...G, body: vmi(n) });
    }),
  );
  const done = new Map<string, number>();
  const placed: Record<string, number> = {};
  const deadline = Date.now() + 600_000;
  while (done.size < names.length) {
    if (Date.now() > deadline)
      throw new Error(`only ${done.size} of ${names.length} VMIs Running with a lease after 600 s`);
    for (const v of lab.server.objects('virtualmachineinstances.virtnet.io', 'default')) {
      if (done.has(v.metadata.name) || v.status?.phase !== 'Running' || v.status?.interfaces?.[0]?.leased !== true)
        continue;
      done.set(v.metadata.name, performance.now() - created.get(v.metadata.name)!);
      placed[v.status.nodeName] = (placed[v.status.nodeName] ?? 0) + 1;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { nodes: lab.nodes.length, ms: [...done.values()], placed };
}

async function measure(nodes: number): Promise<Run> {
  const lab = await startLab({ nodes, prefix: 'vnb' });
  const stop = () => void lab.stop().then(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    return await runOnce(lab);
  } finally {
    process.off('SIGINT', stop);
    const problems = await lab.stop();
    for (const p of problems) console.error(`lab cleanup: ${p}`);
  }
}

async function main(): Promise<void> {
  const many = await measure(NODES);
  const one = await measure(1);
  console.log(`\n# VMI created → Running with lease, ${VMIS} VMIs created at once (TCG test guest, 2 cores)\n`);
  console.log('| lab | n | p50 ms | p95 ms | max ms | placement |');
  console.log('|---|---|---|---|---|---|');
  for (const r of [many, one]) {
    const s = summarize(r.ms);
    console.log(
      `| ${r.nodes} node${r.nodes > 1 ? 's' : ''} | ${s.n} | ` +
        `${round2(s.p50)} | ${round2(s.p95)} | ${round2(s.max)} | ` +
        `${Object.entries(r.placed)
          .sort()
          .map(([n, c]) => `${n}: ${c}`)
          .join(', ')} |`,
    );
  }
  const ratio = summarize(many.ms).p50 / summarize(one.ms).p50;
  console.log(`\np50 on ${NODES} nodes / p50 on 1 node = ${ratio.toFixed(2)}`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
