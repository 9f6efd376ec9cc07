/**
 * VMI/VM admission: a table of invalid specs, each one small mutation of a
 * valid base, each expecting exactly the problems listed (the field path and
 * a fragment of the rule), so that a mutation cannot pass by tripping some
 * other rule. Then: many problems at once, valid specs with their
 * normalised defaults, and the batch-level checks (kinds, name clashes,
 * NADs in the batch, YAML errors, Lists, JSON).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpuCount, formatProblems, memoryMiB, parseManifests, validateManifests, type Problem, type ValidationContext,
} from '../../../controller/api/manifests.ts';
import { parseQuantity } from '../../../controller/api/quantity.ts';
import type { VmiSpec } from '../../../controller/api/schema.ts';

/** Test documents are free-form JSON that the rows mutate; the code under test types them. */
type Doc = any;

/** Valid: masquerade on the pod network with a port, bridge on a multus network, two disks. */
const BASE_VMI: Doc = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachineInstance',
  metadata: { name: 'vm1', namespace: 'demo' },
  spec: {
    domain: {
      devices: {
        disks: [{ name: 'root', disk: { bus: 'virtio' }, bootOrder: 1 }, { name: 'cloudinit', disk: { bus: 'virtio' } }],
        interfaces: [
          { name: 'default', masquerade: {}, ports: [{ name: 'http', port: 80 }] },
          { name: 'blue', bridge: {}, macAddress: '02:00:00:00:00:05' },
        ],
      },
      resources: { requests: { memory: '256Mi' } },
    },
    networks: [{ name: 'default', pod: {} }, { name: 'blue', multus: { networkName: 'blue-net' } }],
    volumes: [{ name: 'root', containerDisk: { image: 'quay.io/containerdisks/fedora:40' } }, { name: 'cloudinit', cloudInitNoCloud: { userData: '#cloud-config' } }],
  },
};

const BASE_VM: Doc = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name: 'vm1', namespace: 'demo' },
  spec: { runStrategy: 'Always', template: { metadata: { labels: { app: 'x' } }, spec: structuredClone(BASE_VMI.spec) } },
};

const NADS = new Set(['demo/blue-net', 'demo/red-net', 'infra/shared']);
const CTX: ValidationContext = { nadExists: (ns, name) => NADS.has(`${ns}/${name}`) };

function validate(doc: Doc, ctx: ValidationContext = CTX) {
  return validateManifests([{ source: 'vm.yaml#1', object: doc }], ctx);
}

const I = 'spec.domain.devices.interfaces';
const N = 'spec.networks';

interface Row {
  name: string;
  vm?: boolean;
  mutate: (doc: Doc) => void;
  /** Every problem expected, in order: [path, rule fragment]. */
  want: Array<[string, string]>;
}

const iface = (d: Doc, i: number) => d.spec.domain.devices.interfaces[i];
const dropPorts = (d: Doc) => { delete iface(d, 0).ports; };

