/**
 * The node agent's garbage collection against an ADD in flight (issue 11,
 * item 10), with the real plugin and host-local in a test node namespace.
 * The agent finds the stale attachments, then execs the plugin; an ADD that
 * lands in between (here: made by a wrapper just before the plugin runs)
 * must keep its veth, its IP and its record. Only the stale attachment is
 * released, by a CNI DEL of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { NodeAgent } from '../../../controller/agent/node-agent.ts';
import { installPlugin } from '../../../controller/agent/cni-install.ts';
import { hostVethName } from '../../../cni/state.ts';
import { PLUGIN, ipamAllocations, mustCall, nodeFixture } from '../../support/cni.ts';
import { deleteNetns, makeNetns } from '../../support/netns.ts';

const fx = nodeFixture();

test('GC releases the pod that is gone, and not an ADD that lands while it runs', async () => {
  const dir = join(fx.dir, 'gc-race');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  // The shim and, beside it, the Node plugin it runs with no daemon: what the agent installs.
  installPlugin(PLUGIN, join(dir, 'bin'));
  const plugin = {
    type: 'virtnet-bridge',
    bridge: 'vnt-gcr0',
    dataDir: join(dir, 'records'),
    ipam: { type: 'host-local', subnet: '10.151.0.0/24', dataDir: join(dir, 'ipam') },
  };
  const conflist = { cniVersion: '1.1.0', name: 'gcrace', plugins: [plugin] };
  const netConf = { cniVersion: '1.1.0', name: 'gcrace', ...plugin };
  const gone = makeNetns('vnt-gcgone');
  const late = makeNetns('vnt-gclate');
  mustCall(fx.node, 'ADD', netConf, { containerID: 'c-gone', ifname: 'eth0', netns: gone.path });
  deleteNetns(gone);

  // Every plugin exec of the agent goes through this wrapper: the first one
  // first ADDs c-late, as a runtime would at that very moment.
  const addConf = join(dir, 'add.json');
  writeFileSync(addConf, JSON.stringify(netConf));
  const marker = join(dir, 'late-added');
  const wrapper = join(dir, 'wrap.sh');
  writeFileSync(
    wrapper,
    [
      '#!/bin/sh',
      `if [ ! -e '${marker}' ]; then`,
      `  touch '${marker}'`,
      `  CNI_COMMAND=ADD CNI_CONTAINERID=c-late CNI_IFNAME=eth0 CNI_NETNS='${late.path}' "$1" < '${addConf}' > ` +
        `/dev/null || exit 97`,
      'fi',
      'exec "$@"',
      '',
    ].join('\n'),
  );
  const agent = new NodeAgent(undefined, {
    node: 'n',
    log: pino({ level: 'silent' }),
    plugin: PLUGIN,
    cniBinDir: join(dir, 'bin'),
    cniConfDir: join(dir, 'net.d'),
    conflist,
    stateRoot: join(dir, 'pods'),
    cniWrap: ['ip', 'netns', 'exec', fx.node.name, 'sh', wrapper],
  });
  assert.equal(await agent.gcOnce(), 1, 'one stale attachment');
  assert.ok(existsSync(marker), 'the late ADD ran while GC was under way');

  const records = readdirSync(join(dir, 'records', 'gcrace'));
  assert.deepEqual(
    records.map((f) => f.split('_')[0]),
    ['c-late'],
    "the gone pod's record is released, the late one stays",
  );
  assert.equal(ipamAllocations(join(dir, 'ipam'), 'gcrace').length, 1, "one IP left: the late pod's");
  assert.equal(
    fx.node.try(['ip', 'link', 'show', hostVethName('c-late', 'eth0')]).status,
    0,
    'the late pod keeps its host veth',
  );
  assert.notEqual(
    fx.node.try(['ip', 'link', 'show', hostVethName('c-gone', 'eth0')]).status,
    0,
    "the gone pod's veth is gone",
  );
  assert.match(late.run(['ip', '-o', 'addr', 'show', 'eth0']), /10\.151\.0\./u, 'the late pod keeps its address');
  assert.equal(await agent.gcOnce(), 0, 'nothing more to collect');
  mustCall(fx.node, 'DEL', netConf, { containerID: 'c-late', ifname: 'eth0', netns: late.path });
  assert.equal(ipamAllocations(join(dir, 'ipam'), 'gcrace').length, 0);
});
