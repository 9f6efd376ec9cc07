/**
 * The VirtualMachineInstance and VirtualMachine API as TypeBox schemas: the
 * one source for runtime structure checks (Value.Errors in manifests.ts), the
 * TypeScript types (Static) and the CRD's openAPIV3Schema (openapi.ts).
 *
 * Field names follow KubeVirt's kubevirt.io/v1 API
 * (staging/src/kubevirt.io/api/core/v1/types.go and schema.go). Only what
 * virtnet reads is spelled out; everywhere outside interfaces and networks
 * unknown keys are accepted (KubeVirt's published examples carry many fields
 * virtnet ignores: rng, machine, chassis, evictionStrategy, ...). To keep the
 * CRD structural the schemas use no $ref and no unions except string enums
 * and int-or-string quantities.
 */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { Enum, InterfaceSchema, NetworkSchema } from './schema-network.ts';
import { crdSchema, type JsonSchema } from './openapi.ts';

export * from './schema-network.ts';
export type { JsonSchema } from './openapi.ts';

/** virtnet's own group first; KubeVirt's served versions are accepted as written. */
export const API_VERSIONS = ['virtnet.io/v1alpha1', 'kubevirt.io/v1', 'kubevirt.io/v1alpha3'] as const;
/** KubeVirt's VirtualMachineRunStrategy values (types.go). */
export const RUN_STRATEGIES = ['Always', 'RerunOnFailure', 'Manual', 'Halted', 'Once', 'WaitAsReceiver'] as const;
/** Kubernetes' DNSPolicy values (core/v1 types.go). */
export const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'] as const;

/** An object that keeps keys it does not know. */
function Open<T extends TProperties>(properties: T) {
  return Type.Object(properties);
}

const Str = () => Type.String();
const OptStr = () => Type.Optional(Type.String());
const StringMap = () => Type.Optional(Type.Record(Type.String(), Type.String()));
/** A Kubernetes quantity ("64Mi", "1G", "100m", 2): string or number; parsed by quantity.ts. */
export const QuantitySchema = Type.Union([Type.String(), Type.Number()]);
const ResourceList = () => Type.Optional(Type.Record(Type.String(), QuantitySchema));

const ObjectMeta = Open({ name: Str(), namespace: OptStr(), labels: StringMap(), annotations: StringMap() });
/** A template's metadata: no name (the VM's is used), namespace defaulted to the VM's. */
const TemplateMeta = Open({ name: OptStr(), namespace: OptStr(), labels: StringMap(), annotations: StringMap() });

const DiskTarget = () => Type.Optional(Open({ bus: OptStr() }));
export const DiskSchema = Open({
  name: Str(),
  disk: DiskTarget(),
  cdrom: DiskTarget(),
  lun: DiskTarget(),
  bootOrder: Type.Optional(Type.Integer()),
});

const KernelBoot = Open({
  kernelArgs: OptStr(),
  container: Type.Optional(Open({ image: Str(), kernelPath: OptStr(), initrdPath: OptStr() })),
  /** virtnet: a kernel (and initrd) already on the node, for the standalone mode. */
  host: Type.Optional(Type.Object({ kernelPath: Str(), initrdPath: OptStr() }, { additionalProperties: false })),
});

const Domain = Open({
  devices: Open({
    disks: Type.Optional(Type.Array(DiskSchema)),
    interfaces: Type.Optional(Type.Array(InterfaceSchema)),
    /** KubeVirt: false stops the default pod network from being added. */
    autoattachPodInterface: Type.Optional(Type.Boolean()),
  }),
  resources: Type.Optional(Open({ requests: ResourceList(), limits: ResourceList() })),
  memory: Type.Optional(Open({ guest: Type.Optional(QuantitySchema) })),
  cpu: Type.Optional(Open({
    cores: Type.Optional(Type.Integer()),
    sockets: Type.Optional(Type.Integer()),
    threads: Type.Optional(Type.Integer()),
  })),
  firmware: Type.Optional(Open({ kernelBoot: Type.Optional(KernelBoot) })),
});

