import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnnotationError, parseNetworksAnnotation, type NetworkSelection } from '../../../netattach/annotation.ts';
import { VirtnetError } from '../../../lib/errors.ts';

const A = 'k8s.v1.cni.cncf.io/networks';
const long63 = 'a'.repeat(63);
const long64 = 'a'.repeat(64);

const VALID: Array<[string, string, NetworkSelection[]]> = [
  ['text: a bare name gets the pod namespace', 'net-a', [{ name: 'net-a', namespace: 'pods' }]],
  ['text: namespace/name', 'other/net-a', [{ name: 'net-a', namespace: 'other' }]],
  ['text: name@ifname', 'net-a@eth7', [{ name: 'net-a', namespace: 'pods', interface: 'eth7' }]],
  ['text: ns/name@ifname', 'other/net-a@macvlan1', [{ name: 'net-a', namespace: 'other', interface: 'macvlan1' }]],
  [
    'text: ifname with "_" (Multus accepts, NAD-client would not)',
    'net1@my_interface',
    [{ name: 'net1', namespace: 'pods', interface: 'my_interface' }],
  ],
  [
    'text: items and parts trimmed',
    '  net-a ,\tother / net-b @ eth2 ',
    [
      { name: 'net-a', namespace: 'pods' },
      { name: 'net-b', namespace: 'other', interface: 'eth2' },
    ],
  ],
  [
    'text: net-a,net-a gives two attachments',
    'net-a,net-a',
    [
      { name: 'net-a', namespace: 'pods' },
      { name: 'net-a', namespace: 'pods' },
    ],
  ],
  ['text: 63-character name', long63, [{ name: long63, namespace: 'pods' }]],
  ['text: 15-byte ifname', 'n@abcdefghijklmno', [{ name: 'n', namespace: 'pods', interface: 'abcdefghijklmno' }]],
  ['empty value selects nothing', '', []],
  ['whitespace-only value selects nothing', '  \t ', []],
  ['JSON: empty array', '[]', []],
  ['JSON: name only, namespace defaulted', '[{"name":"net-a"}]', [{ name: 'net-a', namespace: 'pods' }]],
  [
    'JSON: empty namespace and interface mean default / none',
    '[{"name":"net-a","namespace":"","interface":""}]',
    [{ name: 'net-a', namespace: 'pods' }],
  ],
  [
    'JSON: null optional keys are absent',
    '[{"name":"net-a","mac":null,"ips":null,"bandwidth":null}]',
    [{ name: 'net-a', namespace: 'pods' }],
  ],
  [
    'JSON: unknown keys (and Multus deviceID) ignored',
    '[{"name":"net-a","colour":"blue","deviceID":"0000:00:01.0"}]',
    [{ name: 'net-a', namespace: 'pods' }],
  ],
  [
    'JSON: deprecated interfaceRequest when interface absent',
    '[{"name":"net-a","interfaceRequest":"eth5"}]',
    [{ name: 'net-a', namespace: 'pods', interface: 'eth5' }],
  ],
  [
    'JSON: empty ips and default-route lists dropped',
    '[{"name":"net-a","ips":[],"default-route":[]}]',
    [{ name: 'net-a', namespace: 'pods' }],
  ],
  [
    'JSON: ipam-claim-reference alone',
    '[{"name":"net-a","ipam-claim-reference":"claim-1"}]',
    [{ name: 'net-a', namespace: 'pods', ipamClaimReference: 'claim-1' }],
  ],
  [
    'JSON: one IPv4 and one IPv6 default route on different networks',
    '[{"name":"a","default-route":["10.0.0.1"]},{"name":"b","default-route":["fd00::1"]}]',
    [
      { name: 'a', namespace: 'pods', defaultRoute: ['10.0.0.1'] },
      { name: 'b', namespace: 'pods', defaultRoute: ['fd00::1'] },
    ],
  ],
  [
    'JSON: protocol case-insensitive',
    '[{"name":"a","portMappings":[{"hostPort":80,"containerPort":8080,"protocol":"UDP"}]}]',
    [{ name: 'a', namespace: 'pods', portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'UDP' }] }],
  ],
  [
    'JSON: every field',
    JSON.stringify([
      {
        name: 'net-a',
        namespace: 'other',
        interface: 'net9',
        ips: ['10.1.1.5/24', 'fd00::5', '10.2.2.2'],
        mac: '02:AA:bb:cc:dd:ee',
        'default-route': ['10.1.1.1', 'fd00::1'],
        'cni-args': { foo: 'bar', n: 1 },
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '192.0.2.1' },
          { hostPort: 53, containerPort: 53 },
        ],
        bandwidth: { ingressRate: 1000000, ingressBurst: 0, egressRate: 2000000, egressBurst: 4096 },
        'infiniband-guid': '00:11:22:33:44:55:66:77',
      },
      { name: 'net-b' },
    ]),
    [
      {
        name: 'net-a',
        namespace: 'other',
        interface: 'net9',
        ips: ['10.1.1.5/24', 'fd00::5', '10.2.2.2'],
        mac: '02:AA:bb:cc:dd:ee',
        defaultRoute: ['10.1.1.1', 'fd00::1'],
        cniArgs: { foo: 'bar', n: 1 },
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '192.0.2.1' },
          { hostPort: 53, containerPort: 53 },
        ],
        bandwidth: { ingressRate: 1000000, ingressBurst: 0, egressRate: 2000000, egressBurst: 4096 },
        infinibandGuid: '00:11:22:33:44:55:66:77',
      },
      { name: 'net-b', namespace: 'pods' },
    ],
  ],
];

