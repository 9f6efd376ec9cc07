/**
 * The bad-input corpus against the parsers and validators themselves, with
 * no side effect possible: every case of cases/*.yaml must be refused with a
 * typed error (or, for the lenient file readers, a reported problem) that
 * names the field and states the rule. side-effects.test.ts runs the same
 * CNI and VMI cases through the real executables and checks that nothing
 * was created.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEnv } from '../../cni/env.ts';
import { parseConfig } from '../../cni/config.ts';
import { resolveNetwork } from '../../netattach/nad.ts';
import { parseNetworksAnnotation } from '../../netattach/annotation.ts';
import { validateManifests } from '../../controller/api/manifests.ts';
import { review } from '../../controller/control/webhook.ts';
import { statusFromPod } from '../../controller/status/pod.ts';
import { LAUNCHER_STATUS_ANNOTATION } from '../../controller/render/pod.ts';
import { parseResolvConf, resolvConfProblems } from '../../launcher/resolv.ts';
import { leaseFileProblems, parseLeases } from '../../launcher/dhcp/leases.ts';
import { parseLauncherReport, parseLauncherStatus, readStatus, statusFile } from '../../launcher/status.ts';
import { launcherSpecFrom } from '../../launcher/spec.ts';
import { parsePolicy } from '../../cni/policy.ts';
import { FramingError, parseRequestHead } from '../../cni/daemon/framing.ts';
import { assertProblem, assertTypedError, caseFiles, loadCases, patched, type CaseBase } from './corpus.ts';
import {
  BASE_NAD,
  BASE_REPORT,
  BASE_REVIEW,
  BASE_STATUS,
  BASE_VM,
  BASE_VMI,
  baseConf,
  baseEnv,
  caseEnv,
  caseNad,
  caseStatusText,
  caseStdin,
  caseVmi,
  nadVia,
  type AnnotationCase,
  type ConfCase,
  type EnvCase,
  type NadCase,
  type ReviewCase,
  type StatusCase,
  type TextCase,
  type VmiCase,
} from './inputs.ts';

const envCases = loadCases<EnvCase>('cni-env.yaml');
const confCases = loadCases<ConfCase>('cni-config.yaml');
const nadCases = loadCases<NadCase>('nad.yaml');
const annotationCases = loadCases<AnnotationCase>('annotation.yaml');
const vmiCases = loadCases<VmiCase>('vmi.yaml');
const resolvCases = loadCases<TextCase>('resolv.yaml');
const leaseCases = loadCases<TextCase>('leases.yaml');
const reviewCases = loadCases<ReviewCase>('webhook.yaml');
const statusCases = loadCases<StatusCase>('launcher-status.yaml');
const policyCases = loadCases<CaseBase & { policy?: unknown; text?: string }>('cni-policy.yaml');
const daemonCases = loadCases<CaseBase & { text: string }>('cni-daemon.yaml');
const specCases = loadCases<CaseBase & { spec?: Record<string, unknown>; text?: string }>('launcher-spec.yaml');

test('the corpus holds at least 150 cases, in every kind of input', () => {
  const counts = caseFiles().map((f) => [f, loadCases(f).length] as const);
  assert.equal(counts.length, 12, counts.map(([f]) => f).join(', '));
  for (const [f, n] of counts) assert.ok(n >= 10, `${f}: ${n} cases`);
  assert.ok(counts.reduce((s, [, n]) => s + n, 0) >= 150);
});

describe('the base inputs are valid (a case fails only for what it changes)', () => {
  test('CNI env and config', () => {
    const env = readEnv(baseEnv());
    assert.equal(parseConfig(JSON.stringify(baseConf()), env.args).name, 'corpusnet');
  });
  test('NAD', () => {
    assert.equal(resolveNetwork(BASE_NAD, undefined).conflist.plugins[0]!.type, 'virtnet-bridge');
    assert.deepEqual(validateManifests([{ source: 'base', object: BASE_NAD }]).problems, []);
  });
  test('networks annotation', () => {
    assert.equal(parseNetworksAnnotation('blue@net1', 'default')[0]!.interface, 'net1');
    assert.equal(
      parseNetworksAnnotation('[{"name":"blue","interface":"net1","mac":"02:00:00:00:00:09"}]', 'default')[0]!.mac,
      '02:00:00:00:00:09',
    );
  });
  test('VMI and VM', () => {
    assert.deepEqual(
      validateManifests([
        { source: 'vmi', object: BASE_VMI },
        { source: 'vm', object: { ...BASE_VM, metadata: { name: 'corpus-vm2' } } },
      ]).problems,
      [],
    );
  });
  test('AdmissionReview', () => {
    assert.equal(review(BASE_REVIEW).response.allowed, true);
  });
  test('resolv.conf and lease file', () => {
    assert.deepEqual(
      resolvConfProblems(
        'nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5\n',
      ),
      [],
    );
    assert.deepEqual(
      leaseFileProblems('0 02:00:00:00:00:01 10.0.0.5 vm *\nduid 00:01:00:01\n0 12 fd00::5 vm 00:01\n'),
      [],
    );
  });
  test('launcher report and status.json', () => {
    assert.equal(parseLauncherReport(JSON.stringify(BASE_REPORT), 'r').phase, 'Running');
    assert.equal(parseLauncherStatus(JSON.stringify(BASE_STATUS), 's').pid, 4242);
  });
});

describe('CNI environment', () => {
  const conf = JSON.stringify(baseConf());
  for (const c of envCases.filter((x) => x.stage !== 'plugin')) {
    test(c.name, () => void assertTypedError(() => parseConfig(conf, readEnv(caseEnv(c, baseEnv())).args), c));
  }
});

describe('CNI config', () => {
  for (const c of confCases.filter((x) => x.stage !== 'plugin')) {
    test(c.name, () => void assertTypedError(() => parseConfig(caseStdin(c, baseConf()), readEnv(baseEnv()).args), c));
  }
});

describe('NetworkAttachmentDefinition', () => {
  for (const c of nadCases) {
    const via = nadVia(c);
    if (via.includes('resolve'))
      test(`${c.name} (netattach)`, () => void assertTypedError(() => resolveNetwork(caseNad(c), undefined), c));
    if (via.includes('validate'))
      test(`${c.name} (virtnet validate)`, () =>
        assertProblem(validateManifests([{ source: 'corpus', object: caseNad(c) }]).problems, c));
  }
});

describe('networks annotation', () => {
  for (const c of annotationCases)
    test(c.name, () => void assertTypedError(() => parseNetworksAnnotation(c.value, 'default'), c));
});

describe('VMI and VM specs', () => {
  for (const c of vmiCases)
    test(c.name, () => assertProblem(validateManifests([{ source: 'corpus', object: caseVmi(c) }]).problems, c));
});

/** The lenient readers report problems instead of throwing; one must name the field and the rule. */
function assertReported(problems: Array<{ line: number; field: string; rule: string }>, c: CaseBase): void {
  assertProblem(
    problems.map((p) => ({ path: `line ${p.line}: ${p.field}`, rule: p.rule })),
    c,
  );
}

