/**
 * The cluster controller, measured two ways:
 *  1. reconcile latency without API round trips: reconcileVmi (the whole
 *     decision: validation, NAD checks, pod rendering or status merge) over
 *     VMIs in each state, N times, p50 and p99;
 *  2. VMI creation → Running with the guest's lease, end to end: the
 *     in-process test API server, the controller, and the standalone node
 *     runtime in the kubelet's seat (its CNI plugins in a private node
 *     namespace), with the TCG test guest; n VMIs one after another.
 *   node --import tsx bench/controller.ts [--n 2000] [--vms 3]
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startKubeTestServer } from '../harness/kube/api-server.ts';
import { reconcileVmi } from '../controller/control/reconcile.ts';
import { Controller } from '../controller/control/controller.ts';
import type { Pod, StoredObject } from '../controller/api/kube-objects.ts';
import { KubeApi } from '../controller/kube/kube.ts';
import { LAUNCHER_STATUS_ANNOTATION } from '../controller/render/pod.ts';
import { NETWORK_STATUS_ANNOTATION } from '../controller/status/pod.ts';
import { round2, summarize, quantile } from './stats.ts';

type Obj = Record<string, any>;
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || dflt : dflt);
const N = opt('--n', 2000);
const VMS = opt('--vms', 3);

function reconcileLatency(): number[] {
  const vmi: StoredObject = {
    apiVersion: 'virtnet.io/v1alpha1',
    kind: 'VirtualMachineInstance',
    metadata: { name: 'vm', namespace: 'default', uid: 'u', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      domain: {
        devices: {
          interfaces: [
            { name: 'default', masquerade: {}, ports: [{ port: 80 }] },
            { name: 'blue', bridge: {} },
          ],
        },
      },
      networks: [
        { name: 'default', pod: {} },
        { name: 'blue', multus: { networkName: 'blue' } },
      ],
    },
  };
  const pod = (phase: string): Pod => ({
    metadata: {
      name: 'p',
      namespace: 'default',
      uid: 'pu',
      labels: {},
      annotations: {
        [NETWORK_STATUS_ANNOTATION]: JSON.stringify([
          { name: 'n', interface: 'eth0', ips: ['10.244.0.5'], default: true, dns: {} },
        ]),
        [LAUNCHER_STATUS_ANNOTATION]: JSON.stringify({ phase: 'Running', nics: [], steps: [] }),
      },
    },
    spec: { nodeName: 'n1' },
    status: { phase },
  });
  const states: Array<() => Pod[]> = [() => [], () => [pod('Pending')], () => [pod('Running')]];
  const obs = (pods: Pod[]) => ({
    vmi,
    pods,
    nadExists: () => true,
    image: 'i',
    serviceCIDRs: [],
    testGuest: { kernel: '/k', initrd: '/i', cmdline: '' },
    allowedHostPaths: [],
  });
  for (let i = 0; i < 200; i++) reconcileVmi(obs(states[i % 3]!())); // warm-up (JIT)
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const o = obs(states[i % 3]!());
    const t = performance.now();
    reconcileVmi(o);
    out.push(performance.now() - t);
  }
  return out;
}

async function endToEnd(): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-bench-'));
  const node = `vnb-cnode-${process.pid}`;
  execFileSync('ip', ['netns', 'add', node]);
  const guest = execFileSync('bash', ['scripts/build-guest.sh'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .at(-1)!;
  const server = await startKubeTestServer();
  const ctrl = new Controller(new KubeApi(server.kubeConfig()), {
    image: 'virtnet',
    serviceCIDRs: ['10.96.0.0/12'],
    testGuest: {
      kernel: join(guest, 'vmlinuz'),
      initrd: join(guest, 'initrd.img'),
      cmdline: 'console=ttyS0 quiet panic=-1',
    },
    log: pino({ level: 'silent' }),
  });
  await ctrl.start();
  const kubelet = spawn(
    process.execPath,
    [
      resolve('dist/cluster/virtnet-cluster'),
      'kubelet',
      '--node',
      'n1',
      '--kubeconfig',
      server.kubeconfigFile(dir),
      '--state-dir',
      join(dir, 'state'),
      '--cni-netns',
      node,
    ],
    { stdio: 'ignore' },
  );
  const custom = server.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  const G = { group: 'virtnet.io', version: 'v1alpha1', namespace: 'default', plural: 'virtualmachineinstances' };
  const times: number[] = [];
  try {
    for (let i = 0; i < VMS; i++) {
      const name = `vm${i}`;
      const t = performance.now();
      await custom.createNamespacedCustomObject({
        ...G,
        body: {
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
        },
      });
      for (;;) {
        const v = (await custom.getNamespacedCustomObject({ ...G, name })) as Obj;
        if (v.status?.phase === 'Running' && v.status.interfaces?.[0]?.leased) break;
        if (v.status?.phase === 'Failed' || performance.now() - t > 120_000)
          throw new Error(`${name}: ${v.status?.phase} ${v.status?.reason ?? ''}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      times.push(performance.now() - t);
      await custom.deleteNamespacedCustomObject({ ...G, name });
      await new Promise((r) => setTimeout(r, 3000)); // let the kubelet tear it down before the next
    }
  } finally {
    kubelet.kill('SIGTERM');
    await new Promise((r) => kubelet.on('exit', r));
    spawnSync(process.execPath, [resolve('dist/cli/virtnet'), '--state-dir', join(dir, 'state'), 'down', '--all']);
    await ctrl.stop();
    await server.close();
    spawnSync('ip', ['netns', 'del', node]);
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

const lat = reconcileLatency();
const s = summarize(lat);
console.log(`controller benchmark (${new Date().toISOString()})`);
console.log('| measure | n | p50 | p99 |\n|---|---|---|---|');
console.log(
  `| reconcileVmi, no API round trips (ms) | ${s.n} | ${s.p50.toFixed(3)} | ${quantile(lat, 0.99).toFixed(3)} |`,
);
const e2e = await endToEnd();
const e = summarize(e2e);
console.log(
  `| VMI created → Running with the guest's lease, end to end, TCG (ms) | ${e.n} | ${round2(e.p50)} | ` +
    `${round2(quantile(e2e, 0.99))} |`,
);
