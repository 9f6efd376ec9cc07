/**
 * The cluster's facts for admission: --service-cidr parsing, a Node's pod
 * subnets (spec.podCIDRs and the older spec.podCIDR), and the webhook's
 * verdict with them: a masquerade VM subnet that overlaps a node's pod
 * subnet or a service CIDR is denied naming the field, the value and what it
 * overlaps; until the nodes are listed, reviews ask to be retried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import {
  clusterReservedCidrs,
  DEFAULT_SERVICE_CIDRS,
  parseServiceCidrs,
  podSubnetsOf,
} from '../../../controller/control/node-subnets.ts';
import { review, serveWebhook, type ClusterFacts } from '../../../controller/control/webhook.ts';
import { BASE_VMI } from './validation-table.ts';

type Obj = Record<string, any>;
const request = (object: unknown) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'req-7', operation: 'CREATE', object },
});
const node = (name: string, spec: Obj) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec });
const NODES = [
  node('node-a', { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24', 'fd00:10:244::/64'] }),
  node('node-b', { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] }),
];
const facts: ClusterFacts = () => ({
  reservedCidrs: clusterReservedCidrs(NODES.flatMap(podSubnetsOf), ['10.96.0.0/12', 'fd00:10:96::/112']),
});

/** BASE_VMI with its pod network's masquerade subnets set. */
function vmiWith(pod: Obj): Obj {
  const doc = structuredClone(BASE_VMI);
  doc.spec.networks[0].pod = pod;
  return doc;
}

const causes = (res: Obj) =>
  (res.status!.details!.causes as Array<{ field: string; message: string }>).map((c) => `${c.field}: ${c.message}`);

test('--service-cidr: the default, dual stack, and refusals naming the flag, the value and the rule', () => {
  assert.deepEqual(parseServiceCidrs(undefined), DEFAULT_SERVICE_CIDRS);
  assert.deepEqual(parseServiceCidrs([]), ['10.96.0.0/12']);
  assert.deepEqual(parseServiceCidrs(['10.43.0.0/16', 'fd00:43::/112']), ['10.43.0.0/16', 'fd00:43::/112']);
  assert.throws(() => parseServiceCidrs(['10.43.0.0']), /^Error: --service-cidr "10\.43\.0\.0" is not a CIDR/u);
  assert.throws(() => parseServiceCidrs(['10.43.0.0/33']), /--service-cidr "10\.43\.0\.0\/33" is not a CIDR/u);
  assert.throws(
    () => parseServiceCidrs(['10.43.0.0/16', '10.96.0.0/12']),
    /--service-cidr "10\.96\.0\.0\/12": IPv4 is already given by "10\.43\.0\.0\/16"; a cluster has at most one service CIDR per family/u,
  );
});

test("a Node's pod subnets: podCIDRs and podCIDR, deduplicated; an older node with podCIDR only; junk left out", () => {
  assert.deepEqual(podSubnetsOf(NODES[0]), [
    { node: 'node-a', cidr: '10.244.0.0/24' },
    { node: 'node-a', cidr: 'fd00:10:244::/64' },
  ]);
  assert.deepEqual(podSubnetsOf(node('old', { podCIDR: '10.244.9.0/24' })), [{ node: 'old', cidr: '10.244.9.0/24' }]);
  assert.deepEqual(podSubnetsOf(node('none', {})), []);
  assert.deepEqual(podSubnetsOf(node('junk', { podCIDRs: ['nope', 7, null], podCIDR: { x: 1 } })), []);
  assert.deepEqual(podSubnetsOf({ spec: { podCIDR: '10.1.0.0/24' } }), [], 'a node without a name names nothing');
  assert.deepEqual(podSubnetsOf(null), []);
});

test(
  'webhook: a masquerade vmNetworkCIDR ' +
    "inside node-b's pod subnet " +
    'is denied, naming the field, the ' +
    'value, the node and its subnet',
  () => {
    const res = review(request(vmiWith({ vmNetworkCIDR: '10.244.1.128/25' })), facts).response;
    assert.equal(res.allowed, false);
    assert.equal(res.status!.code, 422);
    assert.deepEqual(causes(res), [
      'spec.networks[0].pod.vmNetworkCIDR: "10.244.1.128/25" overlaps node "node-b"\'s pod subnet 10.244.1.0/24; ' +
        'choose a subnet outside it',
    ]);
    assert.match(
      res.status!.message,
      /VirtualMachineInstance "vm1" is invalid: spec\.networks\[0\]\.pod\.vmNetworkCIDR/u,
    );
  },
);

