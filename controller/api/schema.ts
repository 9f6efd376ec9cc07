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
import { BOUNDS, Enum, InterfaceSchema, NetworkSchema, Str } from './schema-network.ts';
import { crdSchema, type JsonSchema } from './openapi.ts';

export * from './schema-network.ts';
export type { JsonSchema } from './openapi.ts';

/** virtnet's own group first; KubeVirt's served versions are accepted as written. */
export const API_VERSIONS = ['virtnet.io/v1alpha1', 'kubevirt.io/v1', 'kubevirt.io/v1alpha3'] as const;
/** KubeVirt's VirtualMachineRunStrategy values (types.go). */
export const RUN_STRATEGIES = ['Always', 'RerunOnFailure', 'Manual', 'Halted', 'Once', 'WaitAsReceiver'] as const;
/** Kubernetes' PullPolicy values (core/v1 types.go). */
export const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
/** Kubernetes' DNSPolicy values (core/v1 types.go). */
export const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'] as const;

/** An object that keeps keys it does not know. */
function Open<T extends TProperties>(properties: T) {
  return Type.Object(properties);
}

/** A Kubernetes object name, or a name that refers to one. */
const Name = () => Str(BOUNDS.name);
const OptName = () => Type.Optional(Name());
const OptShort = () => Type.Optional(Str(BOUNDS.short));
const OptPath = () => Type.Optional(Str(BOUNDS.path));

/**
 * Metadata maps. Kubernetes: a label value is at most 63 characters
 * (IsValidLabelValue), all of an object's annotations at most 256 KiB
 * (TotalAnnotationSizeLimitB); 1024 keys are far above what objects carry.
 */
const MAX_MAP_KEYS = 1024;
const Labels = () => Type.Optional(Type.Record(Type.String(), Str(63), { maxProperties: MAX_MAP_KEYS }));
const Annotations = () => Type.Optional(Type.Record(Type.String(), Str(256 * 1024), { maxProperties: MAX_MAP_KEYS }));
/** A Kubernetes quantity ("64Mi", "1G", "100m", 2): string or number; parsed by quantity.ts. */
export const QuantitySchema = Type.Union([Str(64), Type.Number()]);
/** requests / limits: a handful of resource names (cpu, memory, hugepages-2Mi, devices). */
const ResourceList = () => Type.Optional(Type.Record(Type.String(), QuantitySchema, { maxProperties: 64 }));

const ObjectMeta = Open({ name: Name(), namespace: OptName(), labels: Labels(), annotations: Annotations() });
/** A template's metadata: no name (the VM's is used), namespace defaulted to the VM's. */
const TemplateMeta = Open({ name: OptName(), namespace: OptName(), labels: Labels(), annotations: Annotations() });

const DiskTarget = () => Type.Optional(Open({ bus: OptShort() }));
export const DiskSchema = Open({
  name: Name(),
  disk: DiskTarget(),
  cdrom: DiskTarget(),
  lun: DiskTarget(),
  bootOrder: Type.Optional(Type.Integer()),
});

const KernelBoot = Open({
  /** COMMAND_LINE_SIZE is 2048 on x86 (arch/x86/include/uapi/asm/setup.h). */
  kernelArgs: Type.Optional(Str(2048)),
  container: Type.Optional(Open({ image: Str(BOUNDS.image), kernelPath: OptPath(), initrdPath: OptPath() })),
  /** virtnet: a kernel (and initrd) already on the node, for the standalone mode. */
  host: Type.Optional(
    Type.Object({ kernelPath: Str(BOUNDS.path), initrdPath: OptPath() }, { additionalProperties: false }),
  ),
});

