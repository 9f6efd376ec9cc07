/**
 * One rule for every value that reaches dnsmasq (lib/dnsmasq-values.ts):
 * a table of VMI names and DHCP option values, each taken through admission
 * (validateManifests, what `virtnet validate`, `virtnet up` and the webhook
 * run) and through the launcher (launcherSpec → planPod → the renderer).
 * A value is either admitted and rendered into the exact dhcp-host and
 * option lines dnsmasq reads right, or refused by both, in the same words.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateManifests, type ApiObject } from '../../../controller/api/manifests.ts';
import type { VirtualMachineInstance } from '../../../controller/api/schema.ts';
import { launcherSpec } from '../../../controller/render/launcher-spec.ts';
import { renderDnsmasqConfig } from '../../../launcher/dhcp/dnsmasq-config.ts';
import {
  dhcpHostname,
  dhcpStringProblem,
  hostnameProblem,
  ntpServerProblem,
  searchDomainProblem,
  showValue,
} from '../../../lib/dnsmasq-values.ts';
import type { PodInterface } from '../../../launcher/discover.ts';
import { planPod } from '../../../launcher/plan/pod.ts';
import { dhcpNicOf } from '../../../launcher/plan/types.ts';
import { parseResolvConf } from '../../../launcher/resolv.ts';
import type { InterfaceSpec, LauncherSpec } from '../../../launcher/spec.ts';

const MAC = '02:5e:00:00:00:05';
const ETH0: PodInterface = {
  name: 'eth0',
  mac: '0a:58:0a:f4:00:05',
  mtu: 1450,
  ipv4: [{ address: '10.244.0.5', prefix: 24 }],
  ipv6: [],
  routes4: [{ dst: '0.0.0.0/0', gateway: '10.244.0.1' }],
  routes6: [],
};
const RESOLV = parseResolvConf('search default.svc.cluster.local\nnameserver 10.96.0.10\n');
const FILES = { leaseFile: '/run/virtnet/dnsmasq.leases', pidFile: '/run/virtnet/dnsmasq.pid' };

type Dhcp = NonNullable<InterfaceSpec['dhcpOptions']>;

function vmi(name: string, over: { hostname?: string; dhcpOptions?: Dhcp } = {}): object {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name, namespace: 'demo' },
    spec: {
      ...(over.hostname !== undefined && { hostname: over.hostname }),
      domain: {
        devices: {
          interfaces: [
            {
              name: 'default',
              bridge: {},
              macAddress: MAC,
              ...(over.dhcpOptions && { dhcpOptions: over.dhcpOptions }),
            },
          ],
        },
      },
      networks: [{ name: 'default', pod: {} }],
    },
  };
}

function admit(doc: object): { vmi?: VirtualMachineInstance; problems: string[] } {
  const { objects, problems } = validateManifests([{ source: 'vm.yaml#1', object: doc }]);
  const found = objects.find(
    (o): o is Extract<ApiObject, { kind: 'VirtualMachineInstance' }> => o.kind === 'VirtualMachineInstance',
  );
  return { ...(found && { vmi: found.object }), problems: problems.map((p) => `${p.path}: ${p.rule}`) };
}

/** What the launcher writes for an admitted VMI: its pod's plan, rendered. */
function launch(v: VirtualMachineInstance): string {
  const spec: LauncherSpec = launcherSpec(v as Parameters<typeof launcherSpec>[0], {
    boot: { kernel: '/boot/vmlinuz' },
    memoryMiB: 256,
    cpus: 1,
    serviceCIDRs: [],
  });
  const plan = planPod(
    spec,
    { interfaces: [ETH0], resolv: RESOLV },
    { dummyLinks: true, freshMacs: ['02:aa:00:00:00:01'] },
  );
  const nics = plan.nics.flatMap((n) => dhcpNicOf(n) ?? []);
  return renderDnsmasqConfig({ nics, ...FILES }).text;
}