const ROWS: Row[] = [
  // --- networks (KubeVirt admitter netsource.go, netiface.go) ---
  { name: 'two pod networks', mutate: (d) => { d.spec.networks.push({ name: 'second', pod: {} }); d.spec.domain.devices.interfaces.push({ name: 'second', bridge: {} }); }, want: [[`${N}[2].pod`, 'at most one pod network; spec.networks[0] is one already']] },
  { name: 'two multus defaults', mutate: (d) => { d.spec.networks[0] = { name: 'default', multus: { networkName: 'red-net', default: true } }; d.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {} }; d.spec.networks[1].multus.default = true; }, want: [[`${N}[1].multus.default`, 'at most one multus network can be the default']] },
  { name: 'pod network and a multus default', mutate: (d) => { d.spec.networks[1].multus.default = true; }, want: [[`${N}[1].multus.default`, 'replaces the pod network, so it cannot be used with spec.networks[0]']] },
  { name: 'a network without a source', mutate: (d) => { d.spec.networks[1] = { name: 'blue' }; }, want: [[`${N}[1]`, 'must have exactly one source']] },
  { name: 'a network with two sources', mutate: (d) => { d.spec.networks[0].multus = { networkName: 'red-net' }; dropPorts(d); }, want: [[`${N}[0]`, 'has 2 sources (pod, multus)']] },
  { name: 'a DRA resourceClaim network', mutate: (d) => { d.spec.networks[1] = { name: 'blue', resourceClaim: { claimName: 'c', requestName: 'r' } }; }, want: [[`${N}[1].resourceClaim`, 'resourceClaim (DRA) networks are not implemented by virtnet']] },
  { name: 'empty multus networkName', mutate: (d) => { d.spec.networks[1].multus.networkName = ''; }, want: [[`${N}[1].multus.networkName`, 'must not be empty']] },
  { name: 'networkName not a DNS label', mutate: (d) => { d.spec.networks[1].multus.networkName = 'Blue_Net'; }, want: [[`${N}[1].multus.networkName`, 'name part: "Blue_Net" must be a DNS-1123 label']] },
  { name: 'networkName with two slashes', mutate: (d) => { d.spec.networks[1].multus.networkName = 'a/b/c'; }, want: [[`${N}[1].multus.networkName`, 'must be "name" or "namespace/name"']] },
  { name: 'networkName with a bad namespace', mutate: (d) => { d.spec.networks[1].multus.networkName = 'In_Fra/shared'; }, want: [[`${N}[1].multus.networkName`, 'namespace part']] },
  { name: 'a NAD that does not exist', mutate: (d) => { d.spec.networks[1].multus.networkName = 'missing'; }, want: [[`${N}[1].multus.networkName`, 'NetworkAttachmentDefinition demo/missing not found']] },
  { name: 'a NAD missing in another namespace', mutate: (d) => { d.spec.networks[1].multus.networkName = 'infra/blue-net'; }, want: [[`${N}[1].multus.networkName`, 'NetworkAttachmentDefinition infra/blue-net not found']] },
  { name: 'duplicate network names', mutate: (d) => { d.spec.networks.push({ name: 'blue', multus: { networkName: 'red-net' } }); }, want: [[`${N}[2].name`, 'must be unique; also used by spec.networks[1]']] },
  { name: 'a network no interface uses', mutate: (d) => { d.spec.networks.push({ name: 'green', multus: { networkName: 'red-net' } }); }, want: [[`${N}[2].name`, 'no interface named "green"']] },
  { name: 'multus with vmNetworkCIDR (a pod field)', mutate: (d) => { d.spec.networks[1].multus.vmNetworkCIDR = '10.0.0.0/24'; }, want: [[`${N}[1].multus.vmNetworkCIDR`, 'belongs to a pod network']] },
  { name: 'vmNetworkCIDR not a CIDR', mutate: (d) => { d.spec.networks[0].pod.vmNetworkCIDR = '10.0.2.0'; }, want: [[`${N}[0].pod.vmNetworkCIDR`, '"10.0.2.0" is not an IPv4 CIDR']] },
  { name: 'vmNetworkCIDR IPv6', mutate: (d) => { d.spec.networks[0].pod.vmNetworkCIDR = 'fd00::/64'; }, want: [[`${N}[0].pod.vmNetworkCIDR`, 'is not an IPv4 CIDR']] },
  { name: 'vmNetworkCIDR /31', mutate: (d) => { d.spec.networks[0].pod.vmNetworkCIDR = '10.0.2.0/31'; }, want: [[`${N}[0].pod.vmNetworkCIDR`, '/31 is too small']] },
  { name: 'vmIPv6NetworkCIDR /127', mutate: (d) => { d.spec.networks[0].pod.vmIPv6NetworkCIDR = 'fd10::/127'; }, want: [[`${N}[0].pod.vmIPv6NetworkCIDR`, 'use /126 or shorter']] },
  { name: 'vmIPv6NetworkCIDR IPv4', mutate: (d) => { d.spec.networks[0].pod.vmIPv6NetworkCIDR = '10.0.2.0/24'; }, want: [[`${N}[0].pod.vmIPv6NetworkCIDR`, 'is not an IPv6 CIDR']] },

  // --- interfaces and bindings ---
  { name: 'an interface without a network', mutate: (d) => { d.spec.domain.devices.interfaces.push({ name: 'green', bridge: {} }); }, want: [[`${I}[2].name`, 'no network named "green" in spec.networks']] },
  { name: 'duplicate interface names', mutate: (d) => { d.spec.domain.devices.interfaces.push({ name: 'blue', bridge: {} }); }, want: [[`${I}[2].name`, 'must be unique; also used by spec.domain.devices.interfaces[1]']] },
  { name: 'interface name with a dot', mutate: (d) => { iface(d, 1).name = 'blue.net'; d.spec.networks[1].name = 'blue.net'; }, want: [[`${I}[1].name`, 'may contain only letters, digits, "-" and "_"']] },
  { name: 'no binding', mutate: (d) => { delete iface(d, 1).bridge; }, want: [[`${I}[1]`, 'must have exactly one binding (supported: bridge, masquerade)']] },
  { name: 'two bindings', mutate: (d) => { iface(d, 0).bridge = {}; }, want: [[`${I}[0]`, 'has 2 bindings (bridge, masquerade)']] },
  { name: 'sriov', mutate: (d) => { d.spec.domain.devices.interfaces[1] = { name: 'blue', sriov: {} }; }, want: [[`${I}[1].sriov`, 'binding sriov is not implemented by virtnet (supported: bridge, masquerade)']] },
  { name: 'slirp', mutate: (d) => { d.spec.domain.devices.interfaces[0] = { name: 'default', slirp: {} }; }, want: [[`${I}[0].slirp`, 'binding slirp is not implemented by virtnet (supported: bridge, masquerade); KubeVirt discontinued it in v1.3']] },
  { name: 'macvtap', mutate: (d) => { d.spec.domain.devices.interfaces[1] = { name: 'blue', macvtap: {} }; }, want: [[`${I}[1].macvtap`, 'binding macvtap is not implemented']] },
  { name: 'passt (legacy)', mutate: (d) => { d.spec.domain.devices.interfaces[0] = { name: 'default', passt: {} }; }, want: [[`${I}[0].passt`, 'binding passt is not implemented']] },
  { name: 'passtBinding', mutate: (d) => { d.spec.domain.devices.interfaces[0] = { name: 'default', passtBinding: {} }; }, want: [[`${I}[0].passtBinding`, 'binding passtBinding is not implemented']] },
  { name: 'a binding plugin', mutate: (d) => { d.spec.domain.devices.interfaces[1] = { name: 'blue', binding: { name: 'l2bridge' } }; }, want: [[`${I}[1].binding`, 'binding plugin "l2bridge" is not implemented by virtnet']] },
  { name: 'masquerade on a multus network', mutate: (d) => { d.spec.domain.devices.interfaces[1] = { name: 'blue', masquerade: {} }; }, want: [[`${I}[1].masquerade`, 'works only on the pod network; network "blue" is multus']] },
  { name: 'unknown model', mutate: (d) => { iface(d, 1).model = 'virtio-net'; }, want: [[`${I}[1].model`, 'must be one of "virtio", "e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139"']] },
  { name: 'model in the wrong case', mutate: (d) => { iface(d, 1).model = 'E1000'; }, want: [[`${I}[1].model`, 'must be one of']] },
  { name: 'MAC with 5 octets', mutate: (d) => { iface(d, 1).macAddress = '02:00:00:00:05'; }, want: [[`${I}[1].macAddress`, 'is not a MAC address']] },
  { name: 'MAC with mixed separators', mutate: (d) => { iface(d, 1).macAddress = '02:00-00:00:00:05'; }, want: [[`${I}[1].macAddress`, 'is not a MAC address']] },
  { name: 'MAC with 8 octets (Go parses it, KubeVirt rejects it)', mutate: (d) => { iface(d, 1).macAddress = '02:00:00:00:00:00:00:05'; }, want: [[`${I}[1].macAddress`, 'is not a MAC address']] },
  { name: 'multicast MAC', mutate: (d) => { iface(d, 1).macAddress = '01:00:5e:00:00:01'; }, want: [[`${I}[1].macAddress`, 'is a multicast address']] },
  { name: 'all-zero MAC', mutate: (d) => { iface(d, 1).macAddress = '00:00:00:00:00:00'; }, want: [[`${I}[1].macAddress`, 'must not be all zeros']] },
  { name: 'masquerade with the reserved MAC', mutate: (d) => { iface(d, 0).macAddress = '02:00:00:00:00:00'; }, want: [[`${I}[0].macAddress`, 'reserved for the masquerade binding']] },
  { name: 'the same MAC twice (different spelling)', mutate: (d) => { iface(d, 0).macAddress = '02-00-00-00-00-05'; }, want: [[`${I}[1].macAddress`, 'must be unique; also used by spec.domain.devices.interfaces[0]']] },
  { name: 'PCI address without function', mutate: (d) => { iface(d, 1).pciAddress = '0000:81:00'; }, want: [[`${I}[1].pciAddress`, 'is not a PCI address DDDD:BB:SS.F']] },
  { name: 'PCI slot above 1f', mutate: (d) => { iface(d, 1).pciAddress = '0000:00:20.0'; }, want: [[`${I}[1].pciAddress`, 'slot at most 1f']] },
  { name: 'PCI function 8', mutate: (d) => { iface(d, 1).pciAddress = '0000:00:05.8'; }, want: [[`${I}[1].pciAddress`, 'function 0-7']] },
  { name: 'PCI domain of 2 digits', mutate: (d) => { iface(d, 1).pciAddress = '00:00:05.0'; }, want: [[`${I}[1].pciAddress`, 'is not a PCI address']] },
  { name: 'unknown state', mutate: (d) => { iface(d, 1).state = 'off'; }, want: [[`${I}[1].state`, 'must be one of "", "up", "down", "absent"']] },
  { name: 'absent with masquerade on the pod network', mutate: (d) => { iface(d, 0).state = 'absent'; }, want: [[`${I}[0].state`, 'works only with the bridge binding'], [`${I}[0].state`, 'not allowed on the default (pod) network']] },
  { name: 'absent with bridge on the pod network', mutate: (d) => { d.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {}, state: 'absent' }; }, want: [[`${I}[0].state`, 'absent is not allowed on the default (pod) network']] },
  { name: 'absent on a multus default network', mutate: (d) => { d.spec.networks[0] = { name: 'default', multus: { networkName: 'red-net', default: true } }; d.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {}, state: 'absent' }; }, want: [[`${I}[0].state`, 'not allowed on the default']] },
  { name: 'bootOrder 0', mutate: (d) => { iface(d, 1).bootOrder = 0; }, want: [[`${I}[1].bootOrder`, 'must be greater than 0']] },
  { name: 'bootOrder shared with a disk', mutate: (d) => { iface(d, 1).bootOrder = 1; }, want: [[`${I}[1].bootOrder`, 'must be unique; also used by spec.domain.devices.disks[0].bootOrder']] },
  { name: 'acpiIndex 0', mutate: (d) => { iface(d, 1).acpiIndex = 0; }, want: [[`${I}[1].acpiIndex`, 'must be in 1-16383']] },
  { name: 'acpiIndex 16384', mutate: (d) => { iface(d, 1).acpiIndex = 16384; }, want: [[`${I}[1].acpiIndex`, 'must be in 1-16383 (is 16384)']] },
  { name: 'acpiIndex twice', mutate: (d) => { iface(d, 0).acpiIndex = 3; iface(d, 1).acpiIndex = 3; }, want: [[`${I}[1].acpiIndex`, 'must be unique; also used by spec.domain.devices.interfaces[0]']] },
  { name: 'mtu 67', mutate: (d) => { iface(d, 1).mtu = 67; }, want: [[`${I}[1].mtu`, 'must be in 68-65535']] },
  { name: 'mtu 65536', mutate: (d) => { iface(d, 1).mtu = 65536; }, want: [[`${I}[1].mtu`, 'must be in 68-65535']] },
  { name: 'mtu below 1280 on an IPv6 pod network', mutate: (d) => { d.spec.networks[0].pod.vmIPv6NetworkCIDR = 'fd10:0:2::/120'; iface(d, 0).mtu = 1200; }, want: [[`${I}[0].mtu`, 'must be at least 1280: the pod network carries IPv6']] },
  { name: 'unknown interface field (typo)', mutate: (d) => { iface(d, 1).macAdress = '02:00:00:00:00:06'; }, want: [[`${I}[1].macAdress`, 'unknown field "macAdress"']] },
  { name: 'interface without a name', mutate: (d) => { delete iface(d, 1).name; }, want: [[`${I}[1].name`, 'is required']] },
  { name: 'interfaces not a list', mutate: (d) => { d.spec.domain.devices.interfaces = { name: 'default' }; }, want: [[I, 'must be a list']] },

  // --- ports and port ranges ---
  { name: 'ports on a multus network', mutate: (d) => { iface(d, 1).ports = [{ port: 80 }]; }, want: [[`${I}[1].ports`, 'ports apply only to the pod network; network "blue" is multus (blue-net)']] },
  { name: 'port name in upper case', mutate: (d) => { iface(d, 0).ports[0].name = 'HTTP'; }, want: [[`${I}[0].ports[0].name`, 'must be an IANA_SVC_NAME']] },
  { name: 'port name of 16 characters', mutate: (d) => { iface(d, 0).ports[0].name = 'abcdefghijklmnop'; }, want: [[`${I}[0].ports[0].name`, 'longer than 15 characters']] },
  { name: 'port name without a letter', mutate: (d) => { iface(d, 0).ports[0].name = '8080'; }, want: [[`${I}[0].ports[0].name`, 'at least one letter']] },
  { name: 'port name with a leading dash', mutate: (d) => { iface(d, 0).ports[0].name = '-http'; }, want: [[`${I}[0].ports[0].name`, 'IANA_SVC_NAME']] },
  { name: 'port name with a double dash', mutate: (d) => { iface(d, 0).ports[0].name = 'ht--tp'; }, want: [[`${I}[0].ports[0].name`, 'IANA_SVC_NAME']] },
  { name: 'duplicate port names', mutate: (d) => { iface(d, 0).ports.push({ name: 'http', port: 81 }); }, want: [[`${I}[0].ports[1].name`, 'must be unique; also used by spec.domain.devices.interfaces[0].ports[0]']] },
  { name: 'port 0', mutate: (d) => { iface(d, 0).ports[0].port = 0; }, want: [[`${I}[0].ports[0].port`, 'is required']] },
  { name: 'port 65536', mutate: (d) => { iface(d, 0).ports[0].port = 65536; }, want: [[`${I}[0].ports[0].port`, 'must be in 1-65535 (is 65536)']] },
  { name: 'port -1', mutate: (d) => { iface(d, 0).ports[0].port = -1; }, want: [[`${I}[0].ports[0].port`, 'must be in 1-65535']] },
  { name: 'port 80.5', mutate: (d) => { iface(d, 0).ports[0].port = 80.5; }, want: [[`${I}[0].ports[0].port`, 'must be an integer']] },
  { name: 'port as a string', mutate: (d) => { iface(d, 0).ports[0].port = '80'; }, want: [[`${I}[0].ports[0].port`, 'must be an integer, not "80"']] },
  { name: 'protocol in lower case', mutate: (d) => { iface(d, 0).ports[0].protocol = 'tcp'; }, want: [[`${I}[0].ports[0].protocol`, 'must be one of "", "TCP", "UDP" (is "tcp")']] },
  { name: 'protocol SCTP', mutate: (d) => { iface(d, 0).ports[0].protocol = 'SCTP'; }, want: [[`${I}[0].ports[0].protocol`, 'must be one of']] },
  { name: 'the same port+protocol twice ("" is TCP)', mutate: (d) => { iface(d, 0).ports.push({ port: 80, protocol: 'TCP' }); }, want: [[`${I}[0].ports[1]`, '80/TCP is already forwarded by spec.domain.devices.interfaces[0].ports[0]']] },
  { name: 'portRanges together with ports', mutate: (d) => { iface(d, 0).portRanges = [{ protocol: 'TCP', start: 8000, end: 8010 }]; }, want: [[`${I}[0].portRanges`, 'cannot be used together with ports']] },
  { name: 'portRanges on a bridge interface', mutate: (d) => { iface(d, 1).portRanges = [{ protocol: 'TCP', start: 8000, end: 8010 }]; }, want: [[`${I}[1].portRanges`, 'need the masquerade binding']] },
  { name: '11 port ranges', mutate: (d) => { dropPorts(d); iface(d, 0).portRanges = Array.from({ length: 11 }, (_, k) => ({ protocol: 'TCP', start: 1000 + k * 10, end: 1005 + k * 10 })); }, want: [[`${I}[0].portRanges`, 'at most 10 port ranges (has 11)']] },
  { name: 'port range without protocol', mutate: (d) => { dropPorts(d); iface(d, 0).portRanges = [{ start: 8000, end: 8010 }]; }, want: [[`${I}[0].portRanges[0].protocol`, 'is required (TCP or UDP)']] },
  { name: 'port range start > end', mutate: (d) => { dropPorts(d); iface(d, 0).portRanges = [{ protocol: 'UDP', start: 90, end: 80 }]; }, want: [[`${I}[0].portRanges[0]`, 'start 90 is greater than end 80']] },
  { name: 'port range end 70000', mutate: (d) => { dropPorts(d); iface(d, 0).portRanges = [{ protocol: 'UDP', start: 90, end: 70000 }]; }, want: [[`${I}[0].portRanges[0].end`, 'must be in 1-65535']] },
  { name: 'port range start 0', mutate: (d) => { dropPorts(d); iface(d, 0).portRanges = [{ protocol: 'UDP', start: 0, end: 10 }]; }, want: [[`${I}[0].portRanges[0].start`, 'must be in 1-65535']] },
  { name: 'overlapping port ranges', mutate: (d) => { dropPorts(d); iface(d, 0).portRanges = [{ protocol: 'TCP', start: 8000, end: 8010 }, { protocol: 'TCP', start: 8010, end: 8020 }]; }, want: [[`${I}[0].portRanges[1]`, 'overlaps spec.domain.devices.interfaces[0].portRanges[0] (TCP 8000-8010)']] },

  // --- DHCP options ---
  { name: 'private option 223', mutate: (d) => { iface(d, 1).dhcpOptions = { privateOptions: [{ option: 223, value: 'x' }] }; }, want: [[`${I}[1].dhcpOptions.privateOptions[0].option`, 'must be in 224-254']] },
  { name: 'private option 255', mutate: (d) => { iface(d, 1).dhcpOptions = { privateOptions: [{ option: 255, value: 'x' }] }; }, want: [[`${I}[1].dhcpOptions.privateOptions[0].option`, 'must be in 224-254']] },
  { name: 'private option twice', mutate: (d) => { iface(d, 1).dhcpOptions = { privateOptions: [{ option: 240, value: 'a' }, { option: 240, value: 'b' }] }; }, want: [[`${I}[1].dhcpOptions.privateOptions[1].option`, 'must be unique; also used by spec.domain.devices.interfaces[1].dhcpOptions.privateOptions[0]']] },
  { name: 'IPv6 NTP server', mutate: (d) => { iface(d, 1).dhcpOptions = { ntpServers: ['192.0.2.1', '2001:db8::1'] }; }, want: [[`${I}[1].dhcpOptions.ntpServers[1]`, 'is not an IPv4 address']] },
  { name: 'bootFileName with a newline (config injection)', mutate: (d) => { iface(d, 1).dhcpOptions = { bootFileName: 'pxe.efi\ndhcp-range=0.0.0.0' }; }, want: [[`${I}[1].dhcpOptions.bootFileName`, 'must not contain control characters']] },
  { name: 'private option value over 255 bytes', mutate: (d) => { iface(d, 1).dhcpOptions = { privateOptions: [{ option: 240, value: 'x'.repeat(256) }] }; }, want: [[`${I}[1].dhcpOptions.privateOptions[0].value`, 'at most 255 bytes']] },

  // --- names and DNS ---
  { name: 'hostname not a DNS label', mutate: (d) => { d.spec.hostname = 'my_host'; }, want: [['spec.hostname', 'must be a DNS-1123 label']] },
  { name: 'hostname with a dot', mutate: (d) => { d.spec.hostname = 'a.b'; }, want: [['spec.hostname', 'DNS-1123 label']] },
  { name: 'subdomain with an empty label', mutate: (d) => { d.spec.subdomain = 'a..b'; }, want: [['spec.subdomain', 'must be a DNS-1123 subdomain']] },
  { name: 'name of 64 characters', mutate: (d) => { d.metadata.name = 'a'.repeat(64); }, want: [['metadata.name', 'at most 63 characters']] },
  { name: 'name in upper case', mutate: (d) => { d.metadata.name = 'VM1'; }, want: [['metadata.name', 'DNS-1123 subdomain']] },
  { name: 'namespace with a dot', mutate: (d) => { d.metadata.namespace = 'demo.x'; }, want: [['metadata.namespace', 'DNS-1123 label']] },
  { name: 'no name', mutate: (d) => { delete d.metadata.name; }, want: [['metadata.name', 'is required']] },
  { name: 'search domain with an underscore', mutate: (d) => { d.spec.dnsConfig = { searches: ['ok.example.', 'bad_domain'] }; }, want: [['spec.dnsConfig.searches[1]', 'DNS-1123 subdomain']] },
  { name: '33 search domains', mutate: (d) => { d.spec.dnsConfig = { searches: Array.from({ length: 33 }, (_, k) => `d${k}.example`) }; }, want: [['spec.dnsConfig.searches', 'at most 32 search domains']] },
  { name: 'search list over 2048 characters', mutate: (d) => { const long = Array.from({ length: 4 }, () => 'a'.repeat(60)).join('.'); d.spec.dnsConfig = { searches: Array.from({ length: 9 }, () => long) }; }, want: [['spec.dnsConfig.searches', 'at most 2048']] },
  { name: 'nameserver not an address', mutate: (d) => { d.spec.dnsConfig = { nameservers: ['dns.example'] }; }, want: [['spec.dnsConfig.nameservers[0]', 'is not an IP address']] },
  { name: 'four nameservers', mutate: (d) => { d.spec.dnsConfig = { nameservers: ['192.0.2.1', '192.0.2.2', '192.0.2.3', '2001:db8::1'] }; }, want: [['spec.dnsConfig.nameservers', 'at most 3 nameservers']] },
  { name: 'dnsPolicy None without nameservers', mutate: (d) => { d.spec.dnsPolicy = 'None'; }, want: [['spec.dnsConfig.nameservers', 'dnsPolicy None needs at least one nameserver']] },
  { name: 'unknown dnsPolicy', mutate: (d) => { d.spec.dnsPolicy = 'Cluster'; }, want: [['spec.dnsPolicy', 'must be one of']] },

  // --- resources, disks, kernel boot ---
  { name: 'memory not a quantity', mutate: (d) => { d.spec.domain.resources.requests.memory = '1 GB'; }, want: [['spec.domain.resources.requests.memory', 'is not a Kubernetes quantity']] },
  { name: 'memory below 1Mi', mutate: (d) => { d.spec.domain.resources.requests.memory = '512Ki'; }, want: [['spec.domain.resources.requests.memory', 'must be at least 1Mi']] },
  { name: 'memory a boolean', mutate: (d) => { d.spec.domain.resources.requests.memory = true; }, want: [['spec.domain.resources.requests.memory', 'must be a string or a number']] },
  { name: 'guest memory above the limit', mutate: (d) => { d.spec.domain.memory = { guest: '2Gi' }; d.spec.domain.resources.limits = { memory: '1Gi' }; }, want: [['spec.domain.memory.guest', 'must not exceed domain.resources.limits.memory (1Gi)']] },
  { name: 'cpu request 0', mutate: (d) => { d.spec.domain.resources.requests.cpu = '0'; }, want: [['spec.domain.resources.requests.cpu', 'must be greater than 0']] },
  { name: 'cpu cores 0', mutate: (d) => { d.spec.domain.cpu = { cores: 0 }; }, want: [['spec.domain.cpu.cores', 'must be at least 1']] },
  { name: 'a disk without a volume', mutate: (d) => { d.spec.domain.devices.disks[1].name = 'missing'; }, want: [['spec.domain.devices.disks[1].name', 'no volume named "missing"']] },
  { name: 'two volumes of one name', mutate: (d) => { d.spec.volumes.push({ name: 'root', emptyDisk: { capacity: '1Gi' } }); }, want: [['spec.volumes[2].name', 'must be unique; also used by spec.volumes[0]']] },
  { name: 'host kernel with a relative path', mutate: (d) => { d.spec.domain.firmware = { kernelBoot: { host: { kernelPath: 'boot/vmlinuz' } } }; }, want: [['spec.domain.firmware.kernelBoot.host.kernelPath', 'must be an absolute, normalised path']] },
  { name: 'host and container kernels', mutate: (d) => { d.spec.domain.firmware = { kernelBoot: { host: { kernelPath: '/boot/vmlinuz' }, container: { image: 'x', kernelPath: '/boot/vmlinuz' } } }; }, want: [['spec.domain.firmware.kernelBoot.host', 'cannot be used together with container']] },
  { name: 'kernelArgs without a kernel', mutate: (d) => { d.spec.domain.firmware = { kernelBoot: { kernelArgs: 'console=ttyS0' } }; }, want: [['spec.domain.firmware.kernelBoot.kernelArgs', 'need a kernel']] },
  { name: 'container kernel without paths', mutate: (d) => { d.spec.domain.firmware = { kernelBoot: { container: { image: 'x' } } }; }, want: [['spec.domain.firmware.kernelBoot.container', 'needs kernelPath, initrdPath or both']] },
  { name: 'host kernel with an unknown key', mutate: (d) => { d.spec.domain.firmware = { kernelBoot: { host: { kernelPath: '/boot/vmlinuz', initrd: '/boot/initrd' } } }; }, want: [['spec.domain.firmware.kernelBoot.host.initrd', 'unknown field "initrd"']] },

  // --- kind, apiVersion ---
  { name: 'apiVersion kubevirt.io/v2', mutate: (d) => { d.apiVersion = 'kubevirt.io/v2'; }, want: [['apiVersion', '"kubevirt.io/v2" is not served for VirtualMachineInstance (supported: virtnet.io/v1alpha1, kubevirt.io/v1, kubevirt.io/v1alpha3']] },
  { name: 'no apiVersion', mutate: (d) => { delete d.apiVersion; }, want: [['apiVersion', 'is required']] },
  { name: 'an unsupported kind', mutate: (d) => { d.kind = 'VirtualMachinePool'; }, want: [['kind', 'unsupported kind "VirtualMachinePool" (supported: VirtualMachineInstance, VirtualMachine, NetworkAttachmentDefinition)']] },

  // --- VirtualMachine ---
  { name: 'VM: running and runStrategy', vm: true, mutate: (d) => { d.spec.running = true; }, want: [['spec.running', 'mutually exclusive']] },
  { name: 'VM: neither running nor runStrategy', vm: true, mutate: (d) => { delete d.spec.runStrategy; }, want: [['spec', 'one of runStrategy']] },
  { name: 'VM: unknown runStrategy', vm: true, mutate: (d) => { d.spec.runStrategy = 'Sometimes'; }, want: [['spec.runStrategy', 'must be one of "Always", "RerunOnFailure", "Manual", "Halted", "Once", "WaitAsReceiver"']] },
  { name: 'VM: template in another namespace', vm: true, mutate: (d) => { d.spec.template.metadata.namespace = 'other'; }, want: [['spec.template.metadata.namespace', 'must be the VirtualMachine\'s namespace "demo"']] },
  { name: 'VM: no template spec', vm: true, mutate: (d) => { delete d.spec.template.spec; }, want: [['spec.template.spec', 'is required']] },
  { name: 'VM: a bad model in the template', vm: true, mutate: (d) => { d.spec.template.spec.domain.devices.interfaces[1].model = 'vmxnet3'; }, want: [['spec.template.spec.domain.devices.interfaces[1].model', 'must be one of']] },
  { name: 'VM: the template\'s NAD resolves in the VM\'s namespace', vm: true, mutate: (d) => { d.metadata.namespace = 'infra'; }, want: [['spec.template.spec.networks[1].multus.networkName', 'NetworkAttachmentDefinition infra/blue-net not found']] },
];

