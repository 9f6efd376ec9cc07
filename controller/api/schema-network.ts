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
 * so that every problem is reported with its own message.
 */
import { Type, type Static, type TLiteral, type TProperties, type TUnion } from '@sinclair/typebox';

/** An object whose unknown keys are errors. */
export function Closed<T extends TProperties>(properties: T) {
  return Type.Object(properties, { additionalProperties: false });
}

/** A string enum as a union of literals: typed for Static, an `enum` in the CRD. */
export function Enum<const T extends readonly string[]>(values: T): TUnion<Array<TLiteral<T[number]>>> {
  return Type.Union(values.map((v) => Type.Literal(v))) as unknown as TUnion<Array<TLiteral<T[number]>>>;
}

/** KubeVirt's empty binding structs (`bridge: {}`, `masquerade: {}`). */
const EmptyBinding = Closed({});
/** A binding virtnet does not implement: any content, rejected by the rules. */
const ForeignBinding = Type.Object({});

/** pkg/network/admitter/netiface.go validInterfaceModels (plus igb, libvirt's). */
export const INTERFACE_MODELS = ['virtio', 'e1000', 'e1000e', 'igb', 'ne2k_pci', 'pcnet', 'rtl8139'] as const;
/** "" is Go's zero value and means "up". */
export const INTERFACE_STATES = ['', 'up', 'down', 'absent'] as const;
/** Uppercase only, as KubeVirt's validateForwardPortProtocol; "" means TCP. */
export const PORT_PROTOCOLS = ['', 'TCP', 'UDP'] as const;

/** Every binding key an interface may carry; only bridge and masquerade are implemented. */
export const BINDING_KEYS = ['bridge', 'masquerade', 'sriov', 'slirp', 'macvtap', 'passt', 'passtBinding', 'binding'] as const;
export const SUPPORTED_BINDINGS = ['bridge', 'masquerade'] as const;

export const PortSchema = Closed({
  name: Type.Optional(Type.String()),
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
  bootFileName: Type.Optional(Type.String()),
  tftpServerName: Type.Optional(Type.String()),
  ntpServers: Type.Optional(Type.Array(Type.String())),
  privateOptions: Type.Optional(Type.Array(Closed({ option: Type.Integer(), value: Type.String() }))),
});

export const InterfaceSchema = Closed({
  name: Type.String(),
  bridge: Type.Optional(EmptyBinding),
  masquerade: Type.Optional(EmptyBinding),
  sriov: Type.Optional(ForeignBinding),
  slirp: Type.Optional(ForeignBinding),
  macvtap: Type.Optional(ForeignBinding),
  passt: Type.Optional(ForeignBinding),
  passtBinding: Type.Optional(ForeignBinding),
  binding: Type.Optional(Type.Object({ name: Type.String() })),
  macAddress: Type.Optional(Type.String()),
  model: Type.Optional(Enum(INTERFACE_MODELS)),
  pciAddress: Type.Optional(Type.String()),
  bootOrder: Type.Optional(Type.Integer()),
  ports: Type.Optional(Type.Array(PortSchema)),
  portRanges: Type.Optional(Type.Array(PortRangeSchema)),
  dhcpOptions: Type.Optional(DhcpOptionsSchema),
  state: Type.Optional(Enum(INTERFACE_STATES)),
  acpiIndex: Type.Optional(Type.Integer()),
  tag: Type.Optional(Type.String()),
  /** virtnet's own: lowers the NIC's MTU below the pod NIC's (launcher/plan/bridge.ts nicMtu). */
  mtu: Type.Optional(Type.Integer()),
});

export const NetworkSchema = Closed({
  name: Type.String(),
  pod: Type.Optional(Closed({
    vmNetworkCIDR: Type.Optional(Type.String()),
    vmIPv6NetworkCIDR: Type.Optional(Type.String()),
  })),
  multus: Type.Optional(Closed({
    networkName: Type.String(),
    default: Type.Optional(Type.Boolean()),
  })),
  /** KubeVirt DRA (Alpha, FG NetworkDevicesWithDRA): known so that it is rejected by name. */
  resourceClaim: Type.Optional(Type.Object({
    claimName: Type.Optional(Type.String()),
    requestName: Type.Optional(Type.String()),
  })),
});

export type VmiInterface = Static<typeof InterfaceSchema>;
export type VmiNetwork = Static<typeof NetworkSchema>;
export type VmiPort = Static<typeof PortSchema>;
export type VmiPortRange = Static<typeof PortRangeSchema>;
export type InterfaceModel = (typeof INTERFACE_MODELS)[number];

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