// [VMI name, spec.hostname, the guest's hostname]
const NAMES: Array<[string, string | undefined, string]> = [
  ['vm1', undefined, 'vm1'],
  ['my.vm', undefined, 'my'], // KubeVirt's SanitizeHostname: the first label
  ['web.prod.example', undefined, 'web'],
  ['ignore', undefined, 'ignore'], // dnsmasq: "never answer this host"
  ['infinite', undefined, 'infinite'], // dnsmasq: a lease time
  ['600', undefined, '600'], // a lease time in seconds
  ['5m', undefined, '5m'], // minutes
  ['12h', undefined, '12h'],
  ['1w', undefined, '1w'],
  ['7', undefined, '7'],
  ['30s.example', undefined, '30s'],
  [`${'a'.repeat(30)}.${'b'.repeat(32)}`, undefined, 'a'.repeat(30)],
  ['a'.repeat(63), undefined, 'a'.repeat(63)],
  ['vm1', 'ignore', 'ignore'],
  ['my.vm', 'host-1', 'host-1'],
];

for (const [name, hostname, label] of NAMES) {
  test(
    `VMI ${JSON.stringify(name)}${hostname ? ` (hostname ${hostname})` : ''}: admitted, and dhcp-host names ` +
      `${label} in a form dnsmasq reads as a name`,
    () => {
      const { vmi: admitted, problems } = admit(vmi(name, hostname === undefined ? {} : { hostname }));
      assert.deepEqual(problems, []);
      const lines = launch(admitted!).split('\n');
      assert.ok(lines.includes(`dhcp-host=${MAC},set:nic0,10.244.0.5,${label}.,infinite`), lines.join('\n'));
      assert.ok(lines.includes(`dhcp-option-force=tag:nic0,12,${label}`), lines.join('\n'));
      assert.equal(dhcpHostname(name, hostname), label);
      assert.equal(hostnameProblem(label), undefined);
    },
  );
}

test('VMI names admission refuses never reach the launcher; the error names the value and the rule', () => {
  for (const [name, fragment] of [
    ['my_vm', '"my_vm" must be a DNS-1123 subdomain'],
    ['-vm', '"-vm" must be a DNS-1123 subdomain'],
    ['vm.', '"vm." must be a DNS-1123 subdomain'],
    ['a'.repeat(64), `"${'a'.repeat(64)}" must be at most 63 characters`],
  ] as const) {
    const { vmi: admitted, problems } = admit(vmi(name));
    assert.equal(admitted, undefined, name);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.ok(problems[0]!.startsWith(`metadata.name: ${fragment}`), problems[0]);
  }
});

// [where, value]: each goes into dhcpOptions at `where`.
const OPTION_VALUES: Array<[keyof Dhcp, string]> = [
  ['bootFileName', 'pxelinux.0'],
  ['bootFileName', 'a,b"c\\d#e'],
  ['bootFileName', ' pxelinux.0'],
  ['bootFileName', 'pxelinux.0 '],
  ['bootFileName', 'pxe\u0085linux'],
  ['bootFileName', 'pxe\u2028linux'],
  ['bootFileName', 'pxe\u2029linux'],
  ['bootFileName', 'pxe\nlinux'],
  ['bootFileName', 'pxe\u0000'],
  ['bootFileName', 'pxe\u007f'],
  ['tftpServerName', 'tftp\tserver'],
  ['tftpServerName', '\u00a0tftp'],
  ['tftpServerName', 'x'.repeat(255)],
  ['tftpServerName', 'x'.repeat(256)],
  ['tftpServerName', 'é'.repeat(127)],
  ['tftpServerName', 'é'.repeat(128)],
  ['privateOptions', 'http://wpad.example/wpad.dat'],
  ['privateOptions', ' leading'],
  ['privateOptions', 'new\nline'],
  ['privateOptions', 'nel\u0085'],
];

function optionsWith(where: keyof Dhcp, value: string): Dhcp {
  return where === 'privateOptions' ? { privateOptions: [{ option: 240, value }] } : { [where]: value };
}

