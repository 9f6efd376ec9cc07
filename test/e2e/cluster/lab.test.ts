/**
 * Several nodes, through the lab as a user runs it: `scripts/lab.ts` (what
 * `npm run lab` runs after the build) with three nodes over two L2 segments
 * (node-1 and node-3 share segment 0, node-2 is behind a router), driven
 * with the real kubectl and its kubeconfig. VMIs placed by nodeSelector get
 * pod IPs from their nodes' subnets and reach each other across nodes: by
 * host-gw routes on a shared segment, through the VXLAN overlay otherwise.
 * Two VMs share an L2 NAD over head-end replicated VXLAN with static
 * addresses, and a VLAN-100 trunk passes 100 and drops 200 across nodes. A
 * node deleted takes its routes and FDB entries off the others. SIGINT
 * removes everything the lab made.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { GuestConsole, waitFor } from '../../../harness/guest-console.ts';
import { Store } from '../../../controller/node/store.ts';

type Obj = Record<string, any>;
interface LabJson {
  kubeconfig: string;
  nodes: Array<{ name: string; netns: string; underlayIP: string; podCIDRs: string[]; stateDir: string }>;
}

let dir: string;
let lab: ChildProcess;
let labOut = '';
let info: LabJson;
const consoles: GuestConsole[] = [];
const PREFIX = 'vnte';

const kubectl = async (...args: string[]) =>
  (
    await promisify(execFile)(
      'kubectl',
      ['--kubeconfig', info.kubeconfig, '--cache-dir', join(dir, 'kcache'), ...args],
      { encoding: 'utf8' },
    )
  ).stdout;
const kubectlFails = async (...args: string[]) =>
  kubectl(...args).then(
    (out) => assert.fail(`kubectl ${args.join(' ')} succeeded: ${out}`),
    (e: { stderr: string }) => e.stderr,
  );
const inNode = (node: string, argv: string[]) =>
  spawnSync('ip', ['netns', 'exec', `${PREFIX}-${node}`, ...argv], { encoding: 'utf8' });
const vmiJson = async (name: string): Promise<Obj> => JSON.parse(await kubectl('get', 'vmi', name, '-o', 'json'));

function apply(name: string, ...objects: Obj[]): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, objects.map((o) => toYaml(o)).join('---\n'));
  return kubectl('apply', '-f', file);
}

const nad = (name: string, config: Obj) => ({
  apiVersion: 'k8s.cni.cncf.io/v1',
  kind: 'NetworkAttachmentDefinition',
  metadata: { name },
  spec: { config: JSON.stringify({ cniVersion: '1.1.0', name, type: 'virtnet-bridge', ...config }) },
});

function vmi(
  name: string,
  node: string,
  binding: 'bridge' | 'masquerade',
  data: Array<{ name: string; nad: string; ips?: string[] }> = [],
): Obj {
  return {
    apiVersion: 'virtnet.io/v1alpha1',
    kind: 'VirtualMachineInstance',
    metadata: { name },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': node },
      hostname: name,
      domain: {
        resources: { requests: { memory: '256Mi' } },
        devices: {
          interfaces: [
            { name: 'default', [binding]: {}, ...(binding === 'masquerade' && { ports: [{ port: 80 }] }) },
            ...data.map((d) => ({ name: d.name, bridge: {} })),
          ],
        },
      },
      networks: [
        { name: 'default', pod: {} },
        ...data.map((d) => ({ name: d.name, multus: { networkName: d.nad, ...(d.ips && { ips: d.ips }) } })),
      ],
    },
  };
}

/** The console of a VMI's guest, found through the node runtime's record on its node. */
function guest(node: string, name: string): GuestConsole {
  const stateDir = info.nodes.find((n) => n.name === node)!.stateDir;
  // The kubelet role keeps each sandbox under its launcher pod's name, virt-launcher-<vmi>-<suffix>.
  const store = new Store(stateDir);
  const rec = store.listVmis().find((r) => r.object.metadata.name.startsWith(`virt-launcher-${name}-`));
  assert.ok(rec, `no sandbox of ${name} on ${node}`);
  const c = new GuestConsole(store.launcherDir(rec.netns));
  consoles.push(c);
  return c;
}