test('the base VMI and VM are valid (so every row fails by its own mutation)', () => {
  assert.deepEqual(validate(BASE_VMI).problems, []);
  assert.deepEqual(validate(BASE_VM).problems, []);
});

test('the table has at least 45 rows', () => assert.ok(ROWS.length >= 45, String(ROWS.length)));

for (const row of ROWS) {
  test(`rejects: ${row.name}`, () => {
    const doc = structuredClone(row.vm ? BASE_VM : BASE_VMI);
    row.mutate(doc);
    const { objects, problems } = validate(doc);
    assert.deepEqual(objects, [], 'an invalid object is not returned');
    const got = problems.map((p) => [p.path, p.rule]);
    assert.equal(problems.length, row.want.length, `expected ${row.want.length} problem(s), got:\n${formatProblems(problems)}`);
    row.want.forEach(([path, fragment], k) => {
      assert.equal(got[k]?.[0], path, formatProblems(problems));
      assert.ok(got[k]?.[1]?.includes(fragment), `"${got[k]?.[1]}" should contain "${fragment}"`);
    });
    for (const p of problems) assert.equal(p.source, 'vm.yaml#1');
  });
}

test('several problems in one spec come back together, each at its field', () => {
  const doc = structuredClone(BASE_VMI);
  doc.metadata.name = 'Bad_Name';
  doc.spec.hostname = 'bad_host';
  doc.spec.networks[0].pod.vmNetworkCIDR = '10.0.0.0/31';
  doc.spec.networks[1].multus.networkName = 'missing';
  iface(doc, 0).ports.push({ name: 'http', port: 0 });
  iface(doc, 1).macAddress = '03:00:00:00:00:01';
  iface(doc, 1).acpiIndex = 0;
  iface(doc, 1).dhcpOptions = { ntpServers: ['ntp.example'] };
  doc.spec.domain.resources.requests.memory = 'lots';
  const paths = validate(doc).problems.map((p: Problem) => p.path);
  assert.deepEqual(paths, [
    'metadata.name',
    'spec.networks[0].pod.vmNetworkCIDR',
    'spec.networks[1].multus.networkName',
    'spec.domain.devices.interfaces[0].ports[1].name',
    'spec.domain.devices.interfaces[0].ports[1].port',
    'spec.domain.devices.interfaces[1].macAddress',
    'spec.domain.devices.interfaces[1].acpiIndex',
    'spec.domain.devices.interfaces[1].dhcpOptions.ntpServers[0]',
    'spec.domain.resources.requests.memory',
    'spec.hostname',
  ]);
});

