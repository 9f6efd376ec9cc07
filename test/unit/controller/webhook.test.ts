/**
 * The admission webhook judges as `virtnet validate` does: every invalid
 * spec of the admission table is denied with the same field paths, as
 * AdmissionReview v1 causes; valid objects and deletes pass. NAD existence
 * is the one rule it leaves to the controller (a NAD may come later).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { review, serveWebhook } from '../../../controller/control/webhook.ts';
import { BASE_VM, BASE_VMI, ROWS } from './validation-table.ts';

const request = (object: unknown, operation = 'CREATE') => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'req-1', operation, object },
});
const nadRule = (rule: string) => /NetworkAttachmentDefinition .* not found/u.test(rule);

for (const row of ROWS) {
  test(`webhook denies: ${row.name}`, () => {
    const doc = structuredClone(row.vm ? BASE_VM : BASE_VMI);
    row.mutate(doc);
    const res = review(request(doc)).response;
    assert.equal(res.uid, 'req-1');
    const want = row.want.filter(([, rule]) => !nadRule(rule));
    if (!want.length) {
      assert.equal(res.allowed, true, "a missing NAD is the controller's to report");
      return;
    }
    assert.equal(res.allowed, false);
    assert.equal(res.status!.code, 422);
    const causes = res.status!.details!.causes as Array<{ field: string; message: string }>;
    assert.deepEqual(
      causes.map((c) => c.field),
      want.map(([path]) => path),
    );
    want.forEach(([, fragment], i) =>
      assert.ok(causes[i]!.message.includes(fragment), `${causes[i]!.message} should contain ${fragment}`),
    );
    assert.match(res.status!.message, new RegExp(`is invalid: ${want[0]![0].replace(/[.[\]]/gu, '\\$&')}`, 'u'));
  });
}

test('webhook allows valid objects and deletes, over HTTP as the apiserver calls it', async () => {
  const server = await serveWebhook(0, undefined, '127.0.0.1');
  try {
    const port = (server.address() as AddressInfo).port;
    const post = async (body: unknown) =>
      (
        await fetch(`http://127.0.0.1:${port}/validate`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json() as Promise<Record<string, any>>;
    assert.equal((await post(request(BASE_VMI))).response.allowed, true);
    assert.equal((await post(request(BASE_VM))).response.allowed, true);
    assert.equal((await post(request({ kind: 'VirtualMachineInstance' }, 'DELETE'))).response.allowed, true);
    const bad = structuredClone(BASE_VMI);
    bad.spec.domain.devices.interfaces[0].name = 'bad name';
    const denied = await post(request(bad));
    assert.equal(denied.kind, 'AdmissionReview');
    assert.equal(denied.response.allowed, false);
    for (const junk of ['{', 'null', '[]', '{"request": 5}']) {
      const r = await fetch(`http://127.0.0.1:${port}/validate`, { method: 'POST', body: junk });
      assert.equal(r.status, 400, `${junk} is refused, and the server lives on`);
    }
    assert.equal((await post(request(BASE_VMI))).response.allowed, true, 'still serving');
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test(
  'webhook on UPDATE: metadata-only ' +
    'changes pass even under newer ' +
    "rules; a VMI's spec changes only live; " +
    "a VM's spec change is validated",
  () => {
    const update = (oldObject: unknown, object: unknown) => ({
      request: { uid: 'u2', operation: 'UPDATE', oldObject, object },
    });
    const legacy = structuredClone(BASE_VMI);
    legacy.spec.domain.devices.interfaces[0].model = 'bogus'; // admitted long ago, invalid today
    const relabelled = {
      ...structuredClone(legacy),
      metadata: { ...legacy.metadata, labels: { team: 'a' }, finalizers: [] },
    };
    assert.equal(review(update(legacy, relabelled)).response.allowed, true);
    const changed = structuredClone(BASE_VMI);
    changed.spec.domain.devices.interfaces[0].ports = [];
    const denied = review(update(BASE_VMI, changed)).response;
    assert.equal(denied.allowed, false);
    assert.deepEqual(
      denied.status!.details!.causes.map((c: { field: string }) => c.field),
      ['spec.domain.devices.interfaces[default].ports'],
    );
    assert.match(denied.status!.message, /cannot change on a running VMI.*delete and recreate/u);
    const vm2 = structuredClone(BASE_VM);
    vm2.spec.runStrategy = 'Halted';
    assert.equal(review(update(BASE_VM, vm2)).response.allowed, true, 'a VM may change');
    vm2.spec.runStrategy = 'Sometimes';
    assert.equal(review(update(BASE_VM, vm2)).response.allowed, false, 'but only to something valid');
  },
);

/** An UPDATE of BASE_VMI to a copy that `mutate` changed. */
const vmiUpdate = (mutate: (spec: any) => void) => {
  const changed = structuredClone(BASE_VMI);
  mutate(changed.spec);
  return review({ request: { uid: 'u3', operation: 'UPDATE', oldObject: BASE_VMI, object: changed } }).response;
};
const fields = (res: ReturnType<typeof vmiUpdate>) =>
  res.status!.details!.causes.map((c: { field: string }) => c.field);

