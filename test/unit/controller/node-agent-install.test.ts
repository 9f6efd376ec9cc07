/**
 * The node agent's install: the plugin's node policy (cni/policy.ts), which
 * lets the pod network keep its data and log where its conflist says, is on
 * the node with the conflist, private to root, and a policy the plugin reads.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEFAULT_NETWORK_FILE, NodeAgent } from '../../../controller/agent/node-agent.ts';
import { POD_NETWORK_POLICY, podNetworkConfList } from '../../../controller/cluster/main.ts';
import { parsePolicy } from '../../../cni/policy.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-agent-install-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test(
  'install writes the node policy and, as the default network, the conflist; the policy covers every path of the ' +
    'pod network',
  () => {
    mkdirSync(join(dir, 'image'));
    writeFileSync(join(dir, 'image', 'virtnet-bridge'), '#!/bin/sh\n');
    const policyFile = join(dir, 'etc', 'virtnet', 'cni-policy.json');
    const conflist = podNetworkConfList();
    // The log directory of the real conflist is the host's: point it into the scratch directory.
    conflist.plugins[0]!.logFile = join(dir, 'log', 'cni.log');
    const agent = new NodeAgent(undefined, {
      node: 'n',
      log: pino({ level: 'silent' }),
      plugin: join(dir, 'image', 'virtnet-bridge'),
      cniBinDir: join(dir, 'bin'),
      cniConfDir: join(dir, 'net.d'),
      conflist,
      defaultNetwork: true,
      podCIDRs: ['10.244.0.0/24'],
      stateRoot: join(dir, 'pods'),
      cniPolicy: { file: policyFile, policy: POD_NETWORK_POLICY.policy },
    });
    agent.install();
    assert.ok(existsSync(join(dir, 'net.d', DEFAULT_NETWORK_FILE)));
    assert.equal(statSync(policyFile).mode & 0o777, 0o600);
    const policy = parsePolicy(readFileSync(policyFile, 'utf8'), policyFile);
    assert.deepEqual(
      JSON.parse(readFileSync(join(dir, 'net.d', DEFAULT_NETWORK_FILE), 'utf8')).plugins[0].ipam.ranges,
      [[{ subnet: '10.244.0.0/24' }]],
    );
    const plugin = podNetworkConfList().plugins[0]!;
    for (const path of [plugin.dataDir, plugin.ipam.dataDir])
      assert.ok(
        policy.dataRoots.some((r) => path.startsWith(`${r}/`)),
        `${path} is under a data root`,
      );
    assert.ok(policy.logRoot && plugin.logFile.startsWith(`${policy.logRoot}/`), 'the log is under the log root');
  },
);