test('structure problems are reported all together, one per field, without anyOf noise', () => {
  const doc = structuredClone(BASE_VMI);
  iface(doc, 0).model = 'bad';
  iface(doc, 0).ports[0].port = 'eighty';
  iface(doc, 1).bogus = true;
  doc.spec.networks[1].multus.default = 'yes';
  doc.spec.domain.resources.requests.memory = [];
  const problems = validate(doc).problems;
  assert.deepEqual(problems.map((p) => p.path).sort(), [
    'spec.domain.devices.interfaces[0].model',
    'spec.domain.devices.interfaces[0].ports[0].port',
    'spec.domain.devices.interfaces[1].bogus',
    'spec.domain.resources.requests.memory',
    'spec.networks[1].multus.default',
  ]);
  assert.equal(problems.length, 5);
  assert.ok(problems.every((p) => !/union|anyOf|Expected/u.test(p.rule)), formatProblems(problems));
  assert.equal(problems.find((p) => p.path.endsWith('multus.default'))?.rule, 'must be true or false, not "yes"');
});

test('structure and rule problems of one spec come back together; a removed field raises no follow-on noise', () => {
  const doc = structuredClone(BASE_VMI);
  iface(doc, 0).ports[0].protocol = 'tcp'; // structure: the enum is upper-case
  iface(doc, 0).macAddress = '02:00:00:00:00:00'; // rule: reserved with masquerade
  doc.spec.hostname = 'no_good'; // rule: DNS label
  doc.spec.networks[0].pod = { vmNetworkCIDR: '10.0.2.0/31' }; // rule: too small
  const problems = validate(doc).problems;
  assert.deepEqual(problems.map((p) => p.path).sort(), [
    'spec.domain.devices.interfaces[0].macAddress',
    'spec.domain.devices.interfaces[0].ports[0].protocol',
    'spec.hostname',
    'spec.networks[0].pod.vmNetworkCIDR',
  ]);
  // A missing required field cannot be pruned into a valid copy: structure only.
  const noName = structuredClone(BASE_VMI);
  delete iface(noName, 0).name;
  noName.spec.hostname = 'no_good';
  assert.deepEqual(validate(noName).problems.map((p) => p.path), ['spec.domain.devices.interfaces[0].name']);
});

