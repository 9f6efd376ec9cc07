/**
 * Bad input through the whole plugin entry point (runPlugin), as a runtime
 * would send it. Every row fails in validation, before any side effect:
 * environment and config are checked before the netns, IPAM or links are
 * touched, and CNI_NETNS / CNI_PATH name places that do not exist as a
 * second line of defence.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlugin, ABOUT } from '../../../cni/skel.ts';

/** The node policy of these rows: data and logs only in a scratch directory (hermetic: /etc/virtnet is not read). */
const SCRATCH = mkdtempSync(join(tmpdir(), 'virtnet-test-badinput-'));
const POLICY = join(SCRATCH, 'cni-policy.json');
writeFileSync(
  POLICY,
  JSON.stringify({ dataRoots: [join(SCRATCH, 'data'), '/var/lib/cni/virtnet'], logRoot: join(SCRATCH, 'log') }),
);
const NO_LOG_POLICY = join(SCRATCH, 'no-log-policy.json');
writeFileSync(NO_LOG_POLICY, JSON.stringify({}));
const MISSPELT_POLICY = join(SCRATCH, 'misspelt-policy.json');
writeFileSync(MISSPELT_POLICY, JSON.stringify({ dataRoot: ['/var/lib/cni/virtnet'] }));
const LOG = join(SCRATCH, 'log', 'plugin.log');
/** A log root that covers a data root: a logFile in the data root is still refused. */
const OVERLAP_POLICY = join(SCRATCH, 'overlap-policy.json');
writeFileSync(OVERLAP_POLICY, JSON.stringify({ dataRoots: [join(SCRATCH, 'data')], logRoot: SCRATCH }));
mkdirSync(join(SCRATCH, 'data'), { recursive: true });
writeFileSync(join(SCRATCH, 'data', 'afile'), 'a regular file where a directory would be');
after(() => rmSync(SCRATCH, { recursive: true, force: true }));

const BASE_ENV: Record<string, string> = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'ctr-0123abcd',
  CNI_NETNS: '/var/run/netns/virtnet-unit-does-not-exist',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/nonexistent/virtnet-unit/cni-bin',
  VIRTNET_CNI_POLICY: POLICY,
};

/** A config that passes validation; rows break one thing in it. */
const GOOD = { cniVersion: '1.1.0', name: 'unitnet', type: 'virtnet-bridge', bridge: 'vnunit0' };

interface Row {
  name: string;
  /** Overrides on BASE_ENV; null removes the variable. */
  env?: Record<string, string | null>;
  /** Extra config fields (undefined value deletes), or raw stdin text. */
  conf?: Record<string, unknown>;
  stdin?: string;
  code: number;
  /** The exact message, or substrings it must contain (field name first, then the rule). */
  msg: string | string[];
  details?: string;
}

