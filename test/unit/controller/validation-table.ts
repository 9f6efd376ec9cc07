/**
 * The admission table: a valid base VMI and VM, and invalid specs, each one
 * small mutation of a base expecting exactly the problems listed (the field
 * path and a fragment of the rule). Shared by the validation tests and the
 * admission webhook's, which must reject every row the same way.
 */
import type { ValidationContext } from '../../../controller/api/manifests.ts';

/** Test documents are free-form JSON that the rows mutate; the code under test types them. */
export type Doc = any;

/** Valid: masquerade on the pod network with a port, bridge on a multus network, two disks. */
export const BASE_VMI: Doc = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachineInstance',
  metadata: { name: 'vm1', namespace: 'demo' },
  spec: {
    domain: {
      devices: {
        disks: [
          { name: 'root', disk: { bus: 'virtio' }, bootOrder: 1 },
          { name: 'cloudinit', disk: { bus: 'virtio' } },
        ],
        interfaces: [
          { name: 'default', masquerade: {}, ports: [{ name: 'http', port: 80 }] },
          { name: 'blue', bridge: {}, macAddress: '02:00:00:00:00:05' },
        ],
      },
      resources: { requests: { memory: '256Mi' } },
    },
    networks: [
      { name: 'default', pod: {} },
      { name: 'blue', multus: { networkName: 'blue-net' } },
    ],
    volumes: [
      { name: 'root', containerDisk: { image: 'quay.io/containerdisks/fedora:40' } },
      { name: 'cloudinit', cloudInitNoCloud: { userData: '#cloud-config' } },
    ],
  },
};

export const BASE_VM: Doc = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name: 'vm1', namespace: 'demo' },
  spec: {
    runStrategy: 'Always',
    template: { metadata: { labels: { app: 'x' } }, spec: structuredClone(BASE_VMI.spec) },
  },
};

export const NADS = new Set(['demo/blue-net', 'demo/red-net', 'infra/shared']);
export const CTX: ValidationContext = { nadExists: (ns, name) => NADS.has(`${ns}/${name}`) };

const I = 'spec.domain.devices.interfaces';
const N = 'spec.networks';

export interface Row {
  name: string;
  vm?: boolean;
  mutate: (doc: Doc) => void;
  /** Every problem expected, in order: [path, rule fragment]. */
  want: Array<[string, string]>;
}

export const iface = (d: Doc, i: number) => d.spec.domain.devices.interfaces[i];
export const dropPorts = (d: Doc) => {
  delete iface(d, 0).ports;
};