// ------------------------------------------------------------ valid specs

function valid(doc: Doc, ctx: ValidationContext = CTX) {
  const { objects, problems } = validate(doc, ctx);
  assert.deepEqual(problems, [], formatProblems(problems));
  assert.equal(objects.length, 1);
  return objects[0]!;
}

test('valid: bridge on the pod network; defaults filled (namespace, model), "" spellings dropped', () => {
  const out = valid({
    apiVersion: 'virtnet.io/v1alpha1', kind: 'VirtualMachineInstance', metadata: { name: 'plain' },
    spec: {
      domain: { devices: { interfaces: [{ name: 'default', bridge: {}, macAddress: '02-AB-00-00-00-01', pciAddress: '', state: '' }] }, firmware: { kernelBoot: { host: { kernelPath: '/var/lib/virtnet/vmlinuz', initrdPath: '/var/lib/virtnet/initrd.img' }, kernelArgs: 'console=ttyS0' } } },
      networks: [{ name: 'default', pod: {} }],
    },
  }, {});
  assert.equal(out.kind, 'VirtualMachineInstance');
  if (out.kind !== 'VirtualMachineInstance') return;
  assert.equal(out.object.apiVersion, 'virtnet.io/v1alpha1');
  assert.equal(out.object.metadata.namespace, 'default');
  assert.deepEqual(out.object.spec.domain.devices.interfaces, [{ name: 'default', bridge: {}, macAddress: '02:ab:00:00:00:01', model: 'virtio' }]);
});

