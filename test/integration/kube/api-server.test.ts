// The test API server, driven only through @kubernetes/client-node 1.4.0, the
// client virtnet's controller uses: if these pass, client-node cannot tell it
// from kube-apiserver for what the controller does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { apiError, collectWatch, until } from '../../../harness/kube/testing.ts';

const NS = 'default';
const VMI = { group: 'virtnet.io', version: 'v1alpha1', plural: 'virtualmachineinstances' };
const VMI_PATH = `/apis/virtnet.io/v1alpha1/namespaces/${NS}/virtualmachineinstances`;
const TIMEOUT = { timeout: 20_000 };
// Generated APIs send application/json-patch+json unless told otherwise; this picks merge patch.
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

interface Clients {
  s: KubeTestServer;
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
}

/** Every test gets its own server, closed whatever happens. */
async function withServer(
  fn: (c: Clients) => Promise<void>,
  opts: Parameters<typeof startKubeTestServer>[0] = {},
): Promise<void> {
  const s = await startKubeTestServer(opts);
  try {
    const kc = s.kubeConfig();
    await fn({ s, kc, core: kc.makeApiClient(k8s.CoreV1Api), custom: kc.makeApiClient(k8s.CustomObjectsApi) });
  } finally {
    await s.close();
  }
}

const pod = (name: string, labels: Record<string, string>, nodeName = 'node-a'): k8s.V1Pod => ({
  metadata: { name, labels },
  spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
});
const vmi = (name: string, extra: Record<string, any> = {}) => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: { name, labels: { app: 'vm' } },
  spec: { cpus: 1 },
  ...extra,
});
const createVmi = (custom: k8s.CustomObjectsApi, body: Record<string, any>) =>
  custom.createNamespacedCustomObject({ ...VMI, namespace: NS, body });
const getVmi = (custom: k8s.CustomObjectsApi, name: string) =>
  custom.getNamespacedCustomObject({ ...VMI, namespace: NS, name });