const ROWS: Row[] = [
  // --- regressions found in review ---
  {
    name: 'CNI_COMMAND naming an Object.prototype member',
    env: { CNI_COMMAND: 'toString' },
    code: 4,
    msg: ['CNI_COMMAND', 'unknown verb "toString"'],
  },
  {
    name: 'CNI_COMMAND __proto__',
    env: { CNI_COMMAND: '__proto__' },
    code: 4,
    msg: ['CNI_COMMAND', 'unknown verb "__proto__"'],
  },
  {
    name: 'ifname with # (ip -batch comment)',
    env: { CNI_IFNAME: 'eth#0' },
    code: 4,
    msg: ['CNI_IFNAME', 'must not contain #'],
  },
  {
    name: 'bridge name with a quote',
    conf: { bridge: '"br0' },
    code: 7,
    msg: ['bridge', 'must not contain #, quotes'],
  },
  {
    name: 'prevResult ips entry null',
    conf: { prevResult: { cniVersion: '1.1.0', ips: [null] } },
    code: 6,
    msg: ['prevResult.ips[0]', 'must be an object'],
  },
  {
    name: 'prevResult ips entry without address',
    conf: { prevResult: { cniVersion: '1.1.0', ips: [{ gateway: '10.0.0.1' }] } },
    code: 6,
    msg: ['prevResult.ips[0].address', 'must be a string'],
  },
  {
    name: 'prevResult interfaces not a list',
    conf: { prevResult: { cniVersion: '1.1.0', interfaces: {} } },
    code: 6,
    msg: ['prevResult.interfaces', 'must be a list'],
  },
  // --- environment (code 4) ---
  {
    name: 'ADD without CNI_NETNS and CNI_IFNAME reports both',
    env: { CNI_NETNS: null, CNI_IFNAME: null },
    code: 4,
    msg: 'required env variables [CNI_NETNS,CNI_IFNAME] missing',
  },
  {
    name: 'ADD with no CNI variables at all reports all four',
    env: { CNI_CONTAINERID: null, CNI_NETNS: null, CNI_IFNAME: null, CNI_PATH: null },
    code: 4,
    msg: 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing',
  },
  {
    name: 'an empty variable counts as missing',
    env: { CNI_IFNAME: '' },
    code: 4,
    msg: 'required env variables [CNI_IFNAME] missing',
  },
  {
    name: 'DEL without CNI_CONTAINERID and CNI_PATH (CNI_NETNS optional)',
    env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: null, CNI_NETNS: null, CNI_PATH: null },
    code: 4,
    msg: 'required env variables [CNI_CONTAINERID,CNI_PATH] missing',
  },
  {
    name: 'GC without CNI_PATH',
    env: { CNI_COMMAND: 'GC', CNI_PATH: null },
    code: 4,
    msg: 'required env variables [CNI_PATH] missing',
  },
  {
    name: 'unknown CNI_COMMAND',
    env: { CNI_COMMAND: 'CREATE' },
    code: 4,
    msg: ['CNI_COMMAND', 'unknown verb "CREATE"', 'expected one of ADD, CHECK, DEL, GC, STATUS, VERSION'],
  },
  {
    name: 'CNI_COMMAND is case-sensitive',
    env: { CNI_COMMAND: 'add' },
    code: 4,
    msg: ['CNI_COMMAND', 'unknown verb "add"'],
  },
  {
    name: 'CNI_CONTAINERID with "/"',
    env: { CNI_CONTAINERID: 'ctr/1' },
    code: 4,
    msg: ['CNI_CONTAINERID', '"ctr/1" must match'],
  },
  {
    name: 'CNI_CONTAINERID starting with "-"',
    env: { CNI_CONTAINERID: '-ctr' },
    code: 4,
    msg: ['CNI_CONTAINERID', '"-ctr" must match'],
  },
  {
    name: 'CNI_CONTAINERID with a space',
    env: { CNI_CONTAINERID: 'ctr 1' },
    code: 4,
    msg: ['CNI_CONTAINERID', 'must match'],
  },
  {
    name: 'CNI_IFNAME of 16 bytes',
    env: { CNI_IFNAME: 'eth0123456789abc' },
    code: 4,
    msg: ['CNI_IFNAME', 'must be at most 15 bytes'],
  },
  {
    name: 'CNI_IFNAME of 9 characters but 18 bytes',
    env: { CNI_IFNAME: 'ééééééééé' },
    code: 4,
    msg: ['CNI_IFNAME', 'must be at most 15 bytes'],
  },
  {
    name: 'CNI_IFNAME with "/"',
    env: { CNI_IFNAME: 'eth/0' },
    code: 4,
    msg: ['CNI_IFNAME', 'must not contain "/", ":" or whitespace'],
  },
  {
    name: 'CNI_IFNAME with ":"',
    env: { CNI_IFNAME: 'eth0:1' },
    code: 4,
    msg: ['CNI_IFNAME', 'must not contain "/", ":" or whitespace'],
  },
  {
    name: 'CNI_IFNAME with a space',
    env: { CNI_IFNAME: 'eth 0' },
    code: 4,
    msg: ['CNI_IFNAME', 'must not contain "/", ":" or whitespace'],
  },
  {
    name: 'CNI_IFNAME with a tab',
    env: { CNI_IFNAME: 'eth\t0' },
    code: 4,
    msg: ['CNI_IFNAME', 'must not contain "/", ":" or whitespace'],
  },
  { name: 'CNI_IFNAME "."', env: { CNI_IFNAME: '.' }, code: 4, msg: ['CNI_IFNAME', 'must not be "." or ".."'] },
  { name: 'CNI_IFNAME ".."', env: { CNI_IFNAME: '..' }, code: 4, msg: ['CNI_IFNAME', 'must not be "." or ".."'] },
  {
    name: 'relative CNI_NETNS',
    env: { CNI_NETNS: 'var/run/netns/pod' },
    code: 4,
    msg: ['CNI_NETNS', 'must be an absolute path'],
  },
  {
    name: 'CNI_NETNS with ".."',
    env: { CNI_NETNS: '/var/run/netns/../../etc/pod' },
    code: 4,
    msg: ['CNI_NETNS', 'must not contain ".."'],
  },
  {
    name: 'CNI_NETNS with a space',
    env: { CNI_NETNS: '/var/run/netns/a pod' },
    code: 4,
    msg: ['CNI_NETNS', 'may hold only letters, digits'],
  },
  {
    name: 'relative CNI_NETNS on DEL too',
    env: { CNI_COMMAND: 'DEL', CNI_NETNS: 'pod' },
    code: 4,
    msg: ['CNI_NETNS', 'must be an absolute path'],
  },
  {
    name: 'relative CNI_PATH entry',
    env: { CNI_PATH: '/opt/cni/bin:relative/bin' },
    code: 4,
    msg: ['CNI_PATH', 'entry "relative/bin"', 'must be an absolute path'],
  },
  {
    name: 'CNI_PATH entry with ".."',
    env: { CNI_PATH: '/opt/cni/../bin' },
    code: 4,
    msg: ['CNI_PATH', 'entry "/opt/cni/../bin"', 'must not contain ".."'],
  },
  {
    name: 'CNI_PATH entry with "$"',
    env: { CNI_PATH: '/opt/$HOME/bin' },
    code: 4,
    msg: ['CNI_PATH', 'may hold only letters, digits'],
  },
  {
    name: 'CNI_ARGS unknown key without IgnoreUnknown',
    env: { CNI_ARGS: 'K8S_POD_NAME=p;FOO=bar' },
    code: 4,
    msg: ['CNI_ARGS', 'unknown key FOO', 'IgnoreUnknown=1'],
  },
  {
    name: 'CNI_ARGS unknown key with IgnoreUnknown=0',
    env: { CNI_ARGS: 'IgnoreUnknown=0;FOO=bar' },
    code: 4,
    msg: ['CNI_ARGS', 'unknown key FOO'],
  },
  { name: 'CNI_ARGS pair without "="', env: { CNI_ARGS: 'MAC' }, code: 4, msg: ['CNI_ARGS', '"MAC" is not KEY=VALUE'] },
  {
    name: 'CNI_ARGS pair with an empty key',
    env: { CNI_ARGS: '=x' },
    code: 4,
    msg: ['CNI_ARGS', '"=x" is not KEY=VALUE'],
  },

  // --- stdin that is not a config object (code 6) ---
  { name: 'stdin is not JSON', stdin: '{"cniVersion": "1.1.0",', code: 6, msg: ['config', 'not valid JSON'] },
  { name: 'stdin is empty', stdin: '', code: 6, msg: ['config', 'not valid JSON'] },
  { name: 'stdin is a JSON array', stdin: '[{"cniVersion":"1.1.0"}]', code: 6, msg: 'config: must be a JSON object' },
  { name: 'stdin is JSON null', stdin: 'null', code: 6, msg: 'config: must be a JSON object' },
  { name: 'stdin is a JSON string', stdin: '"virtnet"', code: 6, msg: 'config: must be a JSON object' },
  {
    name: 'prevResult is not an object',
    conf: { prevResult: 'none' },
    code: 6,
    msg: ['prevResult', 'must be a JSON object'],
  },

  // --- versions (code 1) ---
  {
    name: 'cniVersion 0.2.0 is unsupported',
    conf: { cniVersion: '0.2.0' },
    code: 1,
    msg: 'cniVersion: "0.2.0" is not supported (incompatible CNI versions)',
    details: 'config is "0.2.0", plugin supports ["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]',
  },
  {
    name: 'cniVersion 9.9.9 is unsupported',
    conf: { cniVersion: '9.9.9' },
    code: 1,
    msg: 'cniVersion: "9.9.9" is not supported (incompatible CNI versions)',
    details: 'config is "9.9.9", plugin supports ["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]',
  },
  {
    name: 'prevResult older than 0.3.0',
    conf: { prevResult: { cniVersion: '0.2.0' } },
    code: 1,
    msg: ['prevResult', 'cniVersion "0.2.0" is older than 0.3.0'],
  },
  {
    name: 'CHECK with cniVersion 0.3.1',
    env: { CNI_COMMAND: 'CHECK' },
    conf: { cniVersion: '0.3.1', logFile: LOG },
    code: 1,
    msg: 'config version does not allow CHECK',
    details: 'CHECK needs cniVersion 0.4.0 or later; the config says "0.3.1"',
  },
  {
    name: 'CHECK with cniVersion 0.3.0',
    env: { CNI_COMMAND: 'CHECK' },
    conf: { cniVersion: '0.3.0', logFile: LOG },
    code: 1,
    msg: 'config version does not allow CHECK',
    details: 'CHECK needs cniVersion 0.4.0 or later; the config says "0.3.0"',
  },
  {
    name: 'GC with cniVersion 1.0.0',
    env: { CNI_COMMAND: 'GC' },
    conf: { cniVersion: '1.0.0', logFile: LOG },
    code: 1,
    msg: 'config version does not allow GC',
    details: 'GC needs cniVersion 1.1.0 or later; the config says "1.0.0"',
  },
  {
    name: 'STATUS with cniVersion 1.0.0',
    env: { CNI_COMMAND: 'STATUS' },
    conf: { cniVersion: '1.0.0', logFile: LOG },
    code: 1,
    msg: 'config version does not allow STATUS',
    details: 'STATUS needs cniVersion 1.1.0 or later; the config says "1.0.0"',
  },

  // --- config fields (code 7) ---
  { name: 'missing cniVersion', conf: { cniVersion: undefined }, code: 7, msg: 'cniVersion: is required' },
  { name: 'empty cniVersion', conf: { cniVersion: '' }, code: 7, msg: 'cniVersion: is required' },
  { name: 'numeric cniVersion', conf: { cniVersion: 1 }, code: 7, msg: 'cniVersion: must be a string' },
  { name: 'missing network name', conf: { name: undefined }, code: 7, msg: ['name', '"" must match'] },
  { name: 'network name with a space', conf: { name: 'my net' }, code: 7, msg: ['name', '"my net" must match'] },
  { name: 'network name starting with "_"', conf: { name: '_net' }, code: 7, msg: ['name', '"_net" must match'] },
  { name: 'network name with "/"', conf: { name: 'a/b' }, code: 7, msg: ['name', '"a/b" must match'] },
  {
    name: 'bridge name too long',
    conf: { bridge: 'virtnet-bridge-00' },
    code: 7,
    msg: ['bridge', 'is not a valid link name', 'must be at most 15 bytes'],
  },
  {
    name: 'bridge name with "/"',
    conf: { bridge: 'br/0' },
    code: 7,
    msg: ['bridge', '"br/0" is not a valid link name', 'must not contain "/", ":" or whitespace'],
  },
  {
    name: 'bridge name with a space',
    conf: { bridge: 'br 0' },
    code: 7,
    msg: ['bridge', 'must not contain "/", ":" or whitespace'],
  },
  { name: 'bridge name empty', conf: { bridge: '' }, code: 7, msg: ['bridge', 'must not be empty'] },
  { name: 'bridge name ".."', conf: { bridge: '..' }, code: 7, msg: ['bridge', 'must not be "." or ".."'] },
  {
    name: 'bridge name with a control character',
    conf: { bridge: 'br\u00010' },
    code: 7,
    msg: ['bridge', 'must not contain control characters'],
  },
  { name: 'bridge name not a string', conf: { bridge: 0 }, code: 7, msg: 'bridge: must be a string' },
  { name: 'mtu 67', conf: { mtu: 67 }, code: 7, msg: 'mtu: must be an integer from 68 to 65535' },
  { name: 'mtu 65536', conf: { mtu: 65536 }, code: 7, msg: 'mtu: must be an integer from 68 to 65535' },
  { name: 'mtu 1500.5', conf: { mtu: 1500.5 }, code: 7, msg: 'mtu: must be an integer from 68 to 65535' },
  { name: 'mtu as a string', conf: { mtu: '1500' }, code: 7, msg: 'mtu: must be an integer from 68 to 65535' },
  {
    name: 'runtimeConfig.mac not a MAC',
    conf: { runtimeConfig: { mac: 'zz:00:00:00:00:01' } },
    code: 7,
    msg: ['runtimeConfig.mac', '"zz:00:00:00:00:01" is not a MAC address'],
  },
  {
    name: 'runtimeConfig.mac with dashes',
    conf: { runtimeConfig: { mac: '02-00-00-00-00-01' } },
    code: 7,
    msg: ['runtimeConfig.mac', 'is not a MAC address'],
  },
  {
    name: 'runtimeConfig.mac a number',
    conf: { runtimeConfig: { mac: 2 } },
    code: 7,
    msg: ['runtimeConfig.mac', '"2" is not a MAC address'],
  },
  {
    name: 'args.cni.mac of five octets',
    conf: { args: { cni: { mac: '02:00:00:00:01' } } },
    code: 7,
    msg: ['args.cni.mac', '"02:00:00:00:01" is not a MAC address'],
  },
  {
    name: 'runtimeConfig.mac multicast',
    conf: { runtimeConfig: { mac: '01:00:5e:00:00:01' } },
    code: 7,
    msg: ['runtimeConfig.mac', 'is a multicast MAC', 'unicast'],
  },
  {
    name: 'args.cni.mac multicast (broadcast)',
    conf: { args: { cni: { mac: 'ff:ff:ff:ff:ff:ff' } } },
    code: 7,
    msg: ['args.cni.mac', '"ff:ff:ff:ff:ff:ff" is a multicast MAC'],
  },
  {
    name: 'CNI_ARGS MAC multicast',
    env: { CNI_ARGS: 'MAC=03:00:00:00:00:01' },
    code: 7,
    msg: ['CNI_ARGS MAC', 'is a multicast MAC'],
  },
  {
    name: 'CNI_ARGS MAC not a MAC',
    env: { CNI_ARGS: 'IgnoreUnknown=1;MAC=02:00' },
    code: 7,
    msg: ['CNI_ARGS MAC', '"02:00" is not a MAC address'],
  },
  {
    name: 'runtimeConfig.ips entry not an IP',
    conf: { runtimeConfig: { ips: ['10.0.0.5/24', '10.0.0.300/24'] } },
    code: 7,
    msg: ['runtimeConfig.ips[1]', '"10.0.0.300/24" is not an IP or CIDR'],
  },
  {
    name: 'runtimeConfig.ips entry with prefix too long',
    conf: { runtimeConfig: { ips: ['fd00::1/129'] } },
    code: 7,
    msg: ['runtimeConfig.ips[0]', 'is not an IP or CIDR'],
  },
  {
    name: 'runtimeConfig.ips not a list',
    conf: { runtimeConfig: { ips: '10.0.0.5' } },
    code: 7,
    msg: ['runtimeConfig.ips', 'must be a list of IPs or CIDRs'],
  },
  {
    name: 'args.cni.ips entry a number',
    conf: { args: { cni: { ips: [42] } } },
    code: 7,
    msg: ['args.cni.ips[0]', '"42" is not an IP or CIDR'],
  },
  { name: 'vxlan without id', conf: { vxlan: { remote: '192.0.2.2' } }, code: 7, msg: ['vxlan.id', 'is required'] },
  {
    name: 'vxlan id above 16777215',
    conf: { vxlan: { id: 16777216, remote: '192.0.2.2' } },
    code: 7,
    msg: 'vxlan.id: must be an integer from 0 to 16777215',
  },
  {
    name: 'vxlan with both remote and group',
    conf: { vxlan: { id: 10, remote: '192.0.2.2', group: '239.0.0.10', dev: 'eth1' } },
    code: 7,
    msg: ['vxlan', 'set either remote ("192.0.2.2") or group ("239.0.0.10"), not both'],
  },
  {
    name: 'vxlan head-end (neither remote nor group) with a local that is not an IP',
    conf: { vxlan: { id: 10, local: 'node-1' } },
    code: 7,
    msg: ['vxlan.local', '"node-1" is not an IP address'],
  },
  {
    name: 'vxlan group not multicast (IPv4)',
    conf: { vxlan: { id: 10, group: '10.1.1.1', dev: 'eth1' } },
    code: 7,
    msg: ['vxlan.group', '"10.1.1.1" is not a multicast address'],
  },
  {
    name: 'vxlan group not multicast (IPv6)',
    conf: { vxlan: { id: 10, group: 'fd00::1', dev: 'eth1' } },
    code: 7,
    msg: ['vxlan.group', '"fd00::1" is not a multicast address'],
  },
  {
    name: 'vxlan group 240.0.0.1 is past the multicast range',
    conf: { vxlan: { id: 10, group: '240.0.0.1', dev: 'eth1' } },
    code: 7,
    msg: ['vxlan.group', 'is not a multicast address'],
  },
  {
    name: 'vxlan remote a host name',
    conf: { vxlan: { id: 10, remote: 'peer.example.test' } },
    code: 7,
    msg: ['vxlan.remote', '"peer.example.test" is not an IP address'],
  },
  {
    name: 'vxlan remote with a prefix',
    conf: { vxlan: { id: 10, remote: '192.0.2.2/32' } },
    code: 7,
    msg: ['vxlan.remote', 'is not an IP address'],
  },
  {
    name: 'vxlan port 0',
    conf: { vxlan: { id: 10, remote: '192.0.2.2', port: 0 } },
    code: 7,
    msg: 'vxlan.port: must be an integer from 1 to 65535',
  },
  {
    name: 'vxlan dev with a space',
    conf: { vxlan: { id: 10, group: '239.0.0.1', dev: 'eth 1' } },
    code: 7,
    msg: ['vxlan.dev', 'must not contain "/", ":" or whitespace'],
  },
  { name: 'vxlan not an object', conf: { vxlan: 10 }, code: 7, msg: 'vxlan: must be an object' },
  {
    name: 'vlanTrunk id 0',
    conf: { vlanTrunk: [{ id: 0 }] },
    code: 7,
    msg: 'vlanTrunk[0].id: must be an integer from 1 to 4094',
  },
  {
    name: 'vlanTrunk id 4095',
    conf: { vlanTrunk: [{ id: 10 }, { id: 4095 }] },
    code: 7,
    msg: 'vlanTrunk[1].id: must be an integer from 1 to 4094',
  },
  {
    name: 'vlanTrunk maxID 4095',
    conf: { vlanTrunk: [{ minID: 1, maxID: 4095 }] },
    code: 7,
    msg: 'vlanTrunk[0].maxID: must be an integer from 1 to 4094',
  },
  {
    name: 'vlanTrunk minID > maxID',
    conf: { vlanTrunk: [{ minID: 200, maxID: 100 }] },
    code: 7,
    msg: 'vlanTrunk[0]: minID 200 is greater than maxID 100',
  },
  {
    name: 'vlanTrunk empty list',
    conf: { vlanTrunk: [] },
    code: 7,
    msg: 'vlanTrunk: must be a non-empty list of {id} or {minID, maxID}',
  },
  {
    name: 'vlanTrunk not a list',
    conf: { vlanTrunk: { id: 5 } },
    code: 7,
    msg: ['vlanTrunk', 'must be a non-empty list'],
  },
  { name: 'vlanTrunk entry not an object', conf: { vlanTrunk: [5] }, code: 7, msg: 'vlanTrunk[0]: must be an object' },
  {
    name: 'ipam without type',
    conf: { ipam: { subnet: '10.0.0.0/24' } },
    code: 7,
    msg: ['ipam.type', 'must name the IPAM plugin'],
  },
  { name: 'ipam as a string', conf: { ipam: 'host-local' }, code: 7, msg: ['ipam.type', 'must name the IPAM plugin'] },
  {
    name: 'ipam type with "/"',
    conf: { ipam: { type: '../bin/host-local' } },
    code: 7,
    msg: ['ipam.type', '"../bin/host-local" must match'],
  },
  { name: 'ipam type empty', conf: { ipam: { type: '' } }, code: 7, msg: ['ipam.type', '"" must match'] },
  {
    name: 'dns.nameservers entry not an IP',
    conf: { dns: { nameservers: ['10.0.0.53', 'dns.example.test'] } },
    code: 7,
    msg: ['dns.nameservers[1]', '"dns.example.test" is not an IP address'],
  },
  {
    name: 'dns.nameservers not a list',
    conf: { dns: { nameservers: '10.0.0.53' } },
    code: 7,
    msg: ['dns.nameservers', 'must be a list of strings'],
  },
  {
    name: 'dns.search with a number',
    conf: { dns: { search: ['a.test', 1] } },
    code: 7,
    msg: ['dns.search', 'must be a list of strings'],
  },
  {
    name: 'logFile relative',
    conf: { logFile: 'virtnet.log' },
    code: 7,
    msg: ['logFile', '"virtnet.log" must be an absolute path'],
  },
  {
    name: 'logFile with ".."',
    conf: { logFile: '/var/log/../../tmp/x.log' },
    code: 7,
    msg: ['logFile', 'must not contain ".."'],
  },
  {
    name: 'dataDir with ".."',
    conf: { dataDir: '/var/lib/cni/../../../tmp' },
    code: 7,
    msg: ['dataDir', '"/var/lib/cni/../../../tmp" must not contain ".."'],
  },
  { name: 'dataDir relative', conf: { dataDir: 'state' }, code: 7, msg: ['dataDir', 'must be an absolute path'] },
  { name: 'isGateway "yes"', conf: { isGateway: 'yes' }, code: 7, msg: 'isGateway: must be a boolean' },
  {
    name: 'cni.dev/valid-attachments not a list',
    conf: { 'cni.dev/valid-attachments': { c1: 'eth0' } },
    code: 7,
    msg: ['cni.dev/valid-attachments', 'must be a list'],
  },
  {
    name: 'DEL validates the config too',
    env: { CNI_COMMAND: 'DEL' },
    conf: { mtu: 10 },
    code: 7,
    msg: 'mtu: must be an integer from 68 to 65535',
  },

  // --- issue 11: self-delegation, unknown fields, host paths (code 7), delegate depth ---
  {
    name: 'ipam.type is the plugin itself',
    conf: { ipam: { type: 'virtnet-bridge' } },
    code: 7,
    msg: ['ipam.type', '"virtnet-bridge" is this plugin itself'],
  },
  {
    name: 'ipam.type equals a renamed plugin type',
    conf: { type: 'my-bridge', ipam: { type: 'my-bridge' } },
    code: 7,
    msg: ['ipam.type', '"my-bridge" is this plugin itself'],
  },
  {
    name: 'ipam.type virtnet-bridge refused on DEL too',
    env: { CNI_COMMAND: 'DEL' },
    conf: { ipam: { type: 'virtnet-bridge' } },
    code: 7,
    msg: ['ipam.type', 'is this plugin itself'],
  },
  {
    name: 'unknown field isGatway, with a hint',
    conf: { isGatway: true },
    code: 7,
    msg: 'isGatway: unknown field (did you mean "isGateway"?)',
  },
  {
    name: 'unknown field without a near known one',
    conf: { frobnicate: 1 },
    code: 7,
    msg: 'frobnicate: unknown field',
  },
  {
    name: 'unknown vxlan field, with a hint',
    conf: { vxlan: { id: 1, remote: '192.0.2.1', prt: 4789 } },
    code: 7,
    msg: 'vxlan.prt: unknown field (did you mean "port"?)',
  },
  {
    name: 'unknown vlanTrunk field, with a hint',
    conf: { vlanTrunk: [{ minId: 1, maxID: 5 }] },
    code: 7,
    msg: ['vlanTrunk[0].minId: unknown field (did you mean "minID"?)'],
  },
  {
    name: 'unknown fields are all listed',
    conf: { isGatway: true, ipmasq: true },
    code: 7,
    msg: ['isGatway: unknown field', '; ipmasq: unknown field (did you mean "ipMasq"?)'],
  },
  {
    name: 'logFile /etc/cron.d/x on STATUS, no logRoot',
    env: { CNI_COMMAND: 'STATUS', VIRTNET_CNI_POLICY: NO_LOG_POLICY },
    conf: { logFile: '/etc/cron.d/x' },
    code: 7,
    msg: ['logFile', '"/etc/cron.d/x" is refused', 'no logRoot'],
  },
  {
    name: 'logFile outside the log root',
    env: { CNI_COMMAND: 'STATUS' },
    conf: { logFile: '/etc/cron.d/x' },
    code: 7,
    msg: ['logFile', '"/etc/cron.d/x" is outside the log root the node admin allows'],
  },
  {
    name: 'logFile is the log root itself',
    conf: { logFile: join(SCRATCH, 'log') },
    code: 7,
    msg: ['logFile', 'is the log root itself'],
  },
  {
    name: 'dataDir on the node state',
    conf: { dataDir: '/var/lib/kubelet' },
    code: 7,
    msg: ['dataDir', '"/var/lib/kubelet" is outside the data roots the node admin allows', '/var/lib/cni/virtnet'],
  },
  {
    name: 'dataDir beside a root (prefix is not a parent)',
    conf: { dataDir: '/var/lib/cni/virtnet-other' },
    code: 7,
    msg: ['dataDir', 'is outside the data roots'],
  },
  {
    name: 'dataDir outside the roots on GC',
    env: { CNI_COMMAND: 'GC' },
    conf: { dataDir: '/etc' },
    code: 7,
    msg: ['dataDir', '"/etc" is outside the data roots'],
  },
  {
    name: 'ipam.dataDir outside the roots',
    conf: { ipam: { type: 'host-local', dataDir: '/etc/kubernetes' } },
    code: 7,
    msg: ['ipam.dataDir', '"/etc/kubernetes" is outside the data roots'],
  },
  {
    name: 'ipam.dataDir not a string',
    conf: { ipam: { type: 'host-local', dataDir: 5 } },
    code: 7,
    msg: 'ipam.dataDir: must be a string (an absolute path)',
  },
  {
    name: 'ipam.dataDir with ".."',
    conf: { ipam: { type: 'host-local', dataDir: '/var/lib/cni/virtnet/../../x' } },
    code: 7,
    msg: ['ipam.dataDir', 'must not contain ".."'],
  },

  // --- issue 11 attacker review: the IPAM delegate, the plugin's own files, link name templates ---
  {
    name: 'ipam.type host-device (moves a host NIC into the pod)',
    conf: { runtimeConfig: { deviceID: 'eth0' }, ipam: { type: 'host-device' } },
    code: 7,
    msg: ['ipam.type: "host-device" is not an IPAM plugin the node admin allows', '"host-local"'],
  },
  {
    name: 'ipam.type the reference bridge, on DEL too',
    env: { CNI_COMMAND: 'DEL' },
    conf: { ipam: { type: 'bridge', bridge: 'docker0' } },
    code: 7,
    msg: ['ipam.type: "bridge" is not an IPAM plugin the node admin allows'],
  },
  {
    name: 'dataDir the version cache directory',
    conf: { name: 'delegate-versions.json', dataDir: '/var/lib/cni/virtnet/.cache' },
    code: 7,
    msg: ['dataDir', 'has the part ".cache"', 'may start with "."'],
  },
  {
    name: 'ipam.dataDir the version cache file',
    conf: { ipam: { type: 'host-local', dataDir: '/var/lib/cni/virtnet/.cache/delegate-versions.json' } },
    code: 7,
    msg: ['ipam.dataDir', 'has the part ".cache"'],
  },
  {
    name: 'logFile under a data root',
    conf: { dataDir: join(SCRATCH, 'data'), logFile: join(SCRATCH, 'data', 'unitnet', 'x.json') },
    env: { VIRTNET_CNI_POLICY: OVERLAP_POLICY },
    code: 7,
    msg: ['logFile', 'lies under the data root'],
  },
  {
    name: 'dataDir through a regular file',
    conf: { dataDir: join(SCRATCH, 'data', 'afile', 'x') },
    code: 7,
    msg: ['dataDir', 'a part of it below the root is not a directory', 'ENOTDIR'],
  },
  { name: 'bridge a name template', conf: { bridge: 'br%d' }, code: 7, msg: ['bridge', 'must not contain "%"'] },
  {
    name: 'bridge with a C1 control',
    conf: { bridge: 'x\u009b31m' },
    code: 7,
    msg: ['bridge', 'may hold only ASCII letters'],
  },
  {
    name: 'delegate depth over the cap',
    env: { VIRTNET_DELEGATE_DEPTH: '5' },
    code: 104,
    msg: ['VIRTNET_DELEGATE_DEPTH', '5 levels deep, more than the cap of 4'],
  },
  {
    name: 'delegate depth over the cap stops VERSION too',
    env: { CNI_COMMAND: 'VERSION', VIRTNET_DELEGATE_DEPTH: '9' },
    code: 104,
    msg: ['VIRTNET_DELEGATE_DEPTH', 'more than the cap'],
  },
  {
    name: 'delegate depth not a number',
    env: { VIRTNET_DELEGATE_DEPTH: 'x' },
    code: 4,
    msg: ['VIRTNET_DELEGATE_DEPTH', '"x" must be a small non-negative integer'],
  },
  {
    name: 'policy file named by env is missing',
    env: { VIRTNET_CNI_POLICY: join(SCRATCH, 'nope.json') },
    code: 4,
    msg: ['VIRTNET_CNI_POLICY', 'cannot read'],
  },
  {
    name: 'policy path relative',
    env: { VIRTNET_CNI_POLICY: 'policy.json' },
    code: 4,
    msg: ['VIRTNET_CNI_POLICY', 'must be an absolute path'],
  },
  {
    name: 'policy with a misspelt key',
    env: { VIRTNET_CNI_POLICY: MISSPELT_POLICY },
    code: 7,
    msg: ['node policy', 'dataRoot: unknown key (did you mean "dataRoots"?)'],
  },

  // --- issue 11, widen the net: values that reached the kernel or a file name ---
  {
    name: 'CNI_CONTAINERID of 129 bytes',
    env: { CNI_CONTAINERID: 'c'.repeat(129) },
    code: 4,
    msg: ['CNI_CONTAINERID', 'is 129 bytes; it must be at most 128'],
  },
  {
    name: 'CNI_CONTAINERID of 100000 bytes, shown cut',
    env: { CNI_CONTAINERID: 'c'.repeat(100000) },
    code: 4,
    msg: ['CNI_CONTAINERID', '(100000 characters) is 100000 bytes'],
  },
  {
    name: 'CNI_IFNAME lo',
    env: { CNI_IFNAME: 'lo' },
    code: 4,
    msg: ['CNI_IFNAME', '"lo" is a link every network namespace already has'],
  },
  {
    name: 'CNI_IFNAME tunl0 (a fallback tunnel device)',
    env: { CNI_IFNAME: 'tunl0' },
    code: 4,
    msg: ['CNI_IFNAME', '"tunl0" is a link every network namespace already has'],
  },
  {
    name: 'CNI_IFNAME lo on DEL too',
    env: { CNI_COMMAND: 'DEL', CNI_IFNAME: 'lo' },
    code: 4,
    msg: ['CNI_IFNAME', 'already has'],
  },
  {
    name: 'CNI_ARGS over 4096 bytes',
    env: { CNI_ARGS: `IgnoreUnknown=1;X=${'a'.repeat(4096)}` },
    code: 4,
    msg: ['CNI_ARGS', 'is 4114 bytes; it may hold at most 4096'],
  },
  {
    name: 'CNI_ARGS K8S_POD_NAMESPACE with a newline',
    env: { CNI_ARGS: 'K8S_POD_NAMESPACE=default\nx' },
    code: 4,
    msg: ['CNI_ARGS K8S_POD_NAMESPACE', '"default\\nx" must be a DNS-1123 label'],
  },
  {
    name: 'CNI_ARGS K8S_POD_NAMESPACE of 64 characters',
    env: { CNI_ARGS: `K8S_POD_NAMESPACE=${'n'.repeat(64)}` },
    code: 4,
    msg: ['CNI_ARGS K8S_POD_NAMESPACE', 'must be at most 63 characters'],
  },
  {
    name: 'CNI_ARGS K8S_POD_NAME traversal',
    env: { CNI_ARGS: 'K8S_POD_NAME=../../etc' },
    code: 4,
    msg: ['CNI_ARGS K8S_POD_NAME', '"../../etc" must be a DNS-1123 subdomain'],
  },
  {
    name: 'CNI_ARGS K8S_POD_NAME of 254 characters',
    env: { CNI_ARGS: `K8S_POD_NAME=${'p'.repeat(254)}` },
    code: 4,
    msg: ['CNI_ARGS K8S_POD_NAME', 'must be at most 253 characters'],
  },
  {
    name: 'CNI_ARGS K8S_POD_INFRA_CONTAINER_ID with "/"',
    env: { CNI_ARGS: 'K8S_POD_INFRA_CONTAINER_ID=a/b' },
    code: 4,
    msg: ['CNI_ARGS K8S_POD_INFRA_CONTAINER_ID', '"a/b" must match'],
  },
  {
    name: 'CNI_ARGS K8S_POD_UID traversal',
    env: { CNI_ARGS: 'K8S_POD_UID=../x' },
    code: 4,
    msg: ['CNI_ARGS K8S_POD_UID', '"../x" must match'],
  },
  {
    name: 'CNI_ARGS K8S_POD_UID of 129 bytes',
    env: { CNI_ARGS: `K8S_POD_UID=${'u'.repeat(129)}` },
    code: 4,
    msg: ['CNI_ARGS K8S_POD_UID', 'is 129 bytes; it must be at most 128'],
  },
  {
    name: 'CNI_ARGS IP not an address',
    env: { CNI_ARGS: 'IP=10.0.0.999' },
    code: 4,
    msg: ['CNI_ARGS IP', '"10.0.0.999" is not an IP address or CIDR'],
  },
  {
    name: 'CNI_ARGS IP list with a bad second entry',
    env: { CNI_ARGS: 'IP=10.0.0.5/24,fd00::5,x' },
    code: 4,
    msg: ['CNI_ARGS IP', '"x" is not an IP address or CIDR'],
  },
  {
    name: 'CNI_ARGS MAC all zero',
    env: { CNI_ARGS: 'MAC=00:00:00:00:00:00' },
    code: 7,
    msg: ['CNI_ARGS MAC', '"00:00:00:00:00:00" is the all-zero MAC'],
  },
  {
    name: 'runtimeConfig.mac all zero',
    conf: { runtimeConfig: { mac: '00:00:00:00:00:00' } },
    code: 7,
    msg: ['runtimeConfig.mac', 'is the all-zero MAC'],
  },
  {
    name: 'args.cni.mac all zero',
    conf: { args: { cni: { mac: '00:00:00:00:00:00' } } },
    code: 7,
    msg: ['args.cni.mac', 'is the all-zero MAC'],
  },
  {
    name: 'network name of 99 bytes',
    conf: { name: 'n'.repeat(99) },
    code: 7,
    msg: ['name', 'is 99 bytes; it must be at most 98', 'NAME_MAX 255'],
  },
  {
    name: 'dns.search with a newline',
    conf: { dns: { search: ['a.test', 'b.test\nnameserver 6.6.6.6'] } },
    code: 7,
    msg: ['dns.search[1]', 'is not a domain name', 'contains whitespace or control characters'],
  },
  {
    name: 'dns.search with a bad label',
    conf: { dns: { search: ['-a.test'] } },
    code: 7,
    msg: ['dns.search[0]', 'has the label "-a"'],
  },
  {
    name: 'dns.domain with a newline',
    conf: { dns: { domain: 'a.test\nsearch evil' } },
    code: 7,
    msg: ['dns.domain', 'is not a domain name', 'contains whitespace'],
  },
  {
    name: 'dns.options with a space',
    conf: { dns: { options: ['ndots:5 rotate\nnameserver 6.6.6.6'] } },
    code: 7,
    msg: ['dns.options[0]', 'must be one resolv.conf option word'],
  },

  // --- unsupported field (code 2) ---
  {
    name: 'vlan (access VLAN) is unsupported',
    conf: { vlan: 100 },
    code: 2,
    msg: ['vlan', 'access-VLAN tagging is not supported', 'vlanTrunk'],
  },
  {
    name: 'IgnoreUnknown lets unknown CNI_ARGS through to config validation',
    env: { CNI_ARGS: 'IgnoreUnknown=true;FOO=bar' },
    conf: { vlan: 5 },
    code: 2,
    msg: ['vlan', 'is not supported'],
  },
];

