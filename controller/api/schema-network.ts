/**
 * The network half of the VMI schema: spec.domain.devices.interfaces[] and
 * spec.networks[], with KubeVirt's field names (staging/src/kubevirt.io/api/
 * core/v1/schema.go: Interface, InterfaceBindingMethod, Port, DHCPOptions,
 * Network, NetworkSource).
 *
 * These objects are closed (additionalProperties: false) so that a typo such
 * as `macAdress` is an error instead of a silently ignored field. KubeVirt's
 * other bindings (sriov, slirp, macvtap, passt, passtBinding, binding: {name})
 * are known keys on purpose: the rules reject them naming the binding, which
 * says more than "unknown field".
 *
 * Value checks (ranges, formats, uniqueness) are not here but in
 * rules-*.ts, as KubeVirt does them in its admitter (pkg/network/admitter),
 * so that every problem is reported with its own message. What is here is
 * the size bound of every list and string (BOUNDS).
 */
import { Type, type Static, type TLiteral, type TProperties, type TUnion } from '@sinclair/typebox';
import { MAX_DEVICES } from '../../launcher/spec.ts';
import { BINDINGS, NIC_MODELS, type NicModel } from '../../launcher/nic.ts';

/**
 * Size bounds: every list and string in the schema has one. They stop an
 * oversized document before any rule runs (a VMI of 32k interfaces, 2.5 MiB,
 * took 3.45 s to validate, issue 11 defect 8), and the CRD carries them, so
 * the apiserver stores no such object. No real VMI comes near them; where a
 * precise limit exists it stays in the rules, with its own message (3
 * nameservers, 10 port ranges, 255-byte DHCP options, 2048-byte cloud-init).
 */
export const BOUNDS = {
  /** Interfaces, networks, disks, volumes: KubeVirt's arrayLenMax for disks and volumes (vmi-create-admitter.go). */
  devices: MAX_DEVICES,
  /** An interface's forwarded ports: one DNAT rule each; far above any real service list. */
  ports: 1024,
  /** portRanges: 10 is the rule (KubeVirt PortRangesSpec); this only stops a flood before the overlap check. */
  portRanges: 64,
  /** ntpServers: 16 IPv4 addresses are 64 of option 42's 255 bytes, and keep dnsmasq's line far below 1023 bytes. */
  ntpServers: 16,
  /** privateOptions: the codes 224-254, each at most once. */
  privateOptions: 31,
  /** A multus attachment's static addresses: a few per family is all an interface needs. */
  attachmentIps: 8,
  /** Kubernetes object names and the names that refer to them: a DNS-1123 subdomain's 253 characters. */
  name: 253,
  /** Short free text (MACs, PCI addresses, tags, enum-like strings, CIDRs): KubeVirt's maxStrLen. */
  short: 256,
  /** DHCP option strings: 255 bytes is the rule; the bound lets the rule report anything up to 1024 characters. */
  dhcpString: 1024,
  /** A file path: PATH_MAX (linux/limits.h). */
  path: 4096,
  /** A container image reference: distribution's reference grammar keeps a name to 255, a tag to 128, plus a digest. */
  image: 1024,
} as const;

/** A string of at most `max` characters. */
export function Str(max: number) {
  return Type.String({ maxLength: max });
}

/** An object whose unknown keys are errors. */
export function Closed<T extends TProperties>(properties: T) {
  return Type.Object(properties, { additionalProperties: false });
}

/** A string enum as a union of literals: typed for Static, an `enum` in the CRD. */
export function Enum<const T extends readonly string[]>(values: T): TUnion<Array<TLiteral<T[number]>>> {
  // The cast stays: Type.Union returns Union<T>, conditional on the array's length (TNever for none, the schema itself
  // for one), which TypeScript cannot resolve for an array of unknown length; every enum here has two values or more.
  return Type.Union(values.map((v) => Type.Literal(v))) as unknown as TUnion<Array<TLiteral<T[number]>>>;
}

/** KubeVirt's empty binding structs (`bridge: {}`, `masquerade: {}`). */
const EmptyBinding = Closed({});
/** A binding virtnet does not implement: any content, rejected by the rules. */
const ForeignBinding = Type.Object({});

/** The models the launcher gives a guest NIC (KubeVirt's, plus igb). */
export const INTERFACE_MODELS = NIC_MODELS;
/** "" is Go's zero value and means "up". */
export const INTERFACE_STATES = ['', 'up', 'down', 'absent'] as const;
/** Uppercase only, as KubeVirt's validateForwardPortProtocol; "" means TCP. */
export const PORT_PROTOCOLS = ['', 'TCP', 'UDP'] as const;