const INVALID: Array<[string, string, string, string]> = [
  // text form
  ['text: more than one "/"', 'a/b/c', `${A}[0]`, 'more than one "/"'],
  ['text: more than one "@"', 'net-a@e1@e2', `${A}[0]`, 'more than one "@"'],
  ['text: empty item in the middle', 'net-a,,net-b', `${A}[1]`, 'empty item'],
  ['text: trailing comma', 'net-a,', `${A}[1]`, 'empty item'],
  ['text: empty name', 'ns/@eth1', `${A}[0].name`, 'must not be empty'],
  ['text: empty namespace', '/net-a', `${A}[0].namespace`, 'must not be empty'],
  ['text: upper-case name', 'Net-A', `${A}[0].name`, 'DNS-1123 label'],
  ['text: name with "_"', 'net_a', `${A}[0].name`, 'DNS-1123 label'],
  ['text: name ending in "-"', 'net-', `${A}[0].name`, 'DNS-1123 label'],
  ['text: name of 64 characters', long64, `${A}[0].name`, 'at most 63'],
  ['text: bad namespace in second item', 'net-a,Bad.NS/net-b', `${A}[1].namespace`, 'DNS-1123 label'],
  ['text: ifname over 15 bytes', 'net-a@abcdefghijklmnop', `${A}[0].interface`, 'at most 15 bytes'],
  ['text: ifname "."', 'net-a@.', `${A}[0].interface`, 'must not be "." or ".."'],
  ['text: ifname ".."', 'net-a@..', `${A}[0].interface`, 'must not be "." or ".."'],
  ['text: ifname with ":"', 'net-a@eth0:1', `${A}[0].interface`, 'must not contain "/", ":" or whitespace'],
  ['text: ifname with inner whitespace', 'net-a@eth 0', `${A}[0].interface`, 'must not contain "/", ":" or whitespace'],
  ['text: ifname lo with blanks around it', 'net-a@ lo ', `${A}[0].interface`, '"lo" is taken'],
  ['text: empty ifname', 'net-a@', `${A}[0].interface`, 'must not be empty'],
  // JSON form
  ['JSON: invalid JSON', '[{"name":"a"', A, 'invalid JSON'],
  ['JSON: a single object is not accepted', '{"name":"a"}', A, 'must be an array'],
  ['JSON: a string', '"net-a"', A, 'must be an array'],
  ['JSON: element not an object', '["net-a"]', `${A}[0]`, 'must be an object'],
  ['JSON: missing name', '[{"namespace":"x"}]', `${A}[0].name`, 'is required'],
  ['JSON: empty name', '[{"name":""}]', `${A}[0].name`, 'must not be empty'],
  ['JSON: name not a string', '[{"name":5}]', `${A}[0].name`, 'must be a string'],
  ['JSON: bad namespace', '[{"name":"a","namespace":"Foo"}]', `${A}[0].namespace`, 'DNS-1123 label'],
  ['JSON: bad interface', '[{"name":"a","interface":"a/b"}]', `${A}[0].interface`, 'must not contain "/"'],
  [
    'JSON: interface too long',
    '[{"name":"a","interface":"abcdefghijklmnop"}]',
    `${A}[0].interface`,
    'at most 15 bytes',
  ],
  [
    'JSON: mac with 5 bytes',
    '[{"name":"a"},{"name":"b","mac":"02:00:00:00:01"}]',
    `${A}[1].mac`,
    'must be a MAC address',
  ],
  ['JSON: mac with "-"', '[{"name":"a","mac":"02-00-00-00-00-01"}]', `${A}[0].mac`, 'must be a MAC address'],
  // names the kernel gives a link in every new network namespace, both forms
  ['text: ifname lo', 'net-a@lo', `${A}[0].interface`, 'interface name "lo" is taken in every pod'],
  [
    'text: ifname tunl0 (ipip fallback device)',
    'other/net-a@tunl0',
    `${A}[0].interface`,
    'interface name "tunl0" is taken',
  ],
  [
    'JSON: interface lo',
    '[{"name":"a","interface":"lo"}]',
    `${A}[0].interface`,
    'interface name "lo" is taken in every pod',
  ],
  ['JSON: interfaceRequest lo', '[{"name":"a","interfaceRequest":"lo"}]', `${A}[0].interfaceRequest`, '"lo" is taken'],
  ['JSON: interface sit0', '[{"name":"a"},{"name":"b","interface":"sit0"}]', `${A}[1].interface`, '"sit0" is taken'],
  [
    'JSON: all-zero mac',
    '[{"name":"a","mac":"00:00:00:00:00:00"}]',
    `${A}[0].mac`,
    '"00:00:00:00:00:00" must not be all zeros',
  ],
  [
    'JSON: multicast mac',
    '[{"name":"a","mac":"01:00:5e:00:00:01"}]',
    `${A}[0].mac`,
    '"01:00:5e:00:00:01" is a multicast address',
  ],
  [
    'JSON: name of 64 characters names the value',
    `[{"name":"${long64}"}]`,
    `${A}[0].name`,
    `"${long64}" must be at most 63 characters`,
  ],
  [
    'JSON: a 2 MiB name is quoted cut short',
    `[{"name":"${'x'.repeat(2 * 1024 * 1024)}"}]`,
    `${A}[0].name`,
    `"${'x'.repeat(99)}… (2097152 characters)`,
  ],
  [
    'JSON: infiniband-guid with 6 bytes',
    '[{"name":"a","infiniband-guid":"00:11:22:33:44:55"}]',
    `${A}[0].infiniband-guid`,
    'InfiniBand GUID',
  ],
  ['JSON: ips not an array', '[{"name":"a","ips":"10.0.0.1"}]', `${A}[0].ips`, 'must be an array'],
  [
    'JSON: ips entry not an IP or CIDR',
    '[{"name":"a","ips":["10.0.0.1","10.0.0.300"]}]',
    `${A}[0].ips[1]`,
    'IP address or a CIDR',
  ],
  [
    'JSON: ips entry with a bad prefix',
    '[{"name":"a","ips":["10.0.0.1/33"]}]',
    `${A}[0].ips[0]`,
    'IP address or a CIDR',
  ],
  ['JSON: ips entry with a zone', '[{"name":"a","ips":["fe80::1%eth0"]}]', `${A}[0].ips[0]`, 'IP address or a CIDR'],
  [
    'JSON: ips with ipam-claim-reference',
    '[{"name":"a","ips":["10.0.0.1/24"],"ipam-claim-reference":"c"}]',
    `${A}[0].ipam-claim-reference`,
    'mutually exclusive',
  ],
  [
    'JSON: default-route not an IP',
    '[{"name":"a","default-route":["10.0.0.0/24"]}]',
    `${A}[0].default-route[0]`,
    'must be an IP address',
  ],
  [
    'JSON: two IPv4 default routes on one network',
    '[{"name":"a","default-route":["10.0.0.1","10.0.0.2"]}]',
    `${A}[0].default-route[1]`,
    'does not support ECMP',
  ],
  [
    'JSON: two IPv6 default routes across networks',
    '[{"name":"a","default-route":["fd00::1"]},{"name":"b","default-route":["10.0.0.1","fd01::1"]}]',
    `${A}[1].default-route[1]`,
    'more than one IPv6',
  ],
  ['JSON: cni-args not an object', '[{"name":"a","cni-args":["x"]}]', `${A}[0].cni-args`, 'must be an object'],
  [
    'JSON: portMappings not an array',
    '[{"name":"a","portMappings":{"hostPort":1}}]',
    `${A}[0].portMappings`,
    'must be an array',
  ],
  [
    'JSON: hostPort 0',
    '[{"name":"a","portMappings":[{"hostPort":0,"containerPort":80}]}]',
    `${A}[0].portMappings[0].hostPort`,
    'from 1 to 65535',
  ],
  [
    'JSON: containerPort 65536',
    '[{"name":"a","portMappings":[{"hostPort":80,"containerPort":65536}]}]',
    `${A}[0].portMappings[0].containerPort`,
    'from 1 to 65535',
  ],
  [
    'JSON: port as a string',
    '[{"name":"a","portMappings":[{"hostPort":"80","containerPort":80}]}]',
    `${A}[0].portMappings[0].hostPort`,
    'integer port',
  ],
  [
    'JSON: missing containerPort',
    '[{"name":"a","portMappings":[{"hostPort":80}]}]',
    `${A}[0].portMappings[0].containerPort`,
    'is required',
  ],
  [
    'JSON: bad protocol',
    '[{"name":"a","portMappings":[{"hostPort":80,"containerPort":80},{"hostPort":81,"containerPort":81,"protocol":"icmp"}]}]',
    `${A}[0].portMappings[1].protocol`,
    'one of tcp, udp, sctp',
  ],
  [
    'JSON: bad hostIP',
    '[{"name":"a","portMappings":[{"hostPort":80,"containerPort":80,"hostIP":"localhost"}]}]',
    `${A}[0].portMappings[0].hostIP`,
    'must be an IP address',
  ],
  ['JSON: bandwidth not an object', '[{"name":"a","bandwidth":5}]', `${A}[0].bandwidth`, 'must be an object'],
  [
    'JSON: negative bandwidth rate',
    '[{"name":"a","bandwidth":{"ingressRate":-1}}]',
    `${A}[0].bandwidth.ingressRate`,
    'non-negative integer',
  ],
  [
    'JSON: fractional bandwidth burst',
    '[{"name":"a","bandwidth":{"egressBurst":1.5}}]',
    `${A}[0].bandwidth.egressBurst`,
    'non-negative integer',
  ],
];

