/**
 * The node agent: an atomic CNI install under a runtime that keeps calling
 * the plugin; CNI GC releasing the attachment of a pod whose netns is gone
 * (real plugin, real host-local, in a test node namespace); and metrics in
 * valid Prometheus exposition format.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { installFile, installPlugin, NODE_PLUGIN_NAME } from '../../../controller/agent/cni-install.ts';
import { DEFAULT_NETWORK_FILE, NodeAgent } from '../../../controller/agent/node-agent.ts';
import { ControllerMetrics, serveMetrics } from '../../../controller/control/metrics.ts';
import { PLUGIN, mustCall, nodeFixture, scratchDir } from '../../support/cni.ts';
import { makeNetns, deleteNetns } from '../../support/netns.ts';
import { parseExposition } from '../../support/prom-parse.ts';

const log = pino({ level: 'silent' });
const scratch = scratchDir();
after(() => scratch.cleanup());
const fx = nodeFixture();

function version(bin: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const c = spawn(bin, [], {
      env: { CNI_COMMAND: 'VERSION', PATH: process.env.PATH },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d));
    c.stderr.on('data', (d: Buffer) => (err += d));
    c.on('error', (e) => res({ code: -1, out, err: e.message }));
    c.on('close', (code) => res({ code, out, err }));
    // VERSION needs no stdin, and the shim does not read it: a pipe it closed unread is no failure.
    c.stdin.on('error', () => undefined);
    c.stdin.end('{"cniVersion":"1.1.0"}');
  });
}

test('reinstalling the plugin while a runtime calls it: never "text file busy", never a half-written file', async () => {
  const bin = join(scratch.dir, 'bin');
  const v1 = readFileSync(PLUGIN);
  const v2 = Buffer.concat([v1, Buffer.from('\n// a newer build\n')]);
  // The shim with no daemon runs the Node plugin beside it.
  installFile(join(bin, NODE_PLUGIN_NAME), readFileSync(join(dirname(PLUGIN), NODE_PLUGIN_NAME)), 0o755);
  installFile(join(bin, 'virtnet-bridge'), v1, 0o755);
  let installing = true;
  let installs = 0;
  const installer = (async () => {
    while (installing) {
      installFile(join(bin, 'virtnet-bridge'), installs % 2 ? v1 : v2, 0o755);
      installs++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  const failures: string[] = [];
  let calls = 0;
  const end = Date.now() + 4000;
  while (Date.now() < end) {
    const batch = await Promise.all(Array.from({ length: 8 }, () => version(join(bin, 'virtnet-bridge'))));
    for (const r of batch) {
      calls++;
      if (r.code !== 0 || !r.out.includes('"supportedVersions"'))
        failures.push(`exit ${r.code}: ${r.err.slice(0, 200)}`);
    }
  }
  installing = false;
  await installer;
  assert.deepEqual(failures, [], `${failures.length} of ${calls} calls failed during ${installs} installs`);
  assert.ok(installs > 20 && calls > 20, `${installs} installs, ${calls} calls`);
  assert.deepEqual(readdirSync(bin).sort(), ['virtnet-bridge', NODE_PLUGIN_NAME], 'no temporary file is left');
});

test('CNI GC releases the attachment (and its IP) of a pod whose netns is gone, and keeps the living one', async () => {
  const dir = join(scratch.dir, 'gc');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  // The shim and, beside it, the Node plugin it runs with no daemon: what the agent installs.
  installPlugin(PLUGIN, join(dir, 'bin'));
  const plugin = {
    type: 'virtnet-bridge',
    bridge: 'vnt-gc0',
    dataDir: join(dir, 'records'),
    ipam: { type: 'host-local', subnet: '10.150.0.0/24', dataDir: join(dir, 'ipam') },
  };
  const conflist = { cniVersion: '1.1.0', name: 'gcnet', plugins: [plugin] };
  const gone = makeNetns('vnt-gcpod');
  const alive = makeNetns('vnt-gcpod');
  for (const [id, ns] of [
    ['c-gone', gone],
    ['c-alive', alive],
  ] as const)
    mustCall(
      fx.node,
      'ADD',
      { cniVersion: '1.1.0', name: 'gcnet', ...plugin },
      { containerID: id, ifname: 'eth0', netns: ns.path },
    );
  const ips = () => readdirSync(join(dir, 'ipam', 'gcnet')).filter((f) => /^10\./u.test(f));
  assert.equal(ips().length, 2);
  deleteNetns(gone);
  const agent = new NodeAgent(undefined, {
    node: 'n',
    log,
    plugin: PLUGIN,
    cniBinDir: join(dir, 'bin'),
    cniConfDir: join(dir, 'net.d'),
    conflist,
    stateRoot: join(dir, 'pods'),
    cniWrap: ['ip', 'netns', 'exec', fx.node.name],
  });
  assert.equal(await agent.gcOnce(), 1);
  assert.equal(ips().length, 1, "the gone pod's IP is released");
  assert.equal(readdirSync(join(dir, 'records', 'gcnet')).length, 1, 'its record is gone, the living one stays');
  assert.equal(await agent.gcOnce(), 0, 'nothing more to collect');
  mustCall(
    fx.node,
    'DEL',
    { cniVersion: '1.1.0', name: 'gcnet', ...plugin },
    { containerID: 'c-alive', ifname: 'eth0', netns: alive.path },
  );
});

test("metrics: the node agent's and the controller's endpoints serve valid Prometheus exposition", async () => {
  const dir = join(scratch.dir, 'metrics');
  const logFile = join(dir, 'cni.log');
  mkdirSync(dir, { recursive: true });
  const conflist = {
    cniVersion: '1.1.0',
    name: 'm',
    plugins: [{ type: 'virtnet-bridge', logFile, dataDir: join(dir, 'records') }],
  };
  const agent = new NodeAgent(undefined, {
    node: 'n',
    log,
    plugin: PLUGIN,
    cniBinDir: join(dir, 'bin'),
    cniConfDir: join(dir, 'net.d'),
    conflist,
    stateRoot: join(dir, 'pods'),
    defaultNetwork: true,
    podCIDRs: ['10.152.0.0/24'],
  });
  agent.install();
  assert.ok(existsSync(join(dir, 'net.d', DEFAULT_NETWORK_FILE)));
  appendFileSync(
    logFile,
    [
      '{"msg":"operation","verb":"ADD","result":"ok","ms":48.2}',
      '{"msg":"operation","verb":"DEL","result":"error","ms":12}',
      '{"msg":"added"}',
      '{"msg":"operation","verb":"ADD","res',
    ].join('\n'),
  );
  await agent.reportOnce();
  agent.metrics.observeLauncher('pod-1', {
    phase: 'Running',
    pid: 1,
    warnings: [],
    steps: [
      { name: 'discover', ms: 10 },
      { name: 'plan', ms: 2 },
      { name: 'network', ms: 20 },
    ],
    nics: [
      {
        name: 'default',
        binding: 'bridge',
        podInterface: 'eth0',
        bridge: 'k6t-eth0',
        tap: 'tap0',
        mac: '02:00:00:00:00:01',
        mtu: 1500,
        ips: ['10.0.0.2/24'],
        dhcp: true,
        leased4: true,
        leased6: false,
      },
    ],
  });
  agent.metrics.observeLauncher('pod-1', { phase: 'Running', pid: 1, warnings: [], steps: [], nics: [] });
  const ctrl = new ControllerMetrics();
  ctrl.reconcileDuration.observe({ kind: 'vmi' }, 0.002);
  for (const [registry, names] of [
    [
      agent.metrics.registry,
      [
        'virtnet_cni_operation_duration_seconds',
        'virtnet_launcher_network_setup_duration_seconds',
        'virtnet_dhcp_leases_total',
      ],
    ],
    [
      ctrl.registry,
      [
        'virtnet_controller_reconcile_duration_seconds',
        'virtnet_controller_reconcile_errors_total',
        'virtnet_vmi_phase_transition_time_from_creation_seconds',
      ],
    ],
  ] as const) {
    const server = await serveMetrics(registry, 0, () => true, '127.0.0.1');
    try {
      const port = (server.address() as AddressInfo).port;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/u);
      const families = parseExposition(await res.text());
      for (const n of names) assert.ok(families.has(n), `${n} is served`);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }
  const text = await agent.metrics.registry.metrics();
  assert.match(text, /virtnet_cni_operation_duration_seconds_count\{verb="ADD",result="ok"\} 1\n/u);
  assert.match(text, /virtnet_cni_operation_duration_seconds_count\{verb="DEL",result="error"\} 1\n/u);
  assert.match(text, /virtnet_dhcp_leases_total\{family="ipv4"\} 1\n/u);
  assert.match(text, /virtnet_launcher_network_setup_duration_seconds_count 1\n/u);
  assert.throws(
    () => parseExposition('# TYPE x histogram\nx_bucket{le="1"} 2\nx_bucket{le="+Inf"} 1\nx_sum 1\nx_count 1\n'),
    /falling/u,
    'the parser is strict',
  );
});