test('valid: masquerade with ports and port ranges elsewhere; protocols default to TCP; the input is not modified', () => {
  const doc = structuredClone(BASE_VMI);
  iface(doc, 0).ports = [{ name: 'http', port: 80 }, { port: 80, protocol: 'UDP' }, { port: 443, protocol: '' }];
  const before = structuredClone(doc);
  const out = valid(doc);
  assert.deepEqual(doc, before);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.deepEqual(out.object.spec.domain.devices.interfaces?.[0], {
    name: 'default', masquerade: {}, model: 'virtio',
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 80, protocol: 'UDP' }, { port: 443, protocol: 'TCP' }],
  });
  const ranges = structuredClone(BASE_VMI);
  dropPorts(ranges);
  iface(ranges, 0).portRanges = [{ protocol: 'TCP', start: 8000, end: 8010 }, { protocol: 'UDP', start: 8000, end: 8010 }, { protocol: 'TCP', start: 8011, end: 8011 }];
  valid(ranges);
});

test('valid: dual-stack pod network with vmNetworkCIDR and vmIPv6NetworkCIDR, mtu 1280, DHCP options', () => {
  const doc = structuredClone(BASE_VMI);
  doc.spec.networks[0].pod = { vmNetworkCIDR: '10.11.12.0/30', vmIPv6NetworkCIDR: 'fd10:0:2::/126' };
  Object.assign(iface(doc, 0), { mtu: 1280, acpiIndex: 1, bootOrder: 2, pciAddress: '0000:00:1f.7' });
  iface(doc, 1).dhcpOptions = { bootFileName: 'pxelinux.0', tftpServerName: 'tftp.example', ntpServers: ['192.0.2.10'], privateOptions: [{ option: 224, value: 'a' }, { option: 254, value: 'b' }] };
  doc.spec.hostname = 'web-1';
  doc.spec.subdomain = 'lab.example';
  doc.spec.dnsPolicy = 'None';
  doc.spec.dnsConfig = { nameservers: ['192.0.2.53', '2001:db8::53'], searches: ['lab.example', 'example.'], options: [{ name: 'ndots', value: '2' }] };
  const out = valid(doc);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.deepEqual(out.object.spec.networks?.[0], { name: 'default', pod: { vmNetworkCIDR: '10.11.12.0/30', vmIPv6NetworkCIDR: 'fd10:0:2::/126' } });
});