for (const [desc, value, expected] of VALID) {
  test(`parseNetworksAnnotation accepts: ${desc}`, () => {
    assert.deepEqual(parseNetworksAnnotation(value, 'pods'), expected);
  });
}

for (const [desc, value, field, phrase] of INVALID) {
  test(`parseNetworksAnnotation rejects: ${desc}`, () => {
    assert.throws(
      () => parseNetworksAnnotation(value, 'pods'),
      (err: unknown) => {
        assert.ok(err instanceof AnnotationError, `${desc}: ${String(err)}`);
        assert.equal(err.field, field, desc);
        assert.ok(err.rule.includes(phrase), `${desc}: rule "${err.rule}" lacks "${phrase}"`);
        assert.equal(err.message, `${field}: ${err.rule}`, desc);
        return true;
      },
    );
  });
}

test('AnnotationError is a VirtnetError with code 7 (invalid config)', () => {
  const err = new AnnotationError(`${A}[0].mac`, 'bad');
  assert.ok(err instanceof Error && err instanceof VirtnetError);
  assert.equal(err.code, 7);
  assert.equal(err.name, 'AnnotationError');
  assert.equal(err.message, `${A}[0].mac: bad`);
});

test('parseNetworksAnnotation: the JSON form is chosen by any of [ { "', () => {
  // A quote alone forces JSON, so this is not read as the text form.
  assert.throws(() => parseNetworksAnnotation('net-"a"', 'pods'), { field: A });
  assert.throws(() => parseNetworksAnnotation('net-{a', 'pods'), { field: A });
  // "}" alone is not a trigger: the text form rejects it as a name.
  assert.throws(() => parseNetworksAnnotation('net-a}', 'pods'), { field: `${A}[0].name` });
});