test("webhook: a masquerade subnet over the service CIDR is denied; IPv6 against node-a's IPv6 pod subnet too", () => {
  const v4 = review(request(vmiWith({ vmNetworkCIDR: '10.100.0.0/24' })), facts).response;
  assert.deepEqual(causes(v4), [
    'spec.networks[0].pod.vmNetworkCIDR: "10.100.0.0/24" overlaps the service CIDR 10.96.0.0/12; choose a subnet ' +
      'outside it',
  ]);
  const v6 = review(request(vmiWith({ vmIPv6NetworkCIDR: 'fd00:10:244::/120' })), facts).response;
  assert.deepEqual(causes(v6), [
    'spec.networks[0].pod.vmIPv6NetworkCIDR: "fd00:10:244::/120" overlaps node "node-a"\'s pod subnet ' +
      'fd00:10:244::/64; choose a subnet outside it',
  ]);
  const svc6 = review(request(vmiWith({ vmIPv6NetworkCIDR: 'fd00:10:96::/120' })), facts).response;
  assert.deepEqual(causes(svc6), [
    'spec.networks[0].pod.vmIPv6NetworkCIDR: "fd00:10:96::/120" overlaps the service CIDR fd00:10:96::/112; choose ' +
      'a subnet outside it',
  ]);
});

test("webhook: the masquerade defaults count, when a node's pod subnet holds them", () => {
  const wide = (): Obj => ({
    reservedCidrs: clusterReservedCidrs(
      [
        { node: 'lab-1', cidr: '10.0.0.0/16' },
        { node: 'lab-1', cidr: 'fd10::/32' },
      ],
      [],
    ),
  });
  const res = review(request(vmiWith({})), wide).response;
  assert.deepEqual(causes(res), [
    'spec.networks[0].pod.vmNetworkCIDR: "10.0.2.0/24" (the default) overlaps node "lab-1"\'s pod subnet ' +
      '10.0.0.0/16; choose a subnet outside it',
    'spec.networks[0].pod.vmIPv6NetworkCIDR: "fd10:0:2::/120" (the default) overlaps node "lab-1"\'s pod subnet ' +
      'fd10::/32; choose a subnet outside it',
  ]);
});

test(
  'webhook: subnets clear of every node and service CIDR are admitted; a bridge-bound pod network is not a ' +
    'masquerade one',
  () => {
    assert.equal(
      review(request(vmiWith({ vmNetworkCIDR: '192.168.77.0/24', vmIPv6NetworkCIDR: 'fd20::/120' })), facts).response
        .allowed,
      true,
    );
    assert.equal(
      review(request(vmiWith({})), facts).response.allowed,
      true,
      'the defaults 10.0.2.0/24 and fd10:0:2::/120 are clear here',
    );
    const bridged = vmiWith({ vmNetworkCIDR: '10.244.1.0/28' });
    bridged.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {} };
    assert.equal(
      review(request(bridged), facts).response.allowed,
      true,
      'only masquerade routes between the VM subnet and the pod network',
    );
  },
);

test(
  'webhook: until the nodes are listed, a review is answered 503 (retry), never admitted unchecked; DELETE still ' +
    'passes',
  async () => {
    let listed = false;
    const later: ClusterFacts = () => (listed ? facts() : undefined);
    const res = review(request(vmiWith({ vmNetworkCIDR: '10.244.1.0/24' })), later).response;
    assert.deepEqual([res.allowed, res.status!.code, res.status!.reason], [false, 503, 'ServiceUnavailable']);
    assert.match(res.status!.message, /not yet listed the cluster's nodes, whose pod subnets .*; retry$/u);
    assert.equal(review({ request: { uid: 'd', operation: 'DELETE', object: {} } }, later).response.allowed, true);

    const server = await serveWebhook(0, undefined, '127.0.0.1', undefined, later);
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      assert.equal((await fetch(`${base}/readyz`)).status, 503);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      listed = true;
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      const post = await fetch(`${base}/validate`, {
        method: 'POST',
        body: JSON.stringify(request(vmiWith({ vmNetworkCIDR: '10.244.1.0/24' }))),
      });
      const answer = (await post.json()) as Obj;
      assert.deepEqual(causes(answer.response), [
        'spec.networks[0].pod.vmNetworkCIDR: "10.244.1.0/24" overlaps node "node-b"\'s pod subnet 10.244.1.0/24; ' +
          'choose a subnet outside it',
      ]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  },
);