describe('resolv.conf', () => {
  for (const c of resolvCases) {
    test(c.name, () => {
      assertReported(resolvConfProblems(c.text), c);
      const { skipped: _, ...kept } = parseResolvConf(c.text);
      if (c.absent)
        assert.ok(!JSON.stringify(kept).includes(c.absent), `${c.absent} was kept: ${JSON.stringify(kept)}`);
    });
  }
});

describe('dnsmasq lease file', () => {
  for (const c of leaseCases) {
    test(c.name, () => {
      assertReported(leaseFileProblems(c.text), c);
      const l = parseLeases(c.text);
      const kept = JSON.stringify([...l.v4, ...l.v6]);
      if (c.absent) assert.ok(!kept.includes(c.absent), `${c.absent} was taken as a lease: ${kept}`);
    });
  }
});

describe("a request on the CNI daemon's socket", () => {
  for (const c of daemonCases) {
    test(c.name, () => {
      assert.throws(
        () => parseRequestHead(Buffer.from(c.text, 'latin1')),
        (e: Error) =>
          e instanceof FramingError && e.message.includes(c.field) && new RegExp(c.rule, 'iu').test(e.message),
        c.name,
      );
    });
  }
});

describe('webhook AdmissionReview', () => {
  for (const c of reviewCases) {
    test(c.name, () => {
      const req = patched(BASE_REVIEW, c.set, c.unset);
      const out = review(req);
      assert.equal(out.response?.allowed, false, `allowed: ${JSON.stringify(out).slice(0, 300)}`);
      assert.equal(out.response.uid, req.request.uid);
      assert.equal(out.response.status?.code, 422);
      const causes = (out.response.status.details?.causes ?? []) as Array<{ field: string; message: string }>;
      assertProblem(
        causes.map((x) => ({ path: x.field, rule: x.message })),
        c,
      );
    });
  }
});