async function waitLeased(name: string): Promise<Obj> {
  await kubectl('wait', '--for=jsonpath={.status.phase}=Running', `vmi/${name}`, '--timeout=150s');
  const end = Date.now() + 90_000;
  for (;;) {
    const v = await vmiJson(name);
    if (v.status?.interfaces?.[0]?.leased) return v;
    if (Date.now() > end) throw new Error(`${name}: no lease in status.interfaces: ${JSON.stringify(v.status)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'virtnet-test-lab-'));
  lab = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      resolve('scripts/lab.ts'),
      '--nodes',
      '3',
      '--segments',
      '2',
      '--dir',
      join(dir, 'lab'),
      '--prefix',
      PREFIX,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  lab.stdout!.on('data', (d: Buffer) => (labOut += d.toString()));
  lab.stderr!.on('data', (d: Buffer) => (labOut += d.toString()));
  const json = await waitFor('lab ready', () => /^lab ready: (.+)$/mu.exec(labOut)?.[1], 120_000, 200).catch(
    (e: Error) => assert.fail(`${e.message}\n${labOut.slice(-3000)}`),
  );
  info = JSON.parse(readFileSync(json, 'utf8')) as LabJson;
});

after(async () => {
  for (const c of consoles) c.close();
  if (lab.exitCode === null) {
    lab.kill('SIGINT');
    // Its teardown is bounded (each role SIGKILLed after 10 s); a lab that still hangs is killed, and test/final
    // reports what it left.
    const killer = setTimeout(() => lab.kill('SIGKILL'), 180_000);
    await new Promise((r) => lab.on('exit', r));
    clearTimeout(killer);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('the lab: real kubectl lists its nodes with their labels and pod subnets', async () => {
  assert.deepEqual(
    info.nodes.map((n) => [n.name, n.podCIDRs]),
    [
      ['node-1', ['10.244.1.0/24']],
      ['node-2', ['10.244.2.0/24']],
      ['node-3', ['10.244.3.0/24']],
    ],
  );
  const out = await kubectl('get', 'nodes', '-L', 'kubernetes.io/hostname');
  for (const n of info.nodes) assert.match(out, new RegExp(`^${n.name}\\s+Ready\\b.*\\b${n.name}$`, 'mu'));
  const podCidrs = await kubectl(
    'get',
    'nodes',
    '-o',
    'jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR} {end}',
  );
  assert.equal(podCidrs.trim(), 'node-1=10.244.1.0/24 node-2=10.244.2.0/24 node-3=10.244.3.0/24');
  // Each node's default network: its own subnet, the cluster's unmasqueraded, and an MTU the overlay carries (1500 less
  // VXLAN's 50).
  for (const n of info.nodes) {
    const conf = JSON.parse(readFileSync(join(n.stateDir, 'net.d', '00-virtnet.conflist'), 'utf8'));
    const plugin = conf.plugins[0];
    assert.deepEqual(
      [plugin.ipam.ranges, plugin.ipMasqExclude, plugin.mtu],
      [[[{ subnet: n.podCIDRs[0] }]], ['10.244.0.0/16'], 1450],
      n.name,
    );
  }
});

test('VMIs on three nodes get pod IPs from their own node subnets and reach each other across nodes', {
  timeout: 400_000,
}, async () => {
  await apply(
    'nads',
    // Static IPAM takes the addresses from runtimeConfig.ips, which a delegate gets only for a capability it declares.
    nad('l2x', { bridge: 'vnl2x', vxlan: { id: 4242 }, capabilities: { ips: true }, ipam: { type: 'static' } }),
    nad('l2t', { bridge: 'vnl2t', vxlan: { id: 4243 }, vlanTrunk: [{ id: 100 }] }),
  );
  await apply(
    'vmis',
    vmi('vm-a', 'node-1', 'bridge', [
      { name: 'data', nad: 'l2x', ips: ['192.168.77.1/24'] },
      { name: 'trunk', nad: 'l2t' },
    ]),
    vmi('vm-b', 'node-2', 'bridge', [
      { name: 'data', nad: 'l2x', ips: ['192.168.77.2/24'] },
      { name: 'trunk', nad: 'l2t' },
    ]),
    vmi('vm-web', 'node-3', 'masquerade'),
  );
  const [a, b, web] = await Promise.all(['vm-a', 'vm-b', 'vm-web'].map(waitLeased));
  assert.deepEqual(
    [a, b, web].map((v) => v!.status.nodeName),
    ['node-1', 'node-2', 'node-3'],
  );
  const ipOf = (v: Obj) => v.status.interfaces[0].ipAddress as string;
  assert.match(ipOf(a!), /^10\.244\.1\.\d+$/u);
  assert.match(ipOf(b!), /^10\.244\.2\.\d+$/u);
  assert.match(ipOf(web!), /^10\.244\.3\.\d+$/u);

  // node-1 → node-3 share segment 0: a host-gw route; node-1 → node-2 do not: the overlay.
  const routes = inNode('node-1', ['ip', 'route', 'show', 'proto', '157']).stdout;
  assert.match(routes, /^10\.244\.3\.0\/24 via 10\.123\.0\.13 dev eth0/mu, routes);
  assert.match(routes, /^10\.244\.2\.0\/24 via 10\.244\.2\.0 dev virtnet-ovl onlink/mu, routes);

  const ga = guest('node-1', 'vm-a');
  // Bridge to bridge over the overlay, and to the other segment-0 node by host-gw (the masquerade VM answers on its pod
  // IP).
  for (const ip of [ipOf(b!), ipOf(web!)]) {
    const r = await ga.run(`ping -c 3 -W 2 ${ip}`, 30_000);
    assert.equal(r.rc, 0, `vm-a cannot ping ${ip}:\n${r.output}`);
  }
  // The masquerade VM's forwarded port, from the other nodes (node-1 by host-gw, node-2 through the overlay).
  for (const node of ['node-1', 'node-2']) {
    const r = inNode(node, ['curl', '-s', '--max-time', '5', `http://${ipOf(web!)}/`]);
    assert.match(r.stdout, /virtnet guest vm-web/u, `${node}: ${r.stderr}`);
  }
});