/** Every binding key an interface may carry; only bridge and masquerade are implemented. */
export const BINDING_KEYS = [
  'bridge',
  'masquerade',
  'sriov',
  'slirp',
  'macvtap',
  'passt',
  'passtBinding',
  'binding',
] as const;
/** The bindings the launcher implements. */
export const SUPPORTED_BINDINGS = BINDINGS;

export const PortSchema = Closed({
  name: Type.Optional(Str(BOUNDS.name)),
  port: Type.Integer(),
  protocol: Type.Optional(Enum(PORT_PROTOCOLS)),
});

/** virtnet's masquerade extension (KubeVirt: Alpha, feature gate PortRangesSpec). */
export const PortRangeSchema = Closed({
  protocol: Type.Optional(Enum(['TCP', 'UDP'] as const)),
  start: Type.Integer(),
  end: Type.Integer(),
});

export const DhcpOptionsSchema = Closed({
  bootFileName: Type.Optional(Str(BOUNDS.dhcpString)),
  tftpServerName: Type.Optional(Str(BOUNDS.dhcpString)),
  ntpServers: Type.Optional(Type.Array(Str(BOUNDS.short), { maxItems: BOUNDS.ntpServers })),
  privateOptions: Type.Optional(
    Type.Array(Closed({ option: Type.Integer(), value: Str(BOUNDS.dhcpString) }), { maxItems: BOUNDS.privateOptions }),
  ),
});

export const InterfaceSchema = Closed({
  name: Str(BOUNDS.name),
  bridge: Type.Optional(EmptyBinding),
  masquerade: Type.Optional(EmptyBinding),
  sriov: Type.Optional(ForeignBinding),
  slirp: Type.Optional(ForeignBinding),
  macvtap: Type.Optional(ForeignBinding),
  passt: Type.Optional(ForeignBinding),
  passtBinding: Type.Optional(ForeignBinding),
  binding: Type.Optional(Type.Object({ name: Str(BOUNDS.name) })),
  macAddress: Type.Optional(Str(BOUNDS.short)),
  model: Type.Optional(Enum(INTERFACE_MODELS)),
  pciAddress: Type.Optional(Str(BOUNDS.short)),
  bootOrder: Type.Optional(Type.Integer()),
  ports: Type.Optional(Type.Array(PortSchema, { maxItems: BOUNDS.ports })),
  portRanges: Type.Optional(Type.Array(PortRangeSchema, { maxItems: BOUNDS.portRanges })),
  dhcpOptions: Type.Optional(DhcpOptionsSchema),
  state: Type.Optional(Enum(INTERFACE_STATES)),
  acpiIndex: Type.Optional(Type.Integer()),
  tag: Type.Optional(Str(BOUNDS.short)),
  /** virtnet's own: lowers the NIC's MTU below the pod NIC's (launcher/plan/bridge.ts nicMtu). */
  mtu: Type.Optional(Type.Integer()),
});

export const NetworkSchema = Closed({
  name: Str(BOUNDS.name),
  pod: Type.Optional(
    Closed({
      vmNetworkCIDR: Type.Optional(Str(BOUNDS.short)),
      vmIPv6NetworkCIDR: Type.Optional(Str(BOUNDS.short)),
    }),
  ),
  multus: Type.Optional(
    Closed({
      /** "name" or "namespace/name". */
      networkName: Str(BOUNDS.name),
      default: Type.Optional(Type.Boolean()),
      /**
       * virtnet's own: static addresses (address/prefix) for this attachment,
       * sent as the networks annotation element's ips, which the NAD's IPAM
       * gets as runtimeConfig.ips (the static IPAM plugin's capability).
       */
      ips: Type.Optional(Type.Array(Str(BOUNDS.short), { maxItems: BOUNDS.attachmentIps })),
    }),
  ),
  /** KubeVirt DRA (Alpha, FG NetworkDevicesWithDRA): known so that it is rejected by name. */
  resourceClaim: Type.Optional(
    Type.Object({
      claimName: Type.Optional(Str(BOUNDS.name)),
      requestName: Type.Optional(Str(BOUNDS.name)),
    }),
  ),
});

export type VmiInterface = Static<typeof InterfaceSchema>;
export type VmiNetwork = Static<typeof NetworkSchema>;
export type VmiPort = Static<typeof PortSchema>;
export type VmiPortRange = Static<typeof PortRangeSchema>;
export type InterfaceModel = NicModel;

/**
 * An interface as normalisation leaves it (manifests.ts): model filled in,
 * "" spellings gone (state "" dropped, port protocol "" → TCP). The type
 * the launcher's InterfaceSpec is checked against (test/unit/controller/schema.test.ts).
 */
export type NormalizedInterface = Omit<VmiInterface, 'model' | 'state' | 'ports'> & {
  model: InterfaceModel;
  state?: Exclude<NonNullable<VmiInterface['state']>, ''>;
  ports?: Array<VmiPort & { protocol: 'TCP' | 'UDP' }>;
};