for (const [where, value] of OPTION_VALUES) {
  test(`dhcpOptions.${where} ${showValue(value)}: admission and the renderer agree`, () => {
    const problem = dhcpStringProblem(value);
    const { vmi: admitted, problems } = admit(vmi('vm1', { dhcpOptions: optionsWith(where, value) }));
    const path = `spec.domain.devices.interfaces[0].dhcpOptions.${where === 'privateOptions' ? 'privateOptions[0].value' : where}`;
    if (problem) {
      assert.deepEqual(problems, [`${path}: ${problem}`]);
      assert.ok(problem.startsWith(showValue(value)), problem);
      assert.equal(admitted, undefined);
      return;
    }
    assert.deepEqual(problems, []);
    const text = launch(admitted!);
    const quoted = `"${value.replace(/[\\"]/gu, (c) => `\\${c}`)}"`;
    const option = {
      bootFileName: 'option:bootfile-name',
      tftpServerName: 'option:tftp-server',
      privateOptions: '240',
      ntpServers: '',
    }[where];
    assert.ok(text.split('\n').includes(`dhcp-option-force=tag:nic0,${option},${quoted}`), text);
  });
}

test('the renderer refuses each value admission refuses, in the same words', () => {
  for (const [where, value] of OPTION_VALUES) {
    const problem = dhcpStringProblem(value);
    if (!problem) continue;
    const field = where === 'privateOptions' ? 'privateOptions[0].value' : where;
    const nic = {
      bridge: 'k6t-eth0',
      serverAddress: '169.254.75.10',
      mac: MAC,
      ipv4: { address: '10.244.0.5', prefix: 24 },
      sharedNetwork: true,
      ...(where === 'privateOptions' ? { privateOptions: [{ code: 240, value }] } : { [where]: value }),
    };
    assert.throws(
      () => renderDnsmasqConfig({ nics: [nic], ...FILES }),
      { name: 'TypeError', message: `nics[0].${field}: ${problem}` },
      JSON.stringify(value),
    );
  }
});

test('NTP servers: IPv4 only, by one rule in admission and the renderer', () => {
  for (const s of ['10.0.0.1', '10.0.0.1 ', '010.0.0.1', 'ntp.example', '2001:db8::1', '10.0.0']) {
    const problem = ntpServerProblem(s);
    const { problems } = admit(vmi('vm1', { dhcpOptions: { ntpServers: [s] } }));
    assert.deepEqual(
      problems,
      problem ? [`spec.domain.devices.interfaces[0].dhcpOptions.ntpServers[0]: ${problem}`] : [],
      s,
    );
  }
  assert.equal(ntpServerProblem('10.0.0.1'), undefined);
});

test('search domains: one rule; a newline, a blank or a 64-byte label is refused by admission, dropped by the renderer', () => {
  const long = `${'a'.repeat(64)}.example`;
  for (const d of [
    'cluster.local',
    'a.example\nnameserver 192.0.2.66',
    'a.example b.example',
    'tab\t.example',
    long,
    'a..b',
  ]) {
    const problem = searchDomainProblem(d);
    const doc = vmi('vm1') as { spec: Record<string, unknown> };
    doc.spec.dnsConfig = { searches: [d] };
    const { problems } = admit(doc);
    if (!problem) {
      assert.deepEqual(problems, [], d);
      continue;
    }
    assert.deepEqual(problems, [`spec.dnsConfig.searches[0]: ${problem}`], d);
    const r = renderDnsmasqConfig({
      nics: [
        {
          bridge: 'k6t-eth0',
          serverAddress: '169.254.75.10',
          mac: MAC,
          ipv4: { address: '10.244.0.5', prefix: 24 },
          sharedNetwork: true,
          searchDomains: [d],
        },
      ],
      ...FILES,
    });
    assert.doesNotMatch(r.text, /domain-search/u, d);
  }
  assert.match(
    searchDomainProblem('a.example\nnameserver 192.0.2.66') ?? '',
    /^"a\.example\\nnameserver 192\.0\.2\.66" contains whitespace or control characters/u,
  );
});

test('showValue quotes a value and cuts a long one, saying how long it was', () => {
  assert.equal(showValue('sec'), '"sec"');
  assert.equal(showValue(7), '7');
  const shown = showValue('x'.repeat(2 * 1024 * 1024));
  assert.equal(shown, `"${'x'.repeat(99)}… (2097152 characters)`);
});