test('valid: a multus secondary whose NAD exists (here, and as namespace/name elsewhere)', () => {
  const doc = structuredClone(BASE_VMI);
  doc.spec.networks.push({ name: 'shared', multus: { networkName: 'infra/shared' } });
  doc.spec.domain.devices.interfaces.push({ name: 'shared', bridge: {}, model: 'e1000e', state: 'down' });
  const out = valid(doc);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.deepEqual(out.object.spec.domain.devices.interfaces?.[1], { name: 'blue', bridge: {}, macAddress: '02:00:00:00:00:05', model: 'virtio' });
  assert.deepEqual(out.object.spec.domain.devices.interfaces?.[2], { name: 'shared', bridge: {}, model: 'e1000e', state: 'down' });
});

test('valid: absent (hot-unplug) on a bridge secondary; unknown fields outside interfaces/networks kept', () => {
  const doc = structuredClone(BASE_VMI);
  iface(doc, 1).state = 'absent';
  doc.spec.evictionStrategy = 'LiveMigrate';
  doc.spec.domain.devices.rng = {};
  const out = valid(doc);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.equal((out.object.spec as Record<string, unknown>).evictionStrategy, 'LiveMigrate');
});

test('valid VM: the template gets the VM namespace; status and nulls are dropped', () => {
  const doc = structuredClone(BASE_VM);
  doc.metadata.creationTimestamp = null;
  doc.status = { ready: true };
  const out = valid(doc);
  if (out.kind !== 'VirtualMachine') assert.fail(out.kind);
  assert.equal(out.object.spec.template.metadata?.namespace, 'demo');
  assert.deepEqual(out.object.spec.template.metadata?.labels, { app: 'x' });
  assert.equal(out.object.status, undefined);
  assert.equal('creationTimestamp' in out.object.metadata, false);
});

test('valid: no interfaces and no networks → the pod network with bridge; autoattachPodInterface false → none', () => {
  const doc = structuredClone(BASE_VMI);
  delete doc.spec.networks;
  delete doc.spec.domain.devices.interfaces;
  const out = valid(doc);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.deepEqual(out.object.spec.networks, [{ name: 'default', pod: {} }]);
  doc.spec.domain.devices.autoattachPodInterface = false;
  const none = valid(doc);
  if (none.kind !== 'VirtualMachineInstance') assert.fail(none.kind);
  assert.equal(none.object.spec.networks, undefined);
  assert.equal(none.object.spec.domain.devices.interfaces, undefined);
});

// ------------------------------------------------------------ batches

const NAD_YAML = `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: blue-net, namespace: demo}
spec: {config: '{"cniVersion":"1.0.0","name":"blue","type":"virtnet-bridge"}'}
`;

test('batch: a NAD in the batch counts as existing (combined with the context)', () => {
  const vmi = JSON.stringify(BASE_VMI);
  const { manifests, problems } = parseManifests(`${NAD_YAML}---\n${vmi}\n`, 'b.yaml');
  assert.deepEqual(problems, []);
  const res = validateManifests(manifests, { nadExists: () => false });
  assert.deepEqual(res.problems, []);
  assert.deepEqual(res.objects.map((o) => o.kind), ['NetworkAttachmentDefinition', 'VirtualMachineInstance']);
  const without = validateManifests(manifests.slice(1), { nadExists: () => false });
  assert.deepEqual(without.problems.map((p) => `${p.source} ${p.path}`), ['b.yaml#2 spec.networks[1].multus.networkName']);
});

test('batch: name clashes (same kind; a VM and a VMI of one name); the first keeps the name', () => {
  const vmi2 = structuredClone(BASE_VMI);
  const vm = structuredClone(BASE_VM);
  const other = structuredClone(BASE_VMI);
  other.metadata.namespace = 'other';
  other.spec.networks[1].multus.networkName = 'demo/blue-net';
  const res = validateManifests([
    { source: 'a.yaml#1', object: BASE_VMI }, { source: 'a.yaml#2', object: vmi2 }, { source: 'a.yaml#3', object: vm }, { source: 'a.yaml#4', object: other },
  ], CTX);
  assert.deepEqual(res.problems.map((p) => [p.source, p.path]), [['a.yaml#2', 'metadata.name'], ['a.yaml#3', 'metadata.name']]);
  assert.match(res.problems[0]!.rule, /^name clash: VirtualMachineInstance demo\/vm1 is already defined by a\.yaml#1$/u);
  assert.match(res.problems[1]!.rule, /VirtualMachine demo\/vm1 is already defined by a\.yaml#1 as a VirtualMachineInstance/u);
  assert.deepEqual(res.objects.map((o) => o.object.metadata.namespace), ['demo', 'other']);
});

test('batch: a namespace defaulted to "default" clashes with an explicit "default"', () => {
  const a = structuredClone(BASE_VMI);
  delete a.metadata.namespace;
  const b = structuredClone(BASE_VMI);
  b.metadata.namespace = 'default';
  const res = validateManifests([{ source: 'x#1', object: a }, { source: 'x#2', object: b }], {});
  assert.deepEqual(res.problems.map((p) => [p.source, p.path]), [['x#2', 'metadata.name']]);
});

test('batch: an invalid NAD is a problem from netattach\'s validateNad; a non-object document too', () => {
  const res = validateManifests([
    { source: 'n#1', object: { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'Bad_Name' } } },
    { source: 'n#2', object: 'just a string' },
    { source: 'n#3', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } } },
  ]);
  assert.deepEqual(res.objects, []);
  assert.deepEqual(res.problems.map((p) => [p.source, p.path]), [['n#1', 'metadata.name'], ['n#2', '(root)'], ['n#3', 'kind']]);
  assert.match(res.problems[0]!.rule, /DNS-1123 label/u);
});