describe('launcher status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-corpus-status-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const c of statusCases) {
    const text = caseStatusText(c);
    if (c.file) {
      test(`${c.name} (status.json)`, () => {
        assertTypedError(() => parseLauncherStatus(text, 'status.json'), c);
        writeFileSync(statusFile(dir), text);
        assert.equal(readStatus(dir), undefined, 'readStatus returned a malformed status');
      });
      continue;
    }
    test(`${c.name} (annotation)`, () =>
      void assertTypedError(() => parseLauncherReport(text, LAUNCHER_STATUS_ANNOTATION), c));
    test(`${c.name} (the controller's reconcile survives it)`, () => {
      const pod = {
        metadata: { name: 'virt-launcher-corpus-vm', uid: 'u1', annotations: { [LAUNCHER_STATUS_ANNOTATION]: text } },
        spec: { nodeName: 'n1' },
        status: { phase: 'Running' },
      };
      const vmi = {
        apiVersion: 'virtnet.io/v1alpha1' as const,
        kind: 'VirtualMachineInstance' as const,
        metadata: { name: 'corpus-vm', namespace: 'default' },
        spec: BASE_VMI.spec,
      };
      let status: ReturnType<typeof statusFromPod> | undefined;
      try {
        status = statusFromPod(vmi, pod);
      } catch (err) {
        assert.fail(
          `statusFromPod threw on ${LAUNCHER_STATUS_ANNOTATION} ${text.slice(0, 80)}: ${(err as Error).stack}`,
        );
      }
      assert.ok(Array.isArray(status.interfaces), 'interfaces must stay a list');
      assert.ok(['Scheduled', 'Running', 'Failed', 'Succeeded'].includes(status.phase), `phase ${status.phase}`);
    });
  }
});

/** The kubelet role's and the launcher's allowed boot directories in these cases (see launcher-spec.yaml). */
const SPEC_ALLOWED = ['/var/lib/virtnet/images', '/usr/share/common-licenses'];
const BASE_LAUNCHER_SPEC = {
  name: 'corpus-vm',
  namespace: 'default',
  memoryMiB: 64,
  cpus: 1,
  interfaces: [{ name: 'default', bridge: {} }],
  networks: [{ name: 'default', pod: {} }],
  boot: { kernel: '/usr/share/common-licenses/GPL-3' },
};

describe('launcher spec (kubelet role annotation, launcher spec.json)', () => {
  test('the base spec is accepted', () =>
    assert.equal(launcherSpecFrom(JSON.stringify(BASE_LAUNCHER_SPEC), SPEC_ALLOWED, 'base').name, 'corpus-vm'));
  for (const c of specCases) {
    const text = c.text ?? JSON.stringify({ ...BASE_LAUNCHER_SPEC, ...c.spec });
    test(
      c.name,
      () => void assertTypedError(() => launcherSpecFrom(text, SPEC_ALLOWED, 'annotation virtnet.io/launcher-spec'), c),
    );
  }
});

describe("node policy (the admin's /etc/virtnet/cni-policy.json)", () => {
  for (const c of policyCases) {
    test(
      c.name,
      () => void assertTypedError(() => parsePolicy(c.text ?? JSON.stringify(c.policy), 'cni-policy.json'), c),
    );
  }
});