describe('kube test API server', () => {
  test('pods: create, get, list with label and field selectors, replace, patch, delete', TIMEOUT, () =>
    withServer(async ({ s, core }) => {
      const created = await core.createNamespacedPod({ namespace: NS, body: pod('web-1', { app: 'web', tier: 'a' }) });
      assert.equal(created.metadata?.namespace, NS);
      assert.match(created.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
      assert.match(String(created.metadata?.creationTimestamp?.toISOString()), /^\d{4}-\d\d-\d\dT/);
      assert.equal(created.status?.phase, 'Pending', 'a new pod starts Pending whatever its body said');
      await core.createNamespacedPod({ namespace: NS, body: pod('web-2', { app: 'web', tier: 'b' }, 'node-b') });
      await core.createNamespacedPod({ namespace: NS, body: pod('db-1', { app: 'db' }) });

      assert.equal((await core.readNamespacedPod({ name: 'web-1', namespace: NS })).spec?.nodeName, 'node-a');
      const names = (l: k8s.V1PodList) => l.items.map((p) => p.metadata?.name);
      assert.deepEqual(names(await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web' })), [
        'web-1',
        'web-2',
      ]);
      assert.deepEqual(
        names(await core.listNamespacedPod({ namespace: NS, labelSelector: 'app==web,tier in (b, c)' })),
        ['web-2'],
      );
      assert.deepEqual(names(await core.listNamespacedPod({ namespace: NS, labelSelector: 'tier notin (a),app' })), [
        'db-1',
        'web-2',
      ]);
      assert.deepEqual(names(await core.listNamespacedPod({ namespace: NS, labelSelector: '!tier' })), ['db-1']);
      assert.deepEqual(
        names(await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-a,metadata.name!=db-1' })),
        ['web-1'],
      );
      const list = await core.listNamespacedPod({ namespace: NS });
      assert.equal(list.kind, 'PodList');
      assert.match(list.metadata?.resourceVersion ?? '', /^\d+$/);
      const bad = await apiError(core.listNamespacedPod({ namespace: NS, fieldSelector: 'spec.nope=1' }));
      assert.equal(bad.code, 400);

      // Pages: limit and continue.
      const page1 = await core.listNamespacedPod({ namespace: NS, limit: 2 });
      assert.deepEqual(names(page1), ['db-1', 'web-1']);
      const page2 = await core.listNamespacedPod({ namespace: NS, limit: 2, _continue: page1.metadata!._continue! });
      assert.deepEqual(names(page2), ['web-2']);

      // Replace, with the resourceVersion read.
      const current = await core.readNamespacedPod({ name: 'web-1', namespace: NS });
      current.metadata!.labels = { app: 'web', tier: 'c' };
      const replaced = await core.replaceNamespacedPod({ name: 'web-1', namespace: NS, body: current });
      assert.equal(replaced.metadata?.labels?.tier, 'c');
      assert.ok(Number(replaced.metadata?.resourceVersion) > Number(current.metadata?.resourceVersion));

      // Patch: a merge patch needs the header option; the default content type is JSON Patch.
      const merged = await core.patchNamespacedPod(
        { name: 'web-1', namespace: NS, body: { metadata: { labels: { tier: null, extra: 'x' } } } },
        MERGE,
      );
      assert.deepEqual(merged.metadata?.labels, { app: 'web', extra: 'x' });
      const jsonPatched = await core.patchNamespacedPod({
        name: 'web-1',
        namespace: NS,
        body: [
          { op: 'test', path: '/metadata/labels/extra', value: 'x' },
          { op: 'replace', path: '/metadata/labels/extra', value: 'y' },
          { op: 'add', path: '/metadata/annotations', value: { 'a/b': '1' } },
        ],
      });
      assert.equal(jsonPatched.metadata?.labels?.extra, 'y');
      assert.equal(jsonPatched.metadata?.annotations?.['a/b'], '1');
      const failedTest = await apiError(
        core.patchNamespacedPod({
          name: 'web-1',
          namespace: NS,
          body: [{ op: 'test', path: '/metadata/labels/extra', value: 'x' }],
        }),
      );
      assert.equal(failedTest.code, 422);
      const objectAsJsonPatch = await apiError(
        core.patchNamespacedPod({ name: 'web-1', namespace: NS, body: { metadata: { labels: { a: 'b' } } } }),
      );
      assert.equal(
        objectAsJsonPatch.code,
        400,
        'a plain object sent without the merge-patch header is not a JSON Patch',
      );
      const patchTypes = s.requests.filter((r) => r.method === 'PATCH').map((r) => r.contentType);
      assert.deepEqual(patchTypes, [
        'application/merge-patch+json',
        'application/json-patch+json',
        'application/json-patch+json',
        'application/json-patch+json',
      ]);

      const deleted = await core.deleteNamespacedPod({ name: 'web-1', namespace: NS });
      assert.equal(deleted.metadata?.name, 'web-1');
      const gone = await apiError(core.readNamespacedPod({ name: 'web-1', namespace: NS }));
      assert.equal(gone.code, 404);
      assert.deepEqual(gone.status, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'pods "web-1" not found',
        reason: 'NotFound',
        details: { name: 'web-1', kind: 'pods' },
        code: 404,
      });
      assert.equal((await apiError(core.deleteNamespacedPod({ name: 'web-1', namespace: NS }))).code, 404);
    }),
  );

  test('custom resources: CRUD through CustomObjectsApi and KubernetesObjectApi', TIMEOUT, () =>
    withServer(async ({ s, kc, custom }) => {
      const created = await createVmi(custom, vmi('vm-a'));
      assert.equal(created.metadata.generation, 1);
      await createVmi(custom, { ...vmi('vm-b'), metadata: { name: 'vm-b', labels: { app: 'other' } } });
      const listed = await custom.listNamespacedCustomObject({ ...VMI, namespace: NS, labelSelector: 'app=vm' });
      assert.equal(listed.kind, 'VirtualMachineInstanceList');
      assert.deepEqual(
        listed.items.map((o: any) => [o.apiVersion, o.kind, o.metadata.name]),
        [['virtnet.io/v1alpha1', 'VirtualMachineInstance', 'vm-a']],
      );
      const all = await custom.listClusterCustomObject({ ...VMI, fieldSelector: 'metadata.name=vm-b' });
      assert.deepEqual(
        all.items.map((o: any) => o.metadata.name),
        ['vm-b'],
      );

      // A custom resource's PUT must carry metadata.resourceVersion.
      const unconditional = await apiError(
        custom.replaceNamespacedCustomObject({
          ...VMI,
          namespace: NS,
          name: 'vm-a',
          body: vmi('vm-a', { spec: { cpus: 2 } }),
        }),
      );
      assert.equal(unconditional.code, 422);
      const current = await getVmi(custom, 'vm-a');
      const replaced = await custom.replaceNamespacedCustomObject({
        ...VMI,
        namespace: NS,
        name: 'vm-a',
        body: { ...current, spec: { cpus: 2 } },
      });
      assert.equal(replaced.metadata.generation, 2);
      const patched = await custom.patchNamespacedCustomObject(
        { ...VMI, namespace: NS, name: 'vm-a', body: { spec: { memory: '1Gi' } } },
        MERGE,
      );
      assert.deepEqual(patched.spec, { cpus: 2, memory: '1Gi' });
      assert.equal(patched.metadata.generation, 3);
      const jsonPatched = await custom.patchNamespacedCustomObject({
        ...VMI,
        namespace: NS,
        name: 'vm-a',
        body: [{ op: 'remove', path: '/spec/memory' }],
      });
      assert.deepEqual(jsonPatched.spec, { cpus: 2 });

      // KubernetesObjectApi finds the resource through discovery; its default, strategic merge, is refused for custom
      // resources.
      const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
      const read = await objects.read({
        apiVersion: 'virtnet.io/v1alpha1',
        kind: 'VirtualMachineInstance',
        metadata: { name: 'vm-a', namespace: NS },
      });
      assert.equal((read as any).spec.cpus, 2);
      const spec = {
        apiVersion: 'virtnet.io/v1alpha1',
        kind: 'VirtualMachineInstance',
        metadata: { name: 'vm-a', namespace: NS },
        spec: { cpus: 4 },
      };
      assert.equal((await apiError(objects.patch(spec))).code, 415);
      const viaObjects = await objects.patch(
        spec,
        undefined,
        undefined,
        undefined,
        undefined,
        k8s.PatchStrategy.MergePatch,
      );
      assert.equal((viaObjects as any).spec.cpus, 4);
      assert.ok(
        s.requests.some((r) => r.path === '/apis/virtnet.io/v1alpha1' && r.status === 200),
        'discovery was used',
      );

      const deleted = await custom.deleteNamespacedCustomObject({ ...VMI, namespace: NS, name: 'vm-a' });
      assert.equal(deleted.metadata.name, 'vm-a');
      const gone = await apiError(getVmi(custom, 'vm-a'));
      assert.equal(gone.status.message, 'virtualmachineinstances.virtnet.io "vm-a" not found');
      assert.deepEqual(gone.status.details, { name: 'vm-a', group: 'virtnet.io', kind: 'virtualmachineinstances' });
      assert.deepEqual(
        s.objects('virtualmachineinstances.virtnet.io').map((o) => o.metadata.name),
        ['vm-b'],
      );
    }),
  );

  test('the status subresource and the main resource each keep the other half', TIMEOUT, () =>
    withServer(async ({ core, custom }) => {
      const created = await createVmi(custom, vmi('vm', { status: { phase: 'Running' } }));
      assert.equal(created.status, undefined, 'create drops status when a status subresource exists');
      const withStatus = await custom.replaceNamespacedCustomObjectStatus({
        ...VMI,
        namespace: NS,
        name: 'vm',
        body: { ...created, spec: { cpus: 99 }, status: { phase: 'Scheduled' } },
      });
      assert.deepEqual(withStatus.status, { phase: 'Scheduled' });
      assert.deepEqual(withStatus.spec, { cpus: 1 }, 'a status write leaves spec alone');
      assert.equal(withStatus.metadata.generation, 1, 'status writes do not bump generation');
      const mainWrite = await custom.replaceNamespacedCustomObject({
        ...VMI,
        namespace: NS,
        name: 'vm',
        body: { ...withStatus, spec: { cpus: 2 }, status: { phase: 'Failed' } },
      });
      assert.deepEqual(mainWrite.status, { phase: 'Scheduled' }, 'a main-resource write leaves status alone');
      assert.deepEqual(mainWrite.spec, { cpus: 2 });
      const statusPatch = await custom.patchNamespacedCustomObjectStatus(
        { ...VMI, namespace: NS, name: 'vm', body: { status: { phase: 'Running' }, spec: { cpus: 7 } } },
        MERGE,
      );
      assert.deepEqual([statusPatch.status.phase, statusPatch.spec.cpus], ['Running', 2]);

      // Pods too: the phase is set through pods/status, and field selectors see it.
      await core.createNamespacedPod({ namespace: NS, body: pod('p', {}) });
      const p = await core.readNamespacedPod({ name: 'p', namespace: NS });
      await core.replaceNamespacedPodStatus({ name: 'p', namespace: NS, body: { ...p, status: { phase: 'Running' } } });
      const running = await core.listNamespacedPod({ namespace: NS, fieldSelector: 'status.phase=Running' });
      assert.deepEqual(
        running.items.map((i) => i.metadata?.name),
        ['p'],
      );
    }),
  );

  test('conflicts: stale resourceVersion, conflictNext, AlreadyExists; no-op writes store nothing', TIMEOUT, () =>
    withServer(async ({ s, custom }) => {
      const first = await createVmi(custom, vmi('vm'));
      await custom.patchNamespacedCustomObject(
        { ...VMI, namespace: NS, name: 'vm', body: { spec: { cpus: 2 } } },
        MERGE,
      );
      const stale = await apiError(
        custom.replaceNamespacedCustomObject({
          ...VMI,
          namespace: NS,
          name: 'vm',
          body: { ...first, spec: { cpus: 3 } },
        }),
      );
      assert.equal(stale.code, 409);
      assert.equal(stale.status.reason, 'Conflict');
      assert.equal(
        stale.status.message,
        'Operation cannot be fulfilled on virtualmachineinstances.virtnet.io "vm": the object has been modified; ' +
          'please apply your changes to the latest version and try again',
      );
      const stalePatch = await apiError(
        custom.patchNamespacedCustomObject(
          {
            ...VMI,
            namespace: NS,
            name: 'vm',
            body: { metadata: { resourceVersion: first.metadata.resourceVersion }, spec: { cpus: 3 } },
          },
          MERGE,
        ),
      );
      assert.equal(stalePatch.code, 409, 'a patch carrying a resourceVersion is a precondition');

      s.conflictNext('virtualmachineinstances', 2);
      for (let i = 0; i < 2; i += 1) {
        const injected = await apiError(
          custom.patchNamespacedCustomObject({ ...VMI, namespace: NS, name: 'vm', body: { spec: { cpus: 5 } } }, MERGE),
        );
        assert.deepEqual([injected.code, injected.status.reason], [409, 'Conflict']);
      }
      const after = await custom.patchNamespacedCustomObject(
        { ...VMI, namespace: NS, name: 'vm', body: { spec: { cpus: 5 } } },
        MERGE,
      );
      assert.equal(after.spec.cpus, 5);
      const same = await custom.patchNamespacedCustomObject(
        { ...VMI, namespace: NS, name: 'vm', body: { spec: { cpus: 5 } } },
        MERGE,
      );
      assert.equal(
        same.metadata.resourceVersion,
        after.metadata.resourceVersion,
        'a write that changes nothing keeps the resourceVersion',
      );

      const dup = await apiError(createVmi(custom, vmi('vm')));
      assert.deepEqual(
        [dup.code, dup.status.reason, dup.status.message],
        [409, 'AlreadyExists', 'virtualmachineinstances.virtnet.io "vm" already exists'],
      );
    }),
  );

  test('generateName gives a name with a random suffix', TIMEOUT, () =>
    withServer(async ({ core, custom }) => {
      const a = await core.createNamespacedPod({
        namespace: NS,
        body: { metadata: { generateName: 'virt-launcher-' }, spec: { containers: [] } },
      });
      const b = await createVmi(custom, { ...vmi(''), metadata: { generateName: 'vm-' } });
      assert.match(a.metadata?.name ?? '', /^virt-launcher-[a-z0-9]{5}$/);
      assert.match(b.metadata.name, /^vm-[a-z0-9]{5}$/);
      const nameless = await apiError(
        core.createNamespacedPod({ namespace: NS, body: { metadata: {}, spec: { containers: [] } } }),
      );
      assert.deepEqual([nameless.code, nameless.status.reason], [422, 'Invalid']);
    }),
  );

  test('a watch from a resourceVersion sees what came after it, in order, with selectors applied', TIMEOUT, () =>
    withServer(async ({ kc, custom }) => {
      await createVmi(custom, vmi('before'));
      const start = (await custom.listNamespacedCustomObject({ ...VMI, namespace: NS })).metadata.resourceVersion;
      await createVmi(custom, vmi('vm'));
      await custom.patchNamespacedCustomObject(
        { ...VMI, namespace: NS, name: 'vm', body: { spec: { cpus: 2 } } },
        MERGE,
      );
      const w = collectWatch(kc, VMI_PATH, { resourceVersion: start });
      const selected = collectWatch(kc, VMI_PATH, { resourceVersion: start, labelSelector: 'app=vm' });
      try {
        await w.waitFor(2);
        await custom.deleteNamespacedCustomObject({ ...VMI, namespace: NS, name: 'vm' });
        await custom.patchNamespacedCustomObject(
          { ...VMI, namespace: NS, name: 'before', body: { metadata: { labels: { app: 'gone' } } } },
          MERGE,
        );
        await w.waitFor(4);
        assert.deepEqual(
          w.events.map((e) => [e.type, e.object.metadata.name]),
          [
            ['ADDED', 'vm'],
            ['MODIFIED', 'vm'],
            ['DELETED', 'vm'],
            ['MODIFIED', 'before'],
          ],
        );
        const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
        assert.deepEqual(
          rvs,
          [...rvs].sort((x, y) => x - y),
        );
        // Leaving the selector reads as a deletion to a selecting watch.
        await selected.waitFor(4);
        assert.deepEqual(
          selected.events.map((e) => [e.type, e.object.metadata.name]),
          [
            ['ADDED', 'vm'],
            ['MODIFIED', 'vm'],
            ['DELETED', 'vm'],
            ['DELETED', 'before'],
          ],
        );
      } finally {
        await w.stop();
        await selected.stop();
      }
    }),
  );

  test(
    'a watch without resourceVersion starts with the current objects; bookmarks arrive; timeoutSeconds ends it',
    TIMEOUT,
    () =>
      withServer(
        async ({ kc, core }) => {
          await core.createNamespacedPod({ namespace: NS, body: pod('p', {}) });
          const w = collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { allowWatchBookmarks: true, timeoutSeconds: 1 });
          try {
            await until(() => w.events.filter((e) => e.type === 'BOOKMARK').length >= 2, 'two bookmarks');
            assert.deepEqual(w.events[0]?.type, 'ADDED');
            const bookmark = w.events.find((e) => e.type === 'BOOKMARK')!;
            assert.deepEqual(Object.keys(bookmark.object.metadata), ['resourceVersion']);
            assert.equal(bookmark.object.kind, 'Pod');
            assert.equal(await w.ended, null, 'timeoutSeconds ends the stream cleanly');
          } finally {
            await w.stop();
          }
        },
        { bookmarkIntervalMs: 50 },
      ),
  );

  test('expireWatches ends open watches with 410 Expired, and an old resourceVersion stays expired', TIMEOUT, () =>
    withServer(async ({ s, kc, custom }) => {
      await createVmi(custom, vmi('vm'));
      const rv = (await custom.listNamespacedCustomObject({ ...VMI, namespace: NS })).metadata.resourceVersion;
      const w = collectWatch(kc, VMI_PATH, { resourceVersion: rv });
      await until(() => s.requests.some((r) => r.query.includes('watch=true')), 'the watch to open');
      await custom.patchNamespacedCustomObject(
        { ...VMI, namespace: NS, name: 'vm', body: { spec: { cpus: 3 } } },
        MERGE,
      );
      await w.waitFor(1);
      s.expireWatches();
      assert.equal(await w.ended, null);
      const error = w.events.at(-1)!;
      assert.equal(error.type, 'ERROR');
      assert.deepEqual([error.object.code, error.object.reason, error.object.kind], [410, 'Expired', 'Status']);

      const again = collectWatch(kc, VMI_PATH, { resourceVersion: rv });
      assert.equal(await again.ended, null);
      assert.equal(again.events.length, 1);
      assert.equal(again.events[0]?.type, 'ERROR');
      assert.equal(again.events[0]?.object.code, 410);
      assert.match(again.events[0]?.object.message, new RegExp(`^too old resource version: ${rv} \\(\\d+\\)$`));
    }),
  );

  test('an informer keeps its cache right across expireWatches by listing again', TIMEOUT, () =>
    withServer(async ({ s, kc, custom }) => {
      await createVmi(custom, vmi('keep'));
      await createVmi(custom, vmi('doomed'));
      let lists = 0;
      const listFn = async () => {
        lists += 1;
        // Changes made while the informer is between watches: only the new list can tell it.
        if (lists === 2) {
          await custom.deleteNamespacedCustomObject({ ...VMI, namespace: NS, name: 'doomed' });
          await createVmi(custom, vmi('born'));
        }
        return custom.listNamespacedCustomObject({ ...VMI, namespace: NS });
      };
      const informer = k8s.makeInformer<k8s.KubernetesObject>(kc, VMI_PATH, listFn);
      const deletes: string[] = [];
      const errors: unknown[] = [];
      informer.on(k8s.DELETE, (o) => deletes.push(o.metadata?.name ?? ''));
      informer.on(k8s.ERROR, (e) => errors.push(e));
      const cached = () =>
        informer
          .list(NS)
          .map((o) => o.metadata?.name)
          .sort();
      try {
        await informer.start();
        assert.deepEqual(cached(), ['doomed', 'keep']);
        await custom.patchNamespacedCustomObject(
          { ...VMI, namespace: NS, name: 'keep', body: { spec: { cpus: 2 } } },
          MERGE,
        );
        await until(() => (informer.get('keep', NS) as any)?.spec?.cpus === 2, 'the watch to deliver the patch');
        s.expireWatches();
        await until(() => lists === 2 && cached().join() === 'born,keep', 'the informer to re-list');
        assert.deepEqual(deletes, ['doomed']);
        await custom.patchNamespacedCustomObject(
          { ...VMI, namespace: NS, name: 'born', body: { spec: { cpus: 3 } } },
          MERGE,
        );
        await until(() => (informer.get('born', NS) as any)?.spec?.cpus === 3, 'the new watch to deliver changes');
        assert.ok(informer instanceof k8s.ListWatch, 'makeInformer builds a ListWatch');
        assert.equal(
          informer.latestResourceVersion(),
          s.objects('virtualmachineinstances.virtnet.io').find((o) => o.metadata.name === 'born')?.metadata
            .resourceVersion,
        );
        assert.deepEqual(errors, []);
      } finally {
        await informer.stop();
      }
    }),
  );

  test('deleting an owner deletes its dependents; finalizers hold a deletion until removed', TIMEOUT, () =>
    withServer(async ({ s, core, custom }) => {
      const owner = await createVmi(custom, {
        ...vmi('vm'),
        metadata: { name: 'vm', finalizers: ['virtnet.io/cleanup'] },
      });
      const other = await createVmi(custom, vmi('other'));
      const ref = (o: any) => ({
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata.name,
        uid: o.metadata.uid,
        controller: true,
      });
      await core.createNamespacedPod({
        namespace: NS,
        body: { ...pod('launcher', {}), metadata: { name: 'launcher', ownerReferences: [ref(owner)] } },
      });
      await core.createNamespacedPod({
        namespace: NS,
        body: {
          ...pod('shared', {}),
          metadata: { name: 'shared', ownerReferences: [ref(owner), { ...ref(other), controller: false }] },
        },
      });

      const marked = await custom.deleteNamespacedCustomObject({ ...VMI, namespace: NS, name: 'vm' });
      assert.ok(marked.metadata.deletionTimestamp, 'a finalizer turns the delete into a mark');
      assert.equal((await getVmi(custom, 'vm')).metadata.finalizers.length, 1);
      assert.equal(s.objects('pods').length, 2, 'dependents stay while the owner does');

      await custom.patchNamespacedCustomObject({
        ...VMI,
        namespace: NS,
        name: 'vm',
        body: [{ op: 'remove', path: '/metadata/finalizers' }],
      });
      assert.equal((await apiError(getVmi(custom, 'vm'))).code, 404);
      await until(() => !s.objects('pods').some((p) => p.metadata.name === 'launcher'), 'the garbage collector');
      assert.deepEqual(
        s.objects('pods').map((p) => p.metadata.name),
        ['shared'],
        'a dependent with a live owner stays',
      );
    }),
  );

  test('onValidate denies like a validating webhook, for custom resources only', TIMEOUT, () =>
    withServer(async ({ s, core, custom }) => {
      const reviews: Array<[string, string, boolean]> = [];
      s.onValidate = async ({ operation, object, oldObject, resource }) => {
        reviews.push([operation, resource.plural, oldObject !== undefined]);
        return object.spec?.cpus > 8 ? { allowed: false, message: 'spec.cpus: at most 8' } : { allowed: true };
      };
      const denied = await apiError(createVmi(custom, vmi('big', { spec: { cpus: 16 } })));
      assert.equal(denied.code, 400);
      assert.equal(denied.status.message, 'admission webhook denied the request: spec.cpus: at most 8');
      await createVmi(custom, vmi('vm'));
      const err = await custom
        .patchNamespacedCustomObject({ ...VMI, namespace: NS, name: 'vm', body: { spec: { cpus: 9 } } }, MERGE)
        .catch((e: unknown) => e);
      assert.ok(err instanceof k8s.ApiException);
      assert.match(err.message, /admission webhook denied the request: spec\.cpus: at most 8/);
      await core.createNamespacedPod({ namespace: NS, body: pod('p', {}) });
      assert.deepEqual(reviews, [
        ['CREATE', 'virtualmachineinstances', false],
        ['CREATE', 'virtualmachineinstances', false],
        ['UPDATE', 'virtualmachineinstances', true],
      ]);
      assert.equal(s.objects('virtualmachineinstances').length, 1);
    }),
  );

  test('kubeconfigFile writes a kubeconfig that client-node loads', TIMEOUT, () =>
    withServer(async ({ s }) => {
      const dir = mkdtempSync(join(tmpdir(), 'kube-test-'));
      try {
        const kc = new k8s.KubeConfig();
        kc.loadFromFile(s.kubeconfigFile(dir));
        assert.equal(kc.getCurrentCluster()?.server, s.url);
        const namespaces = await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
        assert.deepEqual(
          namespaces.items.map((n) => n.metadata?.name),
          ['default', 'kube-system'],
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
  );
});