test('parse: YAML syntax errors carry line:col; empty documents are skipped but counted; Lists are expanded', () => {
  const text = `---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- ${JSON.stringify(BASE_VMI)}\n---\nkind: x\n\tbad: 1\n`;
  const { manifests, problems } = parseManifests(text, 'f.yaml');
  assert.deepEqual(manifests.map((m) => m.source), ['f.yaml#2.items[0]']);
  assert.deepEqual(problems, [{ source: 'f.yaml#3', path: '', rule: 'YAML syntax error at line 10:1: Tabs are not allowed as indentation' }]);
  assert.deepEqual(validateManifests(manifests, CTX).problems, []);
});

test('parse: duplicate keys are a YAML error; JSON documents parse', () => {
  const dup = parseManifests('a: 1\na: 2\n', 'd.yaml');
  assert.equal(dup.manifests.length, 0);
  assert.match(dup.problems[0]!.rule, /line 2:1: .*unique/iu);
  const json = parseManifests(JSON.stringify(BASE_VM, null, 2), 'vm.json');
  assert.deepEqual(json.problems, []);
  assert.deepEqual(validateManifests(json.manifests, CTX).problems, []);
});

test('formatProblems: one line each, source: path: rule', () => {
  assert.equal(formatProblems([
    { source: 'vm.yaml#2', path: 'spec.hostname', rule: 'must be a DNS-1123 label' },
    { source: 'vm.yaml#3', path: '', rule: 'YAML syntax error at line 1:1: x' },
    { path: 'kind', rule: 'is required' },
  ]), 'vm.yaml#2: spec.hostname: must be a DNS-1123 label\nvm.yaml#3: YAML syntax error at line 1:1: x\nkind: is required');
});

// ------------------------------------------------------------ quantities

test('parseQuantity: binary and decimal suffixes, exponents, milli-cores; malformed ones undefined', () => {
  const cases: Array<[string | number, number]> = [
    ['64Mi', 64 * 2 ** 20], ['1Gi', 2 ** 30], ['1G', 1e9], ['512M', 512e6], ['1024Ki', 2 ** 20], ['1048576', 2 ** 20],
    ['100m', 0.1], ['2', 2], [2, 2], ['1.5Gi', 1.5 * 2 ** 30], ['.5', 0.5], ['1e3', 1000], ['1E', 1e18], ['+1Ki', 1024], ['-1', -1],
  ];
  for (const [q, v] of cases) assert.equal(parseQuantity(q), v, String(q));
  for (const q of ['', 'Mi', '1 Gi', ' 1Gi', '1gi', '1MiB', '1.2.3', '0x10', 'lots', Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.equal(parseQuantity(q), undefined, String(q));
  }
});

test('memoryMiB: guest, else request, else limit, rounded up; 128 by default', () => {
  const spec = (domain: object) => ({ domain: { devices: {}, ...domain } }) as VmiSpec;
  assert.equal(memoryMiB(spec({})), 128);
  assert.equal(memoryMiB(spec({ resources: { limits: { memory: '2Gi' } } })), 2048);
  assert.equal(memoryMiB(spec({ resources: { requests: { memory: '1024M' }, limits: { memory: '2Gi' } } })), 977);
  assert.equal(memoryMiB(spec({ memory: { guest: '512Mi' }, resources: { requests: { memory: '1Gi' } } })), 512);
  assert.equal(memoryMiB(spec({ memory: { guest: 268435456 } })), 256);
});

test('cpuCount: topology product, else the limit, else the request (rounded up); 1 by default', () => {
  const spec = (domain: object) => ({ domain: { devices: {}, ...domain } }) as VmiSpec;
  assert.equal(cpuCount(spec({})), 1);
  assert.equal(cpuCount(spec({ cpu: { cores: 2, sockets: 2 } })), 4);
  assert.equal(cpuCount(spec({ cpu: { threads: 2 }, resources: { requests: { cpu: 8 } } })), 2);
  assert.equal(cpuCount(spec({ cpu: {}, resources: { requests: { cpu: '100m' } } })), 1);
  assert.equal(cpuCount(spec({ resources: { requests: { cpu: '2500m' } } })), 3);
  assert.equal(cpuCount(spec({ resources: { requests: { cpu: '1' }, limits: { cpu: '4' } } })), 4);
});

test('masquerade VM subnets must stay clear of the pod network and the service CIDRs, defaults included', () => {
  const ctx: ValidationContext = { ...CTX, reservedCidrs: [{ cidr: '10.244.0.0/16', what: 'the pod network' }, { cidr: '10.96.0.0/12', what: 'the service CIDR' }] };
  const v6ctx: ValidationContext = { ...CTX, reservedCidrs: [{ cidr: 'fd10::/32', what: 'the pod network' }] };
  const at = (pod: Record<string, string>, c = ctx) => {
    const doc = structuredClone(BASE_VMI);
    doc.spec.networks[0].pod = pod;
    return validate(doc, c).problems.map((p) => `${p.path}: ${p.rule}`);
  };
  assert.deepEqual(at({ vmNetworkCIDR: '10.244.7.0/24' }), ['spec.networks[0].pod.vmNetworkCIDR: 10.244.7.0/24 overlaps the pod network 10.244.0.0/16; choose a subnet outside it']);
  assert.deepEqual(at({ vmNetworkCIDR: '10.0.0.0/8' }), ['spec.networks[0].pod.vmNetworkCIDR: 10.0.0.0/8 overlaps the pod network 10.244.0.0/16; choose a subnet outside it']);
  assert.deepEqual(at({ vmNetworkCIDR: '10.100.1.0/24' }), ['spec.networks[0].pod.vmNetworkCIDR: 10.100.1.0/24 overlaps the service CIDR 10.96.0.0/12; choose a subnet outside it']);
  // The IPv6 default fd10:0:2::/120 lies inside fd10::/32.
  assert.deepEqual(at({}, v6ctx), ['spec.networks[0].pod.vmIPv6NetworkCIDR: fd10:0:2::/120 (the default) overlaps the pod network fd10::/32; choose a subnet outside it']);
  assert.deepEqual(at({ vmNetworkCIDR: '192.168.77.0/24', vmIPv6NetworkCIDR: 'fd20::/120' }, { ...CTX, reservedCidrs: [...ctx.reservedCidrs!, ...v6ctx.reservedCidrs!] }), []);
  // A bridge-bound pod network routes nothing between the subnets: no overlap rule.
  const bridged = structuredClone(BASE_VMI);
  bridged.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {} };
  bridged.spec.networks[0].pod = { vmNetworkCIDR: '10.244.7.0/24' };
  assert.deepEqual(validate(bridged, ctx).problems, []);
});