test('parseNetworksAnnotation: cni-args is passed through whole, per element', () => {
  const [a, b] = parseNetworksAnnotation('[{"name":"a","cni-args":{"k":1}},{"name":"b"}]', 'pods');
  assert.ok(a && b);
  assert.notEqual(a, b);
  assert.deepEqual(a.cniArgs, { k: 1 });
});

test('parseNetworksAnnotation: at most 32 selections, in either form, counted before the items are read', () => {
  const names = (n: number) => Array.from({ length: n }, (_, i) => `net${i}`);
  const rule = (n: number) =>
    new RegExp(
      `^${A.replaceAll('.', '\\.')}: selects ${n} networks; at most 32 are allowed \\(each becomes a host veth`,
      'u',
    );
  assert.equal(parseNetworksAnnotation(names(32).join(','), 'pods').length, 32);
  assert.equal(parseNetworksAnnotation(JSON.stringify(names(32).map((name) => ({ name }))), 'pods').length, 32);
  assert.throws(() => parseNetworksAnnotation(names(33).join(','), 'pods'), { field: A, message: rule(33) });
  assert.throws(() => parseNetworksAnnotation(names(3000).join(','), 'pods'), { field: A, message: rule(3000) });
  assert.throws(() => parseNetworksAnnotation(JSON.stringify(names(33).map((name) => ({ name }))), 'pods'), {
    field: A,
    message: rule(33),
  });
  // The count comes first: a bad item past the cap is not what is reported.
  assert.throws(() => parseNetworksAnnotation(`${names(40).join(',')},BAD`, 'pods'), { field: A, message: rule(41) });
});