test('an L2 NAD over VXLAN spans two nodes: ' +
  'static addresses from the networks ' +
  "annotation's ips, ping both ways; a " +
  'VLAN-100 trunk passes 100 and drops 200', {
  timeout: 200_000,
}, async () => {
  const [a, b] = [guest('node-1', 'vm-a'), guest('node-2', 'vm-b')];
  const vms = await Promise.all(['vm-a', 'vm-b'].map(vmiJson));
  const nicOf = (v: Obj, name: string) => v.status.interfaces.find((i: Obj) => i.name === name);
  assert.deepEqual(
    vms.map((v) => nicOf(v, 'data').ipAddress),
    ['192.168.77.1', '192.168.77.2'],
    'the static addresses reached the pods',
  );
  const [aData, bData] = await Promise.all([
    a.ifnameOf(nicOf(vms[0]!, 'data').mac),
    b.ifnameOf(nicOf(vms[1]!, 'data').mac),
  ]);
  // The guest's DHCP client takes the static address from the launcher's dnsmasq, as for any bridge NIC with a pod IP.
  for (const [from, to] of [
    [a, '192.168.77.2'],
    [b, '192.168.77.1'],
  ] as const) {
    const r = await from.run(`ping -c 3 -W 2 ${to}`, 30_000);
    assert.equal(r.rc, 0, `no reply from ${to} over the VXLAN NAD (${aData}, ${bData}):\n${r.output}`);
  }
  const [aTrunk, bTrunk] = await Promise.all([
    a.ifnameOf(nicOf(vms[0]!, 'trunk').mac),
    b.ifnameOf(nicOf(vms[1]!, 'trunk').mac),
  ]);
  for (const [con, nic, host] of [
    [a, aTrunk, 1],
    [b, bTrunk, 2],
  ] as const) {
    for (const vlan of [100, 200]) {
      const r = await con.run(
        `ip link add link ${nic} name ${nic}.${vlan} type vlan id ${vlan} && ip addr add 10.${vlan}.0.${host}/24 ` +
          `dev ${nic}.${vlan} && ip link set ${nic}.${vlan} up`,
      );
      assert.equal(r.rc, 0, r.output);
    }
  }
  const v100 = await a.run('ping -c 3 -W 2 10.100.0.2', 30_000);
  assert.equal(v100.rc, 0, `VLAN 100 does not cross the trunk:\n${v100.output}`);
  const v200 = await a.run('ping -c 2 -W 2 10.200.0.2', 30_000);
  assert.notEqual(v200.rc, 0, 'VLAN 200 crossed a trunk that carries only 100');
});