const CloudInit = () => Type.Optional(Open({
  userData: OptStr(), userDataBase64: OptStr(), networkData: OptStr(), networkDataBase64: OptStr(),
}));

/** KubeVirt's VolumeSource; sources virtnet does not name are accepted (unknown keys). */
export const VolumeSchema = Open({
  name: Str(),
  containerDisk: Type.Optional(Open({ image: Str(), path: OptStr(), imagePullPolicy: OptStr() })),
  cloudInitNoCloud: CloudInit(),
  cloudInitConfigDrive: CloudInit(),
  hostDisk: Type.Optional(Open({ path: Str(), type: Str(), capacity: Type.Optional(QuantitySchema) })),
  persistentVolumeClaim: Type.Optional(Open({ claimName: Str(), readOnly: Type.Optional(Type.Boolean()) })),
  dataVolume: Type.Optional(Open({ name: Str() })),
  emptyDisk: Type.Optional(Open({ capacity: QuantitySchema })),
  ephemeral: Type.Optional(Open({})),
  secret: Type.Optional(Open({ secretName: OptStr() })),
  configMap: Type.Optional(Open({ name: OptStr() })),
  serviceAccount: Type.Optional(Open({ serviceAccountName: OptStr() })),
});

export const VmiSpecSchema = Open({
  domain: Domain,
  networks: Type.Optional(Type.Array(NetworkSchema)),
  volumes: Type.Optional(Type.Array(VolumeSchema)),
  hostname: OptStr(),
  subdomain: OptStr(),
  dnsPolicy: Type.Optional(Enum(DNS_POLICIES)),
  dnsConfig: Type.Optional(Open({
    nameservers: Type.Optional(Type.Array(Str())),
    searches: Type.Optional(Type.Array(Str())),
    options: Type.Optional(Type.Array(Open({ name: Str(), value: OptStr() }))),
  })),
  terminationGracePeriodSeconds: Type.Optional(Type.Integer()),
  nodeSelector: StringMap(),
});

export const VirtualMachineInstanceSchema = Open({
  apiVersion: Enum(API_VERSIONS),
  kind: Type.Literal('VirtualMachineInstance'),
  metadata: ObjectMeta,
  spec: VmiSpecSchema,
  /** Reported by virtnet, never read from a manifest. */
  status: Type.Optional(Type.Unknown()),
});

export const VirtualMachineSchema = Open({
  apiVersion: Enum(API_VERSIONS),
  kind: Type.Literal('VirtualMachine'),
  metadata: ObjectMeta,
  spec: Open({
    /** Deprecated in KubeVirt in favour of runStrategy; exactly one of the two (rules.ts). */
    running: Type.Optional(Type.Boolean()),
    runStrategy: Type.Optional(Enum(RUN_STRATEGIES)),
    template: Open({ metadata: Type.Optional(TemplateMeta), spec: VmiSpecSchema }),
    dataVolumeTemplates: Type.Optional(Type.Array(Type.Unknown())),
  }),
  status: Type.Optional(Type.Unknown()),
});

export type VirtualMachineInstance = Static<typeof VirtualMachineInstanceSchema>;
export type VirtualMachine = Static<typeof VirtualMachineSchema>;
export type VmiSpec = Static<typeof VmiSpecSchema>;
export type VmiVolume = Static<typeof VolumeSchema>;
export type VmiDisk = Static<typeof DiskSchema>;
export type RunStrategy = (typeof RUN_STRATEGIES)[number];

/** The CRD's openAPIV3Schema for a kind: plain JSON, structural (see openapi.ts). */
export function openApiSchema(kind: 'VirtualMachineInstance' | 'VirtualMachine'): JsonSchema {
  return crdSchema(kind === 'VirtualMachineInstance' ? VirtualMachineInstanceSchema : VirtualMachineSchema);
}