export const ROWS: Row[] = [
  // --- networks (KubeVirt admitter netsource.go, netiface.go) ---
  {
    name: 'two pod networks',
    mutate: (d) => {
      d.spec.networks.push({ name: 'second', pod: {} });
      d.spec.domain.devices.interfaces.push({ name: 'second', bridge: {} });
    },
    want: [[`${N}[2].pod`, 'at most one pod network; spec.networks[0] is one already']],
  },
  {
    name: 'two multus defaults',
    mutate: (d) => {
      d.spec.networks[0] = { name: 'default', multus: { networkName: 'red-net', default: true } };
      d.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {} };
      d.spec.networks[1].multus.default = true;
    },
    want: [[`${N}[1].multus.default`, 'at most one multus network can be the default']],
  },
  {
    name: 'pod network and a multus default',
    mutate: (d) => {
      d.spec.networks[1].multus.default = true;
    },
    want: [[`${N}[1].multus.default`, 'replaces the pod network, so it cannot be used with spec.networks[0]']],
  },
  {
    name: 'a network without a source',
    mutate: (d) => {
      d.spec.networks[1] = { name: 'blue' };
    },
    want: [[`${N}[1]`, 'must have exactly one source']],
  },
  {
    name: 'a network with two sources',
    mutate: (d) => {
      d.spec.networks[0].multus = { networkName: 'red-net' };
      dropPorts(d);
    },
    want: [[`${N}[0]`, 'has 2 sources (pod, multus)']],
  },
  {
    name: 'a DRA resourceClaim network',
    mutate: (d) => {
      d.spec.networks[1] = { name: 'blue', resourceClaim: { claimName: 'c', requestName: 'r' } };
    },
    want: [[`${N}[1].resourceClaim`, 'resourceClaim (DRA) networks are not implemented by virtnet']],
  },
  {
    name: 'a multus static address without a prefix',
    mutate: (d) => {
      d.spec.networks[1].multus.ips = ['192.168.77.1'];
    },
    want: [[`${N}[1].multus.ips[0]`, '"192.168.77.1" is not an address with its prefix']],
  },
  {
    name: 'a multus static address that is the network',
    mutate: (d) => {
      d.spec.networks[1].multus.ips = ['192.168.77.0/24'];
    },
    want: [[`${N}[1].multus.ips[0]`, "is the subnet's network address"]],
  },
  {
    name: 'a multus static address twice',
    mutate: (d) => {
      d.spec.networks[1].multus.ips = ['192.168.77.1/24', '192.168.77.1/25'];
    },
    want: [[`${N}[1].multus.ips[1]`, 'is listed twice']],
  },
  {
    name: 'static addresses on a multus default',
    mutate: (d) => {
      d.spec.networks[0] = { name: 'default', multus: { networkName: 'red-net', default: true, ips: ['10.1.0.5/24'] } };
      d.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {} };
    },
    want: [[`${N}[0].multus.ips`, 'apply only to secondary networks']],
  },
  {
    name: 'a hostile multus static address',
    mutate: (d) => {
      d.spec.networks[1].multus.ips = ['10.0.0.1/24\n--dhcp-script=/x'];
    },
    want: [[`${N}[1].multus.ips[0]`, 'is not an address with its prefix']],
  },
  {
    name: 'empty multus networkName',
    mutate: (d) => {
      d.spec.networks[1].multus.networkName = '';
    },
    want: [[`${N}[1].multus.networkName`, 'must not be empty']],
  },
  {
    name: 'networkName not a DNS label',
    mutate: (d) => {
      d.spec.networks[1].multus.networkName = 'Blue_Net';
    },
    want: [[`${N}[1].multus.networkName`, 'name part: "Blue_Net" must be a DNS-1123 label']],
  },
  {
    name: 'networkName with two slashes',
    mutate: (d) => {
      d.spec.networks[1].multus.networkName = 'a/b/c';
    },
    want: [[`${N}[1].multus.networkName`, 'must be "name" or "namespace/name"']],
  },
  {
    name: 'networkName with a bad namespace',
    mutate: (d) => {
      d.spec.networks[1].multus.networkName = 'In_Fra/shared';
    },
    want: [[`${N}[1].multus.networkName`, 'namespace part']],
  },
  {
    name: 'a NAD that does not exist',
    mutate: (d) => {
      d.spec.networks[1].multus.networkName = 'missing';
    },
    want: [[`${N}[1].multus.networkName`, 'NetworkAttachmentDefinition demo/missing not found']],
  },
  {
    name: 'a NAD missing in another namespace',
    mutate: (d) => {
      d.spec.networks[1].multus.networkName = 'infra/blue-net';
    },
    want: [[`${N}[1].multus.networkName`, 'NetworkAttachmentDefinition infra/blue-net not found']],
  },
  {
    name: 'duplicate network names',
    mutate: (d) => {
      d.spec.networks.push({ name: 'blue', multus: { networkName: 'red-net' } });
    },
    want: [[`${N}[2].name`, '"blue" must be unique; also used by spec.networks[1]']],
  },
  {
    name: 'a network no interface uses',
    mutate: (d) => {
      d.spec.networks.push({ name: 'green', multus: { networkName: 'red-net' } });
    },
    want: [[`${N}[2].name`, 'no interface named "green"']],
  },
  {
    name: 'multus with vmNetworkCIDR (a pod field)',
    mutate: (d) => {
      d.spec.networks[1].multus.vmNetworkCIDR = '10.0.0.0/24';
    },
    want: [[`${N}[1].multus.vmNetworkCIDR`, 'belongs to a pod network']],
  },
  {
    name: 'vmNetworkCIDR not a CIDR',
    mutate: (d) => {
      d.spec.networks[0].pod.vmNetworkCIDR = '10.0.2.0';
    },
    want: [[`${N}[0].pod.vmNetworkCIDR`, '"10.0.2.0" is not an IPv4 CIDR']],
  },
  {
    name: 'vmNetworkCIDR IPv6',
    mutate: (d) => {
      d.spec.networks[0].pod.vmNetworkCIDR = 'fd00::/64';
    },
    want: [[`${N}[0].pod.vmNetworkCIDR`, 'is not an IPv4 CIDR']],
  },
  {
    name: 'vmNetworkCIDR /31',
    mutate: (d) => {
      d.spec.networks[0].pod.vmNetworkCIDR = '10.0.2.0/31';
    },
    want: [[`${N}[0].pod.vmNetworkCIDR`, '/31 is too small']],
  },
  {
    name: 'vmIPv6NetworkCIDR /127',
    mutate: (d) => {
      d.spec.networks[0].pod.vmIPv6NetworkCIDR = 'fd10::/127';
    },
    want: [[`${N}[0].pod.vmIPv6NetworkCIDR`, 'use /126 or shorter']],
  },
  {
    name: 'vmIPv6NetworkCIDR IPv4',
    mutate: (d) => {
      d.spec.networks[0].pod.vmIPv6NetworkCIDR = '10.0.2.0/24';
    },
    want: [[`${N}[0].pod.vmIPv6NetworkCIDR`, 'is not an IPv6 CIDR']],
  },

  // --- interfaces and bindings ---
  {
    name: 'an interface without a network',
    mutate: (d) => {
      d.spec.domain.devices.interfaces.push({ name: 'green', bridge: {} });
    },
    want: [[`${I}[2].name`, 'no network named "green" in spec.networks']],
  },
  {
    name: 'duplicate interface names',
    mutate: (d) => {
      d.spec.domain.devices.interfaces.push({ name: 'blue', bridge: {} });
    },
    want: [[`${I}[2].name`, '"blue" must be unique; also used by spec.domain.devices.interfaces[1]']],
  },
  {
    name: 'interface name with a dot',
    mutate: (d) => {
      iface(d, 1).name = 'blue.net';
      d.spec.networks[1].name = 'blue.net';
    },
    want: [[`${I}[1].name`, '"blue.net" may contain only letters, digits, "-" and "_"']],
  },
  {
    name: 'no binding',
    mutate: (d) => {
      delete iface(d, 1).bridge;
    },
    want: [[`${I}[1]`, 'must have exactly one binding (supported: bridge, masquerade)']],
  },
  {
    name: 'two bindings',
    mutate: (d) => {
      iface(d, 0).bridge = {};
    },
    want: [[`${I}[0]`, 'has 2 bindings (bridge, masquerade)']],
  },
  {
    name: 'sriov',
    mutate: (d) => {
      d.spec.domain.devices.interfaces[1] = { name: 'blue', sriov: {} };
    },
    want: [[`${I}[1].sriov`, 'binding sriov is not implemented by virtnet (supported: bridge, masquerade)']],
  },
  {
    name: 'slirp',
    mutate: (d) => {
      d.spec.domain.devices.interfaces[0] = { name: 'default', slirp: {} };
    },
    want: [
      [
        `${I}[0].slirp`,
        'binding slirp is not implemented by virtnet (supported: bridge, masquerade); KubeVirt discontinued it in v1.3',
      ],
    ],
  },
  {
    name: 'macvtap',
    mutate: (d) => {
      d.spec.domain.devices.interfaces[1] = { name: 'blue', macvtap: {} };
    },
    want: [[`${I}[1].macvtap`, 'binding macvtap is not implemented']],
  },
  {
    name: 'passt (legacy)',
    mutate: (d) => {
      d.spec.domain.devices.interfaces[0] = { name: 'default', passt: {} };
    },
    want: [[`${I}[0].passt`, 'binding passt is not implemented']],
  },
  {
    name: 'passtBinding',
    mutate: (d) => {
      d.spec.domain.devices.interfaces[0] = { name: 'default', passtBinding: {} };
    },
    want: [[`${I}[0].passtBinding`, 'binding passtBinding is not implemented']],
  },
  {
    name: 'a binding plugin',
    mutate: (d) => {
      d.spec.domain.devices.interfaces[1] = { name: 'blue', binding: { name: 'l2bridge' } };
    },
    want: [[`${I}[1].binding`, 'binding plugin "l2bridge" is not implemented by virtnet']],
  },
  {
    name: 'masquerade on a multus network',
    mutate: (d) => {
      d.spec.domain.devices.interfaces[1] = { name: 'blue', masquerade: {} };
    },
    want: [[`${I}[1].masquerade`, 'works only on the pod network; network "blue" is multus']],
  },
  {
    name: 'unknown model',
    mutate: (d) => {
      iface(d, 1).model = 'virtio-net';
    },
    want: [[`${I}[1].model`, 'must be one of "virtio", "e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139"']],
  },
  {
    name: 'model in the wrong case',
    mutate: (d) => {
      iface(d, 1).model = 'E1000';
    },
    want: [[`${I}[1].model`, 'must be one of']],
  },
  {
    name: 'MAC with 5 octets',
    mutate: (d) => {
      iface(d, 1).macAddress = '02:00:00:00:05';
    },
    want: [[`${I}[1].macAddress`, 'is not a MAC address']],
  },
  {
    name: 'MAC with mixed separators',
    mutate: (d) => {
      iface(d, 1).macAddress = '02:00-00:00:00:05';
    },
    want: [[`${I}[1].macAddress`, 'is not a MAC address']],
  },
  {
    name: 'MAC with 8 octets (Go parses it, KubeVirt rejects it)',
    mutate: (d) => {
      iface(d, 1).macAddress = '02:00:00:00:00:00:00:05';
    },
    want: [[`${I}[1].macAddress`, 'is not a MAC address']],
  },
  {
    name: 'multicast MAC',
    mutate: (d) => {
      iface(d, 1).macAddress = '01:00:5e:00:00:01';
    },
    want: [[`${I}[1].macAddress`, '"01:00:5e:00:00:01" is a multicast address']],
  },
  {
    name: 'all-zero MAC',
    mutate: (d) => {
      iface(d, 1).macAddress = '00:00:00:00:00:00';
    },
    want: [[`${I}[1].macAddress`, '"00:00:00:00:00:00" must not be all zeros']],
  },
  {
    name: 'masquerade with the reserved MAC',
    mutate: (d) => {
      iface(d, 0).macAddress = '02:00:00:00:00:00';
    },
    want: [[`${I}[0].macAddress`, 'reserved for the masquerade binding']],
  },
  {
    name: 'the same MAC twice (different spelling)',
    mutate: (d) => {
      iface(d, 0).macAddress = '02-00-00-00-00-05';
    },
    want: [
      [`${I}[1].macAddress`, '"02:00:00:00:00:05" must be unique; also used by spec.domain.devices.interfaces[0]'],
    ],
  },
  {
    name: 'PCI address without function',
    mutate: (d) => {
      iface(d, 1).pciAddress = '0000:81:00';
    },
    want: [[`${I}[1].pciAddress`, 'is not a PCI address DDDD:BB:SS.F']],
  },
  {
    name: 'PCI slot above 1f',
    mutate: (d) => {
      iface(d, 1).pciAddress = '0000:00:20.0';
    },
    want: [[`${I}[1].pciAddress`, 'slot at most 1f']],
  },
  {
    name: 'PCI function 8',
    mutate: (d) => {
      iface(d, 1).pciAddress = '0000:00:05.8';
    },
    want: [[`${I}[1].pciAddress`, 'function 0-7']],
  },
  {
    name: 'PCI domain of 2 digits',
    mutate: (d) => {
      iface(d, 1).pciAddress = '00:00:05.0';
    },
    want: [[`${I}[1].pciAddress`, 'is not a PCI address']],
  },
  {
    name: 'unknown state',
    mutate: (d) => {
      iface(d, 1).state = 'off';
    },
    want: [[`${I}[1].state`, 'must be one of "", "up", "down", "absent"']],
  },
  {
    name: 'absent with masquerade on the pod network',
    mutate: (d) => {
      iface(d, 0).state = 'absent';
    },
    want: [
      [`${I}[0].state`, 'works only with the bridge binding'],
      [`${I}[0].state`, 'not allowed on the default (pod) network'],
    ],
  },
  {
    name: 'absent with bridge on the pod network',
    mutate: (d) => {
      d.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {}, state: 'absent' };
    },
    want: [[`${I}[0].state`, 'absent is not allowed on the default (pod) network']],
  },
  {
    name: 'absent on a multus default network',
    mutate: (d) => {
      d.spec.networks[0] = { name: 'default', multus: { networkName: 'red-net', default: true } };
      d.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {}, state: 'absent' };
    },
    want: [[`${I}[0].state`, 'not allowed on the default']],
  },
  {
    name: 'bootOrder 0',
    mutate: (d) => {
      iface(d, 1).bootOrder = 0;
    },
    want: [[`${I}[1].bootOrder`, 'must be greater than 0']],
  },
  {
    name: 'bootOrder shared with a disk',
    mutate: (d) => {
      iface(d, 1).bootOrder = 1;
    },
    want: [[`${I}[1].bootOrder`, '1 must be unique; also used by spec.domain.devices.disks[0].bootOrder']],
  },
  {
    name: 'acpiIndex 0',
    mutate: (d) => {
      iface(d, 1).acpiIndex = 0;
    },
    want: [[`${I}[1].acpiIndex`, 'must be in 1-16383']],
  },
  {
    name: 'acpiIndex 16384',
    mutate: (d) => {
      iface(d, 1).acpiIndex = 16384;
    },
    want: [[`${I}[1].acpiIndex`, 'must be in 1-16383 (is 16384)']],
  },
  {
    name: 'acpiIndex twice',
    mutate: (d) => {
      iface(d, 0).acpiIndex = 3;
      iface(d, 1).acpiIndex = 3;
    },
    want: [[`${I}[1].acpiIndex`, '3 must be unique; also used by spec.domain.devices.interfaces[0]']],
  },
  {
    name: 'mtu 67',
    mutate: (d) => {
      iface(d, 1).mtu = 67;
    },
    want: [[`${I}[1].mtu`, 'must be in 68-65535']],
  },
  {
    name: 'mtu 65536',
    mutate: (d) => {
      iface(d, 1).mtu = 65536;
    },
    want: [[`${I}[1].mtu`, 'must be in 68-65535']],
  },
  {
    name: 'mtu below 1280 on an IPv6 pod network',
    mutate: (d) => {
      d.spec.networks[0].pod.vmIPv6NetworkCIDR = 'fd10:0:2::/120';
      iface(d, 0).mtu = 1200;
    },
    want: [[`${I}[0].mtu`, 'must be at least 1280 (is 1200): the pod network carries IPv6']],
  },
  {
    name: 'unknown interface field (typo)',
    mutate: (d) => {
      iface(d, 1).macAdress = '02:00:00:00:00:06';
    },
    want: [[`${I}[1].macAdress`, 'unknown field "macAdress"']],
  },
  {
    name: 'interface without a name',
    mutate: (d) => {
      delete iface(d, 1).name;
    },
    want: [[`${I}[1].name`, 'is required']],
  },
  {
    name: 'interfaces not a list',
    mutate: (d) => {
      d.spec.domain.devices.interfaces = { name: 'default' };
    },
    want: [[I, 'must be a list']],
  },

  // --- ports and port ranges ---
  {
    name: 'ports on a multus network',
    mutate: (d) => {
      iface(d, 1).ports = [{ port: 80 }];
    },
    want: [[`${I}[1].ports`, 'ports apply only to the pod network; network "blue" is multus (blue-net)']],
  },
  {
    name: 'port name in upper case',
    mutate: (d) => {
      iface(d, 0).ports[0].name = 'HTTP';
    },
    want: [[`${I}[0].ports[0].name`, 'must be an IANA_SVC_NAME']],
  },
  {
    name: 'port name of 16 characters',
    mutate: (d) => {
      iface(d, 0).ports[0].name = 'abcdefghijklmnop';
    },
    want: [[`${I}[0].ports[0].name`, 'longer than 15 characters']],
  },
  {
    name: 'port name without a letter',
    mutate: (d) => {
      iface(d, 0).ports[0].name = '8080';
    },
    want: [[`${I}[0].ports[0].name`, 'at least one letter']],
  },
  {
    name: 'port name with a leading dash',
    mutate: (d) => {
      iface(d, 0).ports[0].name = '-http';
    },
    want: [[`${I}[0].ports[0].name`, 'IANA_SVC_NAME']],
  },
  {
    name: 'port name with a double dash',
    mutate: (d) => {
      iface(d, 0).ports[0].name = 'ht--tp';
    },
    want: [[`${I}[0].ports[0].name`, 'IANA_SVC_NAME']],
  },
  {
    name: 'duplicate port names',
    mutate: (d) => {
      iface(d, 0).ports.push({ name: 'http', port: 81 });
    },
    want: [[`${I}[0].ports[1].name`, '"http" must be unique; also used by spec.domain.devices.interfaces[0].ports[0]']],
  },
  {
    name: 'port 0',
    mutate: (d) => {
      iface(d, 0).ports[0].port = 0;
    },
    want: [[`${I}[0].ports[0].port`, 'is required (1-65535; is 0)']],
  },
  {
    name: 'port 65536',
    mutate: (d) => {
      iface(d, 0).ports[0].port = 65536;
    },
    want: [[`${I}[0].ports[0].port`, 'must be in 1-65535 (is 65536)']],
  },
  {
    name: 'port -1',
    mutate: (d) => {
      iface(d, 0).ports[0].port = -1;
    },
    want: [[`${I}[0].ports[0].port`, 'must be in 1-65535']],
  },
  {
    name: 'port 80.5',
    mutate: (d) => {
      iface(d, 0).ports[0].port = 80.5;
    },
    want: [[`${I}[0].ports[0].port`, 'must be an integer']],
  },
  {
    name: 'port as a string',
    mutate: (d) => {
      iface(d, 0).ports[0].port = '80';
    },
    want: [[`${I}[0].ports[0].port`, 'must be an integer, not "80"']],
  },
  {
    name: 'protocol in lower case',
    mutate: (d) => {
      iface(d, 0).ports[0].protocol = 'tcp';
    },
    want: [[`${I}[0].ports[0].protocol`, 'must be one of "", "TCP", "UDP" (is "tcp")']],
  },
  {
    name: 'protocol SCTP',
    mutate: (d) => {
      iface(d, 0).ports[0].protocol = 'SCTP';
    },
    want: [[`${I}[0].ports[0].protocol`, 'must be one of']],
  },
  {
    name: 'the same port+protocol twice ("" is TCP)',
    mutate: (d) => {
      iface(d, 0).ports.push({ port: 80, protocol: 'TCP' });
    },
    want: [[`${I}[0].ports[1]`, '80/TCP is already forwarded by spec.domain.devices.interfaces[0].ports[0]']],
  },
  {
    name: 'portRanges together with ports',
    mutate: (d) => {
      iface(d, 0).portRanges = [{ protocol: 'TCP', start: 8000, end: 8010 }];
    },
    want: [[`${I}[0].portRanges`, 'cannot be used together with ports']],
  },
  {
    name: 'portRanges on a bridge interface',
    mutate: (d) => {
      iface(d, 1).portRanges = [{ protocol: 'TCP', start: 8000, end: 8010 }];
    },
    want: [[`${I}[1].portRanges`, 'need the masquerade binding']],
  },
  {
    name: '11 port ranges',
    mutate: (d) => {
      dropPorts(d);
      iface(d, 0).portRanges = Array.from({ length: 11 }, (_, k) => ({
        protocol: 'TCP',
        start: 1000 + k * 10,
        end: 1005 + k * 10,
      }));
    },
    want: [[`${I}[0].portRanges`, 'at most 10 port ranges (has 11)']],
  },
  {
    name: 'port range without protocol',
    mutate: (d) => {
      dropPorts(d);
      iface(d, 0).portRanges = [{ start: 8000, end: 8010 }];
    },
    want: [[`${I}[0].portRanges[0].protocol`, 'is required (TCP or UDP)']],
  },
  {
    name: 'port range start > end',
    mutate: (d) => {
      dropPorts(d);
      iface(d, 0).portRanges = [{ protocol: 'UDP', start: 90, end: 80 }];
    },
    want: [[`${I}[0].portRanges[0]`, 'start 90 is greater than end 80']],
  },
  {
    name: 'port range end 70000',
    mutate: (d) => {
      dropPorts(d);
      iface(d, 0).portRanges = [{ protocol: 'UDP', start: 90, end: 70000 }];
    },
    want: [[`${I}[0].portRanges[0].end`, 'must be in 1-65535']],
  },
  {
    name: 'port range start 0',
    mutate: (d) => {
      dropPorts(d);
      iface(d, 0).portRanges = [{ protocol: 'UDP', start: 0, end: 10 }];
    },
    want: [[`${I}[0].portRanges[0].start`, 'must be in 1-65535']],
  },
  {
    name: 'overlapping port ranges',
    mutate: (d) => {
      dropPorts(d);
      iface(d, 0).portRanges = [
        { protocol: 'TCP', start: 8000, end: 8010 },
        { protocol: 'TCP', start: 8010, end: 8020 },
      ];
    },
    want: [[`${I}[0].portRanges[1]`, 'overlaps spec.domain.devices.interfaces[0].portRanges[0] (TCP 8000-8010)']],
  },

  // --- DHCP options ---
  {
    name: 'private option 223',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { privateOptions: [{ option: 223, value: 'x' }] };
    },
    want: [[`${I}[1].dhcpOptions.privateOptions[0].option`, 'must be in 224-254']],
  },
  {
    name: 'private option 255',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { privateOptions: [{ option: 255, value: 'x' }] };
    },
    want: [[`${I}[1].dhcpOptions.privateOptions[0].option`, 'must be in 224-254']],
  },
  {
    name: 'private option twice',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = {
        privateOptions: [
          { option: 240, value: 'a' },
          { option: 240, value: 'b' },
        ],
      };
    },
    want: [
      [
        `${I}[1].dhcpOptions.privateOptions[1].option`,
        '240 must be unique; also used by spec.domain.devices.interfaces[1].dhcpOptions.privateOptions[0]',
      ],
    ],
  },
  {
    name: 'IPv6 NTP server',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { ntpServers: ['192.0.2.1', '2001:db8::1'] };
    },
    want: [[`${I}[1].dhcpOptions.ntpServers[1]`, 'is not an IPv4 address']],
  },
  {
    name: 'bootFileName with a newline (config injection)',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { bootFileName: 'pxe.efi\ndhcp-range=0.0.0.0' };
    },
    want: [[`${I}[1].dhcpOptions.bootFileName`, '"pxe.efi\\ndhcp-range=0.0.0.0" contains control characters']],
  },
  {
    name: 'private option value over 255 bytes',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { privateOptions: [{ option: 240, value: 'x'.repeat(256) }] };
    },
    want: [[`${I}[1].dhcpOptions.privateOptions[0].value`, 'is 256 bytes; one DHCP option holds at most 255']],
  },

  // The same rule as the dnsmasq renderer (lib/dnsmasq-values.ts): what admission accepts, the launcher renders.
  {
    name: 'bootFileName with a leading space',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { bootFileName: ' pxe.efi' };
    },
    want: [[`${I}[1].dhcpOptions.bootFileName`, '" pxe.efi" has leading or trailing whitespace']],
  },
  {
    name: 'tftpServerName with a trailing tab',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { tftpServerName: 'tftp.example\t' };
    },
    want: [[`${I}[1].dhcpOptions.tftpServerName`, '"tftp.example\\t" contains control characters']],
  },
  {
    name: 'bootFileName with U+0085 (NEL)',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { bootFileName: 'pxe\u0085efi' };
    },
    want: [[`${I}[1].dhcpOptions.bootFileName`, 'contains control characters (newlines, tabs, U+0085, U+2028, …)']],
  },
  {
    name: 'private option with U+2028 (line separator)',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { privateOptions: [{ option: 250, value: 'a\u2028b' }] };
    },
    want: [[`${I}[1].dhcpOptions.privateOptions[0].value`, '"a\u2028b" contains control characters']],
  },
  {
    name: 'private option of 128 two-byte characters (256 bytes)',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { privateOptions: [{ option: 250, value: 'é'.repeat(128) }] };
    },
    want: [[`${I}[1].dhcpOptions.privateOptions[0].value`, 'is 256 bytes; one DHCP option holds at most 255']],
  },
  {
    name: 'NTP server with a trailing blank',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { ntpServers: ['192.0.2.1 '] };
    },
    want: [[`${I}[1].dhcpOptions.ntpServers[0]`, '"192.0.2.1 " is not an IPv4 address']],
  },
  {
    name: '17 NTP servers',
    mutate: (d) => {
      iface(d, 1).dhcpOptions = { ntpServers: Array.from({ length: 17 }, (_, k) => `192.0.2.${k + 1}`) };
    },
    want: [[`${I}[1].dhcpOptions.ntpServers`, 'must have at most 16 items (has 17)']],
  },
  {
    name: 'a third interface repeating a name says which',
    mutate: (d) => {
      iface(d, 1).name = 'sec';
      d.spec.networks[1].name = 'sec';
      d.spec.domain.devices.interfaces.push({ name: 'sec', bridge: {} });
    },
    want: [[`${I}[2].name`, '"sec" must be unique; also used by spec.domain.devices.interfaces[1]']],
  },
  {
    name: 'all-zero MAC written with dashes',
    mutate: (d) => {
      iface(d, 1).macAddress = '00-00-00-00-00-00';
    },
    want: [[`${I}[1].macAddress`, '"00-00-00-00-00-00" must not be all zeros']],
  },

  // --- size bounds (schema-network.ts BOUNDS): an oversized document gets only these ---
  {
    name: '257 interfaces',
    mutate: (d) => {
      for (let k = 0; k < 255; k++) d.spec.domain.devices.interfaces.push({ name: `n${k}`, bridge: {} });
    },
    want: [[I, 'must have at most 256 items (has 257)']],
  },
  {
    name: 'a 2 MiB interface name is cut short in the message',
    mutate: (d) => {
      iface(d, 1).name = 'x'.repeat(2 * 1024 * 1024);
    },
    want: [[`${I}[1].name`, `"${'x'.repeat(99)}… (2097152 characters) must be at most 253 characters (is 2097152)`]],
  },
  {
    name: 'a label value of 64 characters',
    mutate: (d) => {
      d.metadata.labels = { app: 'a'.repeat(64) };
    },
    want: [['metadata.labels.app', 'must be at most 63 characters (is 64)']],
  },
  {
    name: 'kernelArgs over COMMAND_LINE_SIZE',
    mutate: (d) => {
      d.spec.domain.firmware = { kernelBoot: { kernelArgs: 'x'.repeat(2049), host: { kernelPath: '/boot/vmlinuz' } } };
    },
    want: [['spec.domain.firmware.kernelBoot.kernelArgs', 'must be at most 2048 characters (is 2049)']],
  },
  {
    name: 'cloud-init userData over 2048 bytes (KubeVirt)',
    mutate: (d) => {
      d.spec.volumes[1].cloudInitNoCloud.userData = `#cloud-config\n${'x'.repeat(2040)}`;
    },
    want: [['spec.volumes[1].cloudInitNoCloud.userData', 'is 2054 bytes; at most 2048, as KubeVirt allows inline']],
  },
  {
    name: 'cloud-init userDataBase64 over 2048 bytes decoded',
    mutate: (d) => {
      d.spec.volumes[1].cloudInitNoCloud = { userDataBase64: Buffer.alloc(2049, 120).toString('base64') };
    },
    want: [['spec.volumes[1].cloudInitNoCloud.userDataBase64', 'is 2049 bytes decoded; at most 2048']],
  },
  {
    name: 'cloud-init userDataBase64 not base64',
    mutate: (d) => {
      d.spec.volumes[1].cloudInitNoCloud = { userDataBase64: 'not base64!' };
    },
    want: [
      [
        'spec.volumes[1].cloudInitNoCloud.userDataBase64',
        'is not valid base64: character 4 (after line breaks are dropped) is not one of A-Z a-z 0-9 + / =',
      ],
    ],
  },
  {
    name: 'cloud-init userDataBase64 cut short: its length is named, never its text',
    mutate: (d) => {
      d.spec.volumes[1].cloudInitNoCloud = { userDataBase64: 'c2VjcmV0cGFzc3dvcmQ' };
    },
    want: [
      [
        'spec.volumes[1].cloudInitNoCloud.userDataBase64',
        'is not valid base64: 19 characters, not a whole number of 4-character groups with = only at the end',
      ],
    ],
  },
  {
    name: 'a disk boot order past 65535',
    mutate: (d) => {
      d.spec.domain.devices.disks[0].bootOrder = 70000;
    },
    want: [['spec.domain.devices.disks[0].bootOrder', 'must be at most 65535 (is 70000)']],
  },

  // --- names and DNS ---
  {
    name: 'hostname not a DNS label',
    mutate: (d) => {
      d.spec.hostname = 'my_host';
    },
    want: [['spec.hostname', '"my_host" must be a DNS-1123 label']],
  },
  {
    name: 'hostname with a dot',
    mutate: (d) => {
      d.spec.hostname = 'a.b';
    },
    want: [['spec.hostname', 'DNS-1123 label']],
  },
  {
    name: 'subdomain with an empty label',
    mutate: (d) => {
      d.spec.subdomain = 'a..b';
    },
    want: [['spec.subdomain', 'must be a DNS-1123 subdomain']],
  },
  {
    name: 'name of 64 characters',
    mutate: (d) => {
      d.metadata.name = 'a'.repeat(64);
    },
    want: [['metadata.name', `"${'a'.repeat(64)}" must be at most 63 characters (DNS-1123 subdomain; is 64)`]],
  },
  {
    name: 'name in upper case',
    mutate: (d) => {
      d.metadata.name = 'VM1';
    },
    want: [['metadata.name', 'DNS-1123 subdomain']],
  },
  {
    name: 'namespace with a dot',
    mutate: (d) => {
      d.metadata.namespace = 'demo.x';
    },
    want: [['metadata.namespace', 'DNS-1123 label']],
  },
  {
    name: 'no name',
    mutate: (d) => {
      delete d.metadata.name;
    },
    want: [['metadata.name', 'is required']],
  },
  {
    name: 'search domain with an underscore',
    mutate: (d) => {
      d.spec.dnsConfig = { searches: ['ok.example.', 'bad_domain'] };
    },
    want: [['spec.dnsConfig.searches[1]', '"bad_domain" has the label "bad_domain"']],
  },
  {
    name: '33 search domains',
    mutate: (d) => {
      d.spec.dnsConfig = { searches: Array.from({ length: 33 }, (_, k) => `d${k}.example`) };
    },
    want: [['spec.dnsConfig.searches', 'at most 32 search domains']],
  },
  {
    name: 'search list over 2048 characters',
    mutate: (d) => {
      const long = Array.from({ length: 4 }, () => 'a'.repeat(60)).join('.');
      d.spec.dnsConfig = { searches: Array.from({ length: 9 }, () => long) };
    },
    want: [['spec.dnsConfig.searches', 'at most 2048']],
  },
  {
    name: 'search domain with a newline (resolv.conf injection)',
    mutate: (d) => {
      d.spec.dnsConfig = { searches: ['ok.example', 'a.example\nnameserver 192.0.2.66'] };
    },
    want: [
      [
        'spec.dnsConfig.searches[1]',
        '"a.example\\nnameserver 192.0.2.66" contains whitespace or control characters; a search domain is one name',
      ],
    ],
  },
  {
    name: 'search domain with a blank',
    mutate: (d) => {
      d.spec.dnsConfig = { searches: ['a.example b.example'] };
    },
    want: [['spec.dnsConfig.searches[0]', '"a.example b.example" contains whitespace']],
  },
  {
    name: 'search domain with a 64-character label',
    mutate: (d) => {
      d.spec.dnsConfig = { searches: [`${'a'.repeat(64)}.example`] };
    },
    want: [['spec.dnsConfig.searches[0]', `has the label "${'a'.repeat(64)}"`]],
  },
  {
    name: 'DNS option name with a newline',
    mutate: (d) => {
      d.spec.dnsConfig = { options: [{ name: 'ndots\nnameserver 192.0.2.66' }] };
    },
    want: [['spec.dnsConfig.options[0].name', '"ndots\\nnameserver 192.0.2.66" must be a resolv.conf option name']],
  },
  {
    name: 'DNS option value with a blank',
    mutate: (d) => {
      d.spec.dnsConfig = { options: [{ name: 'ndots', value: '5 rotate' }] };
    },
    want: [['spec.dnsConfig.options[0].value', '"5 rotate" must be printable ASCII without blanks']],
  },
  {
    name: 'DNS option without a name',
    mutate: (d) => {
      d.spec.dnsConfig = { options: [{ name: '' }] };
    },
    want: [['spec.dnsConfig.options[0].name', 'is required (is "")']],
  },
  {
    name: 'nameserver not an address',
    mutate: (d) => {
      d.spec.dnsConfig = { nameservers: ['dns.example'] };
    },
    want: [['spec.dnsConfig.nameservers[0]', 'is not an IP address']],
  },
  {
    name: 'four nameservers',
    mutate: (d) => {
      d.spec.dnsConfig = { nameservers: ['192.0.2.1', '192.0.2.2', '192.0.2.3', '2001:db8::1'] };
    },
    want: [['spec.dnsConfig.nameservers', 'at most 3 nameservers']],
  },
  {
    name: 'dnsPolicy None without nameservers',
    mutate: (d) => {
      d.spec.dnsPolicy = 'None';
    },
    want: [['spec.dnsConfig.nameservers', 'dnsPolicy None needs at least one nameserver']],
  },
  {
    name: 'unknown dnsPolicy',
    mutate: (d) => {
      d.spec.dnsPolicy = 'Cluster';
    },
    want: [['spec.dnsPolicy', 'must be one of']],
  },

  // --- resources, disks, kernel boot ---
  {
    name: 'memory not a quantity',
    mutate: (d) => {
      d.spec.domain.resources.requests.memory = '1 GB';
    },
    want: [['spec.domain.resources.requests.memory', 'is not a Kubernetes quantity']],
  },
  {
    name: 'memory below 1Mi',
    mutate: (d) => {
      d.spec.domain.resources.requests.memory = '512Ki';
    },
    want: [['spec.domain.resources.requests.memory', 'must be at least 1Mi']],
  },
  {
    name: 'memory a boolean',
    mutate: (d) => {
      d.spec.domain.resources.requests.memory = true;
    },
    want: [['spec.domain.resources.requests.memory', 'must be a string or a number']],
  },
  {
    name: 'guest memory above the limit',
    mutate: (d) => {
      d.spec.domain.memory = { guest: '2Gi' };
      d.spec.domain.resources.limits = { memory: '1Gi' };
    },
    want: [['spec.domain.memory.guest', '"2Gi" must not exceed domain.resources.limits.memory ("1Gi")']],
  },
  {
    name: 'cpu request 0',
    mutate: (d) => {
      d.spec.domain.resources.requests.cpu = '0';
    },
    want: [['spec.domain.resources.requests.cpu', 'must be greater than 0']],
  },
  {
    name: 'cpu cores 0',
    mutate: (d) => {
      d.spec.domain.cpu = { cores: 0 };
    },
    want: [['spec.domain.cpu.cores', 'must be at least 1']],
  },
  {
    name: 'cpu cores 1e9',
    mutate: (d) => {
      d.spec.domain.cpu = { cores: 1e9 };
    },
    want: [['spec.domain.cpu.cores', 'must be at most 512, the most vCPUs a VM gets (is 1000000000)']],
  },
  {
    name: 'cpu cores and sockets 2**40 each',
    mutate: (d) => {
      d.spec.domain.cpu = { cores: 2 ** 40, sockets: 2 ** 40 };
    },
    want: [
      ['spec.domain.cpu.cores', 'must be at most 512, the most vCPUs a VM gets (is 1099511627776)'],
      ['spec.domain.cpu.sockets', 'must be at most 512, the most vCPUs a VM gets (is 1099511627776)'],
    ],
  },
  {
    name: 'cpu threads 513',
    mutate: (d) => {
      d.spec.domain.cpu = { threads: 513 };
    },
    want: [['spec.domain.cpu.threads', 'must be at most 512']],
  },
  {
    name: 'cpu topology product above 512',
    mutate: (d) => {
      d.spec.domain.cpu = { cores: 64, sockets: 4, threads: 4 };
    },
    want: [['spec.domain.cpu', 'cores 64 × sockets 4 × threads 4 is 1024 vCPUs; at most 512']],
  },
  {
    name: 'cpu limit 1e9 cores',
    mutate: (d) => {
      d.spec.domain.resources.limits = { cpu: '1e9' };
    },
    want: [['spec.domain.resources.limits.cpu', 'must be at most 512, the most vCPUs a VM gets (is "1e9")']],
  },
  {
    name: 'memory 99999999999999999999Mi',
    mutate: (d) => {
      d.spec.domain.resources.requests.memory = '99999999999999999999Mi';
    },
    want: [
      [
        'spec.domain.resources.requests.memory',
        'must be at most 16Ti, the largest guest virtnet starts (is "99999999999999999999Mi")',
      ],
    ],
  },
  {
    name: 'memory limit 1Ei',
    mutate: (d) => {
      d.spec.domain.resources.limits = { memory: '1Ei' };
    },
    want: [
      ['spec.domain.resources.limits.memory', 'must be at most 16Ti, the largest guest virtnet starts (is "1Ei")'],
    ],
  },
  {
    name: 'guest memory 16Ti plus one Mi',
    mutate: (d) => {
      d.spec.domain.memory = { guest: `${16 * 2 ** 20 + 1}Mi` };
    },
    want: [['spec.domain.memory.guest', 'must be at most 16Ti']],
  },
  {
    name: 'guest memory 1e400 bytes (Infinity)',
    mutate: (d) => {
      d.spec.domain.memory = { guest: '1e400' };
    },
    want: [['spec.domain.memory.guest', 'must be at most 16Ti']],
  },
  {
    name: 'a disk without a volume',
    mutate: (d) => {
      d.spec.domain.devices.disks[1].name = 'missing';
    },
    want: [['spec.domain.devices.disks[1].name', 'no volume named "missing"']],
  },
  {
    name: 'two volumes of one name',
    mutate: (d) => {
      d.spec.volumes.push({ name: 'root', emptyDisk: { capacity: '1Gi' } });
    },
    want: [['spec.volumes[2].name', '"root" must be unique; also used by spec.volumes[0]']],
  },
  {
    name: 'host kernel with a relative path',
    mutate: (d) => {
      d.spec.domain.firmware = { kernelBoot: { host: { kernelPath: 'boot/vmlinuz' } } };
    },
    want: [['spec.domain.firmware.kernelBoot.host.kernelPath', 'must be an absolute, normalised path']],
  },
  {
    name: 'hostDisk path with ..',
    mutate: (d) => {
      d.spec.volumes[0] = {
        name: 'root',
        hostDisk: { path: '/var/lib/virtnet/images/../../../etc/shadow', type: 'Disk' },
      };
    },
    want: [
      [
        'spec.volumes[0].hostDisk.path',
        '"/var/lib/virtnet/images/../../../etc/shadow" must be an absolute, normalised path to a file',
      ],
    ],
  },
  {
    name: 'host and container kernels',
    mutate: (d) => {
      d.spec.domain.firmware = {
        kernelBoot: { host: { kernelPath: '/boot/vmlinuz' }, container: { image: 'x', kernelPath: '/boot/vmlinuz' } },
      };
    },
    want: [['spec.domain.firmware.kernelBoot.host', 'cannot be used together with container']],
  },
  {
    name: 'kernelArgs without a kernel',
    mutate: (d) => {
      d.spec.domain.firmware = { kernelBoot: { kernelArgs: 'console=ttyS0' } };
    },
    want: [['spec.domain.firmware.kernelBoot.kernelArgs', 'need a kernel']],
  },
  {
    name: 'container kernel without paths',
    mutate: (d) => {
      d.spec.domain.firmware = { kernelBoot: { container: { image: 'x' } } };
    },
    want: [['spec.domain.firmware.kernelBoot.container', 'needs kernelPath, initrdPath or both']],
  },
  {
    name: 'host kernel with an unknown key',
    mutate: (d) => {
      d.spec.domain.firmware = { kernelBoot: { host: { kernelPath: '/boot/vmlinuz', initrd: '/boot/initrd' } } };
    },
    want: [['spec.domain.firmware.kernelBoot.host.initrd', 'unknown field "initrd"']],
  },

  // --- kind, apiVersion ---
  {
    name: 'apiVersion kubevirt.io/v2',
    mutate: (d) => {
      d.apiVersion = 'kubevirt.io/v2';
    },
    want: [
      [
        'apiVersion',
        '"kubevirt.io/v2" is not served for VirtualMachineInstance (supported: virtnet.io/v1alpha1, kubevirt.io/v1, ' +
          'kubevirt.io/v1alpha3',
      ],
    ],
  },
  {
    name: 'no apiVersion',
    mutate: (d) => {
      delete d.apiVersion;
    },
    want: [['apiVersion', 'is required']],
  },
  {
    name: 'an unsupported kind',
    mutate: (d) => {
      d.kind = 'VirtualMachinePool';
    },
    want: [
      [
        'kind',
        'unsupported kind "VirtualMachinePool" (supported: VirtualMachineInstance, VirtualMachine, ' +
          'NetworkAttachmentDefinition)',
      ],
    ],
  },

  // --- VirtualMachine ---
  {
    name: 'VM: running and runStrategy',
    vm: true,
    mutate: (d) => {
      d.spec.running = true;
    },
    want: [['spec.running', 'running (true) and runStrategy ("Always") are mutually exclusive']],
  },
  {
    name: 'VM: neither running nor runStrategy',
    vm: true,
    mutate: (d) => {
      delete d.spec.runStrategy;
    },
    want: [['spec', 'one of runStrategy']],
  },
  {
    name: 'VM: unknown runStrategy',
    vm: true,
    mutate: (d) => {
      d.spec.runStrategy = 'Sometimes';
    },
    want: [
      ['spec.runStrategy', 'must be one of "Always", "RerunOnFailure", "Manual", "Halted", "Once", "WaitAsReceiver"'],
    ],
  },
  {
    name: 'VM: template in another namespace',
    vm: true,
    mutate: (d) => {
      d.spec.template.metadata.namespace = 'other';
    },
    want: [['spec.template.metadata.namespace', '"other" must be the VirtualMachine\'s namespace "demo"']],
  },
  {
    name: 'VM: no template spec',
    vm: true,
    mutate: (d) => {
      delete d.spec.template.spec;
    },
    want: [['spec.template.spec', 'is required']],
  },
  {
    name: 'VM: a bad model in the template',
    vm: true,
    mutate: (d) => {
      d.spec.template.spec.domain.devices.interfaces[1].model = 'vmxnet3';
    },
    want: [['spec.template.spec.domain.devices.interfaces[1].model', 'must be one of']],
  },
  {
    name: "VM: the template's NAD resolves in the VM's namespace",
    vm: true,
    mutate: (d) => {
      d.metadata.namespace = 'infra';
    },
    want: [
      ['spec.template.spec.networks[1].multus.networkName', 'NetworkAttachmentDefinition infra/blue-net not found'],
    ],
  },
];