test('webhook on UPDATE of a VMI: interface hotplug, unplug and link state are allowed', () => {
  const added = vmiUpdate((s) => {
    s.domain.devices.interfaces.push({ name: 'red', bridge: {} });
    s.networks.push({ name: 'red', multus: { networkName: 'red-net' } });
  });
  assert.equal(added.allowed, true, 'an interface added (hotplug)');
  const absent = vmiUpdate((s) => {
    s.domain.devices.interfaces[1].state = 'absent';
  });
  assert.equal(absent.allowed, true, 'state: absent (hot-unplug)');
  const down = vmiUpdate((s) => {
    s.domain.devices.interfaces[1].state = 'down';
  });
  assert.equal(down.allowed, true, 'link down');
  const up = vmiUpdate((s) => {
    s.domain.devices.interfaces[1].state = 'up';
  });
  assert.equal(up.allowed, true, 'up is what unset means: nothing to do, still allowed');
});

test('webhook on UPDATE of a VMI: a change the running VM cannot follow is denied, naming the field', () => {
  const memory = vmiUpdate((s) => {
    s.domain.resources.requests.memory = '512Mi';
  });
  assert.equal(memory.allowed, false);
  assert.equal(memory.status!.code, 422);
  assert.deepEqual(fields(memory), ['spec.domain.resources']);
  assert.match(memory.status!.details!.causes[0]!.message, /^spec\.domain\.resources cannot change on a running VMI/u);
  assert.match(memory.status!.details!.causes[0]!.message, /change its VirtualMachine, or delete and recreate/u);
  const mac = vmiUpdate((s) => {
    s.domain.devices.interfaces[1].macAddress = '02:00:00:00:00:06';
  });
  assert.equal(mac.allowed, false);
  assert.deepEqual(fields(mac), ['spec.domain.devices.interfaces[blue].macAddress']);
  const both = vmiUpdate((s) => {
    s.domain.resources.requests.memory = '512Mi';
    s.domain.devices.interfaces.push({ name: 'red', bridge: {} });
    s.networks.push({ name: 'red', multus: { networkName: 'red-net' } });
  });
  assert.deepEqual(fields(both), ['spec.domain.resources'], 'one clash denies the live part with it');
  assert.match(both.status!.message, /is invalid: spec\.domain\.resources: /u);
});

test('webhook on UPDATE of a VMI: a spec that is not an object is a clash on spec', () => {
  const to = (spec: unknown) =>
    review({ request: { uid: 'u4', operation: 'UPDATE', oldObject: BASE_VMI, object: { ...BASE_VMI, spec } } })
      .response;
  for (const spec of [null, 'x', [], 5, undefined]) {
    const res = to(spec);
    assert.equal(res.allowed, false, JSON.stringify(spec));
    assert.deepEqual(fields(res), ['spec']);
  }
  const fromJunk = review({
    request: { uid: 'u5', operation: 'UPDATE', oldObject: { ...BASE_VMI, spec: 'x' }, object: BASE_VMI },
  }).response;
  assert.deepEqual(fields(fromJunk), ['spec'], 'nor was the old one');
});

test('webhook on UPDATE of a VMI: a live change to an invalid spec is still denied by validation', () => {
  const badMac = vmiUpdate((s) => {
    s.domain.devices.interfaces.push({ name: 'red', bridge: {}, macAddress: '02:00:00:00:05' });
    s.networks.push({ name: 'red', multus: { networkName: 'red-net' } });
  });
  assert.equal(badMac.allowed, false);
  assert.deepEqual(fields(badMac), ['spec.domain.devices.interfaces[2].macAddress']);
  assert.match(badMac.status!.details!.causes[0]!.message, /is not a MAC address/u);
  const noNetwork = vmiUpdate((s) => {
    s.domain.devices.interfaces.push({ name: 'red', bridge: {} });
  });
  assert.equal(noNetwork.allowed, false, 'an interface whose network does not exist');
  assert.deepEqual(fields(noNetwork), ['spec.networks[red]'], 'a plug never goes out without its network');
  const badName = vmiUpdate((s) => {
    s.domain.devices.interfaces.push({ name: 'bad name', bridge: {} });
    s.networks.push({ name: 'bad name', multus: { networkName: 'red-net' } });
  });
  assert.equal(badName.allowed, false, 'a badly named plugged interface');
  assert.ok(fields(badName).includes('spec.domain.devices.interfaces[2].name'), String(fields(badName)));
});