test("describe and topology show a cluster VM's wiring; kubectl describe shows its Events", async () => {
  const described = await promisify(execFile)(
    process.execPath,
    [resolve('dist/cluster/kubectl-virtnet'), '--kubeconfig', info.kubeconfig, 'describe', 'vm-a'],
    { encoding: 'utf8' },
  );
  assert.match(described.stdout, /Node:\s+node-1/u);
  assert.match(described.stdout, /Bridge:\s+k6t-eth0/u);
  assert.match(described.stdout, /MTU:\s+1450/u, 'the guest NIC fits in the overlay');
  const topology = await promisify(execFile)(
    process.execPath,
    [resolve('dist/cluster/kubectl-virtnet'), '--kubeconfig', info.kubeconfig, 'topology', 'vm-a'],
    { encoding: 'utf8' },
  );
  assert.match(topology.stdout, /tap0/u);
  const events = await kubectl('describe', 'vmi', 'vm-a');
  for (const reason of ['SuccessfulCreate', 'Scheduled', 'NetworkReady', 'Started', 'Leased'])
    assert.match(events, new RegExp(`Normal\\s+${reason}\\s`, 'u'));
  assert.match(events, /is on node node-1/u);
});

test("the webhook refuses a masquerade subnet that overlaps a node's pod subnet, naming the node", async () => {
  const bad = vmi('vm-overlap', 'node-1', 'masquerade');
  bad.spec.networks[0].pod = { vmNetworkCIDR: '10.244.2.0/24' };
  const file = join(dir, 'overlap.yaml');
  writeFileSync(file, toYaml(bad));
  const err = await kubectlFails('create', '-f', file);
  assert.match(err, /admission webhook denied the request/u);
  assert.match(err, /10\.244\.2\.0\/24/u);
  assert.match(err, /node-2/u);
});

test('a node deleted: its routes, neighbours and FDB entries are gone from the others', {
  timeout: 60_000,
}, async () => {
  // The entries the agent keeps: the overlay's (permanent, by VTEP MAC) and the NADs' all-zeros ones; learned ones age
  // out by themselves.
  const fdb = () =>
    inNode('node-1', ['bridge', 'fdb', 'show'])
      .stdout.split('\n')
      .filter((l) => / dst /u.test(l) && /\bpermanent\b/u.test(l))
      .join('\n');
  assert.match(fdb(), /dst 10\.123\.1\.12/u, "node-2 is in node-1's FDBs (overlay and the VXLAN NADs)");
  await kubectl('delete', 'node', 'node-2');
  await waitFor(
    'node-2 withdrawn from node-1',
    () =>
      !/10\.244\.2\.0/u.test(inNode('node-1', ['ip', 'route', 'show', 'proto', '157']).stdout) &&
      !/dst 10\.123\.1\.12/u.test(fdb()),
    20_000,
  );
  assert.match(
    inNode('node-1', ['ip', 'route', 'show', 'proto', '157']).stdout,
    /^10\.244\.3\.0\/24 via/mu,
    "the other node's route stays",
  );
  assert.doesNotMatch(inNode('node-3', ['ip', 'route', 'show']).stdout, /10\.244\.2\.0/u);
});

test('SIGINT stops the lab and removes every namespace and link it made', { timeout: 120_000 }, async () => {
  for (const c of consoles.splice(0)) c.close();
  lab.kill('SIGINT');
  const code = await new Promise<number | null>((r) => lab.on('exit', r));
  assert.equal(code, 0, labOut.slice(-3000));
  assert.match(labOut, /lab stopped/u);
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(netns, new RegExp(`^${PREFIX}-`, 'mu'));
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(links, new RegExp(`: ${PREFIX}-`, 'u'));
  assert.doesNotMatch(spawnSync('pgrep', ['-af', join(dir, 'lab')], { encoding: 'utf8' }).stdout, /virtnet/u);
});