const Domain = Open({
  devices: Open({
    disks: Type.Optional(Type.Array(DiskSchema, { maxItems: BOUNDS.devices })),
    interfaces: Type.Optional(Type.Array(InterfaceSchema, { maxItems: BOUNDS.devices })),
    /** KubeVirt: false stops the default pod network from being added. */
    autoattachPodInterface: Type.Optional(Type.Boolean()),
  }),
  resources: Type.Optional(Open({ requests: ResourceList(), limits: ResourceList() })),
  memory: Type.Optional(Open({ guest: Type.Optional(QuantitySchema) })),
  cpu: Type.Optional(
    Open({
      cores: Type.Optional(Type.Integer()),
      sockets: Type.Optional(Type.Integer()),
      threads: Type.Optional(Type.Integer()),
    }),
  ),
  firmware: Type.Optional(
    Open({
      kernelBoot: Type.Optional(KernelBoot),
      /** KubeVirt's Bootloader: bios (SeaBIOS, the default) or efi (OVMF; secureBoot defaults to true). */
      bootloader: Type.Optional(
        Open({
          bios: Type.Optional(Open({ useSerial: Type.Optional(Type.Boolean()) })),
          efi: Type.Optional(
            Open({ secureBoot: Type.Optional(Type.Boolean()), persistent: Type.Optional(Type.Boolean()) }),
          ),
        }),
      ),
    }),
  ),
});

/**
 * Cloud-init data: KubeVirt allows 2048 bytes of each inline (rules.ts); the
 * bound stops a flood and lets the rule report the size up to 64 KiB.
 */
const CLOUD_INIT_BOUND = 64 * 1024;
const CloudInit = () =>
  Type.Optional(
    Open({
      userData: Type.Optional(Str(CLOUD_INIT_BOUND)),
      userDataBase64: Type.Optional(Str(CLOUD_INIT_BOUND)),
      networkData: Type.Optional(Str(CLOUD_INIT_BOUND)),
      networkDataBase64: Type.Optional(Str(CLOUD_INIT_BOUND)),
    }),
  );

/** KubeVirt's VolumeSource; sources virtnet does not name are accepted (unknown keys). */
export const VolumeSchema = Open({
  name: Name(),
  containerDisk: Type.Optional(
    Open({ image: Str(BOUNDS.image), path: OptPath(), imagePullPolicy: Type.Optional(Enum(PULL_POLICIES)) }),
  ),
  cloudInitNoCloud: CloudInit(),
  cloudInitConfigDrive: CloudInit(),
  hostDisk: Type.Optional(
    Open({ path: Str(BOUNDS.path), type: Str(BOUNDS.short), capacity: Type.Optional(QuantitySchema) }),
  ),
  persistentVolumeClaim: Type.Optional(Open({ claimName: Name(), readOnly: Type.Optional(Type.Boolean()) })),
  dataVolume: Type.Optional(Open({ name: Name() })),
  emptyDisk: Type.Optional(Open({ capacity: QuantitySchema })),
  ephemeral: Type.Optional(Open({})),
  secret: Type.Optional(Open({ secretName: OptName() })),
  configMap: Type.Optional(Open({ name: OptName() })),
  serviceAccount: Type.Optional(Open({ serviceAccountName: OptName() })),
});

/**
 * dnsConfig bounds above Kubernetes' rules (3 nameservers, 32 search
 * domains, 2048 characters: rules-names.ts), which report the precise limit;
 * resolv.conf(5) knows about 20 option names.
 */
const DnsConfig = Open({
  nameservers: Type.Optional(Type.Array(Str(BOUNDS.short), { maxItems: 16 })),
  searches: Type.Optional(Type.Array(Str(1024), { maxItems: 64 })),
  options: Type.Optional(Type.Array(Open({ name: Str(BOUNDS.short), value: OptShort() }), { maxItems: 64 })),
});

export const VmiSpecSchema = Open({
  domain: Domain,
  networks: Type.Optional(Type.Array(NetworkSchema, { maxItems: BOUNDS.devices })),
  volumes: Type.Optional(Type.Array(VolumeSchema, { maxItems: BOUNDS.devices })),
  hostname: OptName(),
  subdomain: OptName(),
  dnsPolicy: Type.Optional(Enum(DNS_POLICIES)),
  dnsConfig: Type.Optional(DnsConfig),
  terminationGracePeriodSeconds: Type.Optional(Type.Integer()),
  nodeSelector: Labels(),
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
    dataVolumeTemplates: Type.Optional(Type.Array(Type.Unknown(), { maxItems: BOUNDS.devices })),
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
