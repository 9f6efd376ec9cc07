/**
 * The kubelet role's check of a launcher pod's spec (controller/agent/kubelet.ts podLauncherSpec): the annotation is
 * written by whoever may create a pod labelled as a VMI's, so besides the launcher's own check the spec must be the
 * VM of the pod's own VMI, its name the pod's virtnet.io/vmi label and its namespace the pod's. Pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podLauncherSpec } from '../../../controller/agent/kubelet.ts';
import type { Pod } from '../../../controller/api/kube-objects.ts';
import { LAUNCHER_SPEC_ANNOTATION, VMI_LABEL } from '../../../controller/render/pod.ts';
import { VirtnetError } from '../../../lib/errors.ts';

/** A directory every Debian machine has, holding a file the spec can boot (as test/corpus/parsers.test.ts). */
const ALLOWED = ['/usr/share/common-licenses'];

function podWith(spec: Record<string, unknown>, o: { vmi?: string; namespace?: string } = {}): Pod {
  const launcher = {
    name: 'web',
    namespace: 'apps',
    memoryMiB: 64,
    cpus: 1,
    interfaces: [{ name: 'default', bridge: {} }],
    networks: [{ name: 'default', pod: {} }],
    boot: { kernel: '/usr/share/common-licenses/GPL-3' },
    ...spec,
  };
  return {
    metadata: {
      name: 'virt-launcher-web-abcde',
      ...(o.namespace !== '' && { namespace: o.namespace ?? 'apps' }),
      labels: { [VMI_LABEL]: o.vmi ?? 'web' },
      annotations: { [LAUNCHER_SPEC_ANNOTATION]: JSON.stringify(launcher) },
    },
  };
}

function refusal(pod: Pod): string {
  try {
    podLauncherSpec(pod, ALLOWED);
  } catch (err) {
    assert.ok(err instanceof VirtnetError, String(err));
    return err.message;
  }
  return assert.fail('accepted');
}

test("the pod's own VMI's spec is accepted", () => {
  const spec = podLauncherSpec(podWith({}), ALLOWED);
  assert.deepEqual([spec.namespace, spec.name], ['apps', 'web']);
});

test("a spec named after another VMI is refused: a pod must not run a VM under another VMI's domain name", () => {
  assert.equal(
    refusal(podWith({ name: 'db' })),
    `annotation ${LAUNCHER_SPEC_ANNOTATION}: spec name "db" must be the name of the pod's VMI (label ${VMI_LABEL}), ` +
      `"web": a pod runs only its own VMI's VM`,
  );
});

test('a spec in another namespace is refused, and one in default for a pod without a namespace is not', () => {
  assert.equal(
    refusal(podWith({ namespace: 'kube-system' })),
    `annotation ${LAUNCHER_SPEC_ANNOTATION}: spec namespace "kube-system" must be the pod's namespace, "apps": a ` +
      `pod runs only its own VMI's VM`,
  );
  assert.equal(podLauncherSpec(podWith({ namespace: 'default' }, { namespace: '' }), ALLOWED).namespace, 'default');
});

test('a name the VMI admission refuses is refused here too, before it is compared', () => {
  // A pod whose label and spec agree on a name no VMI may have: the libvirt domain would be apps_web_prod.
  assert.match(
    refusal(podWith({ name: 'web_prod' }, { vmi: 'web_prod' })),
    /^spec name: "web_prod" must be a DNS-1123 subdomain/u,
  );
});