function envOf(row: Row): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...BASE_ENV };
  for (const [k, v] of Object.entries(row.env ?? {})) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  return env;
}

function stdinOf(row: Row): string {
  if (row.stdin !== undefined) return row.stdin;
  const c: Record<string, unknown> = { ...GOOD };
  for (const [k, v] of Object.entries(row.conf ?? {})) {
    if (v === undefined) delete c[k];
    else c[k] = v;
  }
  return JSON.stringify(c);
}

/** The version the error document echoes: the stdin's cniVersion when it has a usable one. */
function echoedVersion(row: Row): string {
  if (row.stdin !== undefined) return '1.1.0';
  const v = row.conf && 'cniVersion' in row.conf ? row.conf.cniVersion : GOOD.cniVersion;
  return typeof v === 'string' && v !== '' ? v : '1.1.0';
}

test('bad-input table has at least 30 rows with unique names', () => {
  assert.ok(ROWS.length >= 30, `${ROWS.length} rows`);
  assert.equal(new Set(ROWS.map((r) => r.name)).size, ROWS.length);
});

for (const row of ROWS) {
  test(`bad input: ${row.name} -> code ${row.code}`, async () => {
    const out = await runPlugin(envOf(row), stdinOf(row));
    assert.equal(out.exitCode, 1, `exit code; stdout ${out.stdout}`);
    // A typed validation error, not a crash: nothing on stderr.
    assert.equal(out.stderr, '');
    const doc = JSON.parse(out.stdout) as Record<string, unknown>;
    assert.deepEqual(
      Object.keys(doc).sort(),
      row.details !== undefined ? ['cniVersion', 'code', 'details', 'msg'] : ['cniVersion', 'code', 'msg'],
      out.stdout,
    );
    assert.equal(doc.code, row.code, `code; msg ${String(doc.msg)}`);
    assert.equal(doc.cniVersion, echoedVersion(row));
    assert.equal(typeof doc.msg, 'string');
    const msg = doc.msg as string;
    if (typeof row.msg === 'string') {
      assert.equal(msg, row.msg);
    } else {
      let from = 0;
      for (const part of row.msg) {
        const at = msg.indexOf(part, from);
        assert.ok(at >= 0, `msg ${JSON.stringify(msg)} should contain ${JSON.stringify(part)} (in order)`);
        from = at + part.length;
      }
    }
    if (row.details !== undefined) assert.equal(doc.details, row.details);
  });
}

