/**
 * `kubectl virtnet get` against a reader that answers from memory: the VMI,
 * VM and NAD tables, -o wide, -o name, -o json, and kubectl's "No resources
 * found" note on stderr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get, type ObjectReader, wideVmiTable } from '../../../controller/kubectl/get.ts';
import { ServerError, type StoredObjects, type PluginResource } from '../../../controller/kube/plugin-api.ts';
import type { NicWiring } from '../../../controller/api/status.ts';

const CREATED = new Date(Date.now() - 3 * 3600_000).toISOString(); // 3h old

const vmi = (name: string, namespace: string, running: boolean): StoredObjects['virtualmachineinstances'] => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: { name, namespace, creationTimestamp: CREATED },
  spec: { domain: { devices: { interfaces: [{ name: 'default', masquerade: {} }] } } },
  ...(running && {
    status: {
      phase: 'Running',
      nodeName: 'node-1',
      launcherPod: { name: `virt-launcher-${name}-x`, uid: 'u' },
      interfaces: [{ name: 'default', ipAddresses: ['10.244.0.9', 'fd10::9'] }],
      virtnet: { nics: [] as NicWiring[], steps: [] },
    },
  }),
});

const OBJECTS: { [R in PluginResource]: StoredObjects[R][] } = {
  virtualmachineinstances: [vmi('web', 'default', true), vmi('db', 'default', false), vmi('api', 'team', true)],
  virtualmachines: [
    {
      apiVersion: 'virtnet.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'db', namespace: 'default', creationTimestamp: CREATED },
      spec: { running: true, template: { spec: vmi('db', 'default', false).spec } },
      status: { printableStatus: 'Starting', ready: false },
    },
  ],
  'network-attachment-definitions': [
    {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'lan', namespace: 'default', creationTimestamp: CREATED },
      spec: { config: JSON.stringify({ cniVersion: '1.0.0', name: 'lan', type: 'bridge' }) },
    },
  ],
};

/** The cluster as a reader: list by namespace (or all), get by name or the server's NotFound. */
const reader: ObjectReader = {
  list: async (r, namespace) => OBJECTS[r].filter((o) => !namespace || o.metadata.namespace === namespace),
  get: async (r, namespace, name) => {
    const found = OBJECTS[r].find((o) => o.metadata.namespace === namespace && o.metadata.name === name);
    if (!found) throw new ServerError(404, 'NotFound', `${r} "${name}" not found`);
    return found;
  },
};

async function run<R extends PluginResource>(
  r: R,
  names: string[],
  namespace: string | undefined,
  format?: 'json' | 'yaml' | 'wide' | 'name',
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await get(reader, r, names, namespace, format, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('vmis: a table sorted by namespace and name, the IPs of each interface', async () => {
  const { code, out, err } = await run('virtualmachineinstances', [], undefined);
  assert.deepEqual([code, err], [0, '']);
  assert.deepEqual(out.split('\n'), [
    'NAMESPACE   NAME   PHASE     IPS                          AGE',
    'default     db     Pending   <none>                       3h',
    'default     web    Running   default=10.244.0.9,fd10::9   3h',
    'team        api    Running   default=10.244.0.9,fd10::9   3h',
  ]);
});

test('vmis -o wide: the node and the launcher pod too', async () => {
  const { out } = await run('virtualmachineinstances', [], 'default', 'wide');
  assert.deepEqual(out.split('\n'), [
    'NAMESPACE   NAME   PHASE     IPS                          AGE   NODE     LAUNCHER POD',
    'default     db     Pending   <none>                       3h    <none>   <none>',
    'default     web    Running   default=10.244.0.9,fd10::9   3h    node-1   virt-launcher-web-x',
  ]);
  assert.equal(wideVmiTable([], new Date()), '');
});

test("vms: KubeVirt's printer columns (AGE, STATUS, READY)", async () => {
  const { out } = await run('virtualmachines', [], 'default');
  assert.deepEqual(out.split('\n'), [
    'NAMESPACE   NAME   AGE   STATUS     READY',
    'default     db     3h    Starting   false',
  ]);
});

test('nads: a table with the CNI type of the config', async () => {
  const { out } = await run('network-attachment-definitions', [], 'default');
  assert.deepEqual(out.split('\n'), ['NAMESPACE   NAME   TYPE     AGE', 'default     lan    bridge   3h']);
});

test('-o name: resource.group/name, as kubectl', async () => {
  assert.equal(
    (await run('virtualmachineinstances', [], 'default', 'name')).out,
    'virtualmachineinstance.virtnet.io/db\nvirtualmachineinstance.virtnet.io/web',
  );
  assert.equal((await run('virtualmachines', [], 'default', 'name')).out, 'virtualmachine.virtnet.io/db');
  assert.equal(
    (await run('network-attachment-definitions', ['lan'], 'default', 'name')).out,
    'network-attachment-definition.k8s.cni.cncf.io/lan',
  );
});

test("nothing to list: kubectl's note on stderr, nothing on stdout, exit 0", async () => {
  for (const format of [undefined, 'wide', 'name'] as const) {
    assert.deepEqual(await run('virtualmachines', [], 'empty', format), {
      code: 0,
      out: '',
      err: 'No resources found in empty namespace.',
    });
  }
  const none: { [R in PluginResource]: StoredObjects[R][] } = { ...OBJECTS, virtualmachines: [] };
  const empty: ObjectReader = { ...reader, list: async (r) => none[r] };
  const err: string[] = [];
  const code = await get(empty, 'virtualmachines', [], undefined, undefined, {
    out: assert.fail,
    err: (l) => err.push(l),
  });
  assert.deepEqual([code, err], [0, ['No resources found']]);
  // -o json of nothing is an empty List, as kubectl prints it; no note.
  const json = await run('virtualmachines', [], 'empty', 'json');
  assert.deepEqual(
    [json.err, JSON.parse(json.out)],
    ['', { apiVersion: 'v1', kind: 'List', items: [], metadata: { resourceVersion: '' } }],
  );
});

test("by name: the found ones print, each missing one is the server's error, exit 1", async () => {
  const { code, out, err } = await run('virtualmachineinstances', ['web', 'nope'], 'default');
  assert.equal(code, 1);
  assert.match(out, /^NAMESPACE .*\ndefault +web +Running/u);
  assert.equal(err, 'Error from server (NotFound): virtualmachineinstances "nope" not found');
  const one = await run('virtualmachineinstances', ['web'], 'default', 'json');
  assert.equal(JSON.parse(one.out).metadata.name, 'web', '-o json of one name: the object itself');
});