test('VERSION: supportedVersions exactly, cniVersion echoed from stdin, no other variables needed', async () => {
  const out = await runPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  assert.deepEqual(out, {
    stdout: JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] }),
    stderr: '',
    exitCode: 0,
  });
});

test('VERSION: without a readable cniVersion answers with 1.1.0', async () => {
  for (const stdin of ['', 'not json', '{}', 'null']) {
    const out = await runPlugin({ CNI_COMMAND: 'VERSION' }, stdin);
    assert.equal(out.exitCode, 0);
    assert.deepEqual(JSON.parse(out.stdout), {
      cniVersion: '1.1.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  }
});

test('no CNI_COMMAND: the about text on stderr, nothing on stdout, exit 0', async () => {
  const out = await runPlugin({ CNI_PATH: '/opt/cni/bin' }, '');
  assert.deepEqual(out, {
    stdout: '',
    stderr: `${ABOUT}\nCNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n`,
    exitCode: 0,
  });
  assert.equal(ABOUT, 'virtnet-bridge: VM-ready bridge CNI plugin');
  const empty = await runPlugin({ CNI_COMMAND: '' }, '{}');
  assert.equal(empty.exitCode, 0);
  assert.equal(empty.stdout, '');
  assert.ok(empty.stderr.startsWith(ABOUT));
});
