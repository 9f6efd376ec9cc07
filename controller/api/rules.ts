/**
 * The semantic rules over a structurally valid VMI spec (schema.ts has
 * checked the types): every problem, each with its field path, in the order
 * of the spec. The network rules follow KubeVirt's admitter
 * (pkg/network/admitter, reference section 5 items 1-18, 20, 22); the rest
 * comes from vmi-create-admitter.go (boot order, disks and volumes, kernel
 * boot) and virtnet's own checks that KubeVirt leaves to runtime failures.
 */
import { posix } from 'node:path';
import { index, shown, type RuleProblem } from './paths.ts';
import { quantityProblems } from './quantity.ts';
import { interfaceProblems } from './rules-interfaces.ts';
import { dnsProblems, metadataProblems } from './rules-names.ts';
import { networkProblems, type RuleEnv } from './rules-networks.ts';
import type { VirtualMachine, VirtualMachineInstance, VmiSpec } from './schema.ts';
import { diskPathProblem, imageReferenceProblem } from '../node/images/reference.ts';
import { MAX_BOOT_ORDER } from '../../launcher/spec.ts';

export type { RuleProblem } from './paths.ts';
export type { RuleEnv } from './rules-networks.ts';

/** All problems of one VMI spec found at `at` ("spec", or "spec.template.spec" in a VM). */
export function vmiSpecProblems(spec: VmiSpec, at: string, env: RuleEnv): RuleProblem[] {
  return [
    ...networkProblems(spec, at, env),
    ...interfaceProblems(spec, at),
    ...bootOrderProblems(spec, at),
    ...diskProblems(spec, at),
    ...cloudInitProblems(spec, at),
    ...volumeSourceProblems(spec, at),
    ...diskBusProblems(spec, at),
    ...bootloaderProblems(spec, at),
    ...containerDiskProblems(spec, at),
    ...hostDiskProblems(spec, at),
    ...kernelBootProblems(spec, at),
    ...quantityProblems(spec, at),
    ...dnsProblems(spec, at),
  ];
}

export function vmiProblems(vmi: VirtualMachineInstance, env: RuleEnv): RuleProblem[] {
  const meta = metadataProblems(vmi.metadata, 'metadata');
  return [...meta, ...vmiSpecProblems(vmi.spec, 'spec', specEnv(meta, env))];
}

/** With a bad namespace, NAD lookups in it would only repeat that problem. */
function specEnv(meta: RuleProblem[], env: RuleEnv): RuleEnv {
  return meta.some((p) => p.path === 'metadata.namespace') ? { namespace: env.namespace } : env;
}

/**
 * A VM: its metadata, exactly one of running / runStrategy (KubeVirt's
 * vm-admitter: "Running and RunStrategy are mutually exclusive"; virtnet
 * also refuses neither, rather than guess), a template in the VM's namespace,
 * and the template's VMI spec.
 */
export function vmProblems(vm: VirtualMachine, env: RuleEnv): RuleProblem[] {
  const out = metadataProblems(vm.metadata, 'metadata');
  const { running, runStrategy, template } = vm.spec;
  if (running !== undefined && runStrategy !== undefined) {
    out.push({
      path: 'spec.running',
      rule: `running (${running}) and runStrategy (${shown(runStrategy)}) are mutually exclusive; keep runStrategy`,
    });
  }
  if (running === undefined && runStrategy === undefined) {
    out.push({
      path: 'spec',
      rule: 'one of runStrategy (Always, RerunOnFailure, Manual, Halted, Once, WaitAsReceiver) or running is required',
    });
  }
  // The template's annotations become the VMI's (render/vmi.ts): the hotplug-ports one is checked there too.
  if (template.metadata?.annotations)
    out.push(...metadataProblems({ annotations: template.metadata.annotations }, 'spec.template.metadata'));
  const ns = template.metadata?.namespace;
  if (ns !== undefined && ns !== env.namespace) {
    out.push({
      path: 'spec.template.metadata.namespace',
      rule: `${shown(ns)} must be the VirtualMachine's namespace "${env.namespace}" (or left out)`,
    });
  }
  out.push(...vmiSpecProblems(template.spec, 'spec.template.spec', specEnv(out, env)));
  return out;
}

/**
 * bootOrder: positive, and unique across disks and interfaces, since it is
 * one ordering of all boot devices (vmi-create-admitter validateBootOrder).
 */
function bootOrderProblems(spec: VmiSpec, at: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  const seen = new Map<number, string>();
  const devices = [
    ...(spec.domain.devices.disks ?? []).map((d, i) => ({
      order: d.bootOrder,
      path: `${index(`${at}.domain.devices.disks`, i)}.bootOrder`,
    })),
    ...(spec.domain.devices.interfaces ?? []).map((f, i) => ({
      order: f.bootOrder,
      path: `${index(`${at}.domain.devices.interfaces`, i)}.bootOrder`,
    })),
  ];
  for (const { order, path } of devices) {
    if (order === undefined) continue;
    if (order < 1) {
      out.push({ path, rule: `must be greater than 0 (is ${order})` });
      continue;
    }
    if (order > MAX_BOOT_ORDER) {
      out.push({ path, rule: `must be at most ${MAX_BOOT_ORDER} (is ${order})` });
      continue;
    }
    const first = seen.get(order);
    if (first !== undefined) out.push({ path, rule: `${order} must be unique; also used by ${first}` });
    else seen.set(order, path);
  }
  return out;
}

/**
 * Disk and volume names are unique and every disk names a volume (vmi-create-admitter validateDisks/validateVolumes).
 */
function diskProblems(spec: VmiSpec, at: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  const volumes = new Map<string, number>();
  (spec.volumes ?? []).forEach((v, i) => {
    const first = volumes.get(v.name);
    if (first !== undefined)
      out.push({
        path: `${index(`${at}.volumes`, i)}.name`,
        rule: `${shown(v.name)} must be unique; also used by ${index(`${at}.volumes`, first)}`,
      });
    else volumes.set(v.name, i);
  });
  const disks = new Map<string, number>();
  (spec.domain.devices.disks ?? []).forEach((d, i) => {
    const p = `${index(`${at}.domain.devices.disks`, i)}.name`;
    const first = disks.get(d.name);
    if (first !== undefined)
      out.push({
        path: p,
        rule: `${shown(d.name)} must be unique; also used by ${index(`${at}.domain.devices.disks`, first)}`,
      });
    else disks.set(d.name, i);
    if (!volumes.has(d.name)) out.push({ path: p, rule: `no volume named ${shown(d.name)} in ${at}.volumes` });
    const kinds = (['disk', 'cdrom', 'lun'] as const).filter((k) => d[k] !== undefined);
    if (kinds.length > 1)
      out.push({
        path: index(`${at}.domain.devices.disks`, i),
        rule: `has ${kinds.join(' and ')}; a disk is one of disk, cdrom or lun`,
      });
  });
  return out;
}

/**
 * KubeVirt's limits for inline cloud-init data (vmi-create-admitter.go
 * cloudInitUserMaxLen, cloudInitNetworkMaxLen: 2048 bytes each, "to allow
 * scaling of config as edits will cause entire object to be distributed to
 * large no of nodes"), counted after base64 decoding, as KubeVirt does.
 */
const CLOUD_INIT_MAX_BYTES = 2048;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/u;

/** Base64 as KubeVirt decodes it: Go's StdEncoding skips CR and LF, so `base64`'s 76-column lines are fine. */
export function unwrapBase64(text: string): string {
  return text.replace(/[\r\n]/gu, '');
}

/**
 * Why `text` is not base64, without echoing it: cloud-init data holds
 * passwords and keys, which an error must not print.
 */
function base64Problem(text: string): string | undefined {
  const b64 = unwrapBase64(text);
  if (BASE64.test(b64)) return undefined;
  const bad = /[^A-Za-z0-9+/=]/u.exec(b64);
  return bad
    ? `is not valid base64: character ${bad.index + 1} (after line breaks are dropped) is not one of A-Z a-z 0-9 + / =`
    : `is not valid base64: ${b64.length} characters, not a whole number of 4-character groups with = only at the end`;
}

function cloudInitProblems(spec: VmiSpec, at: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  (spec.volumes ?? []).forEach((v, i) => {
    for (const source of ['cloudInitNoCloud', 'cloudInitConfigDrive'] as const) {
      const ci = v[source];
      if (!ci) continue;
      const p = `${index(`${at}.volumes`, i)}.${source}`;
      for (const [key, text, base64] of [
        ['userData', ci.userData, false],
        ['userDataBase64', ci.userDataBase64, true],
        ['networkData', ci.networkData, false],
        ['networkDataBase64', ci.networkDataBase64, true],
      ] as const) {
        if (text === undefined) continue;
        const twin = key.endsWith('Base64') ? key.slice(0, -'Base64'.length) : `${key}Base64`;
        if (base64 && (ci as Record<string, unknown>)[twin] !== undefined)
          out.push({ path: `${p}.${key}`, rule: `cannot be used together with ${twin}; give one of the two` });
        const b64Problem = base64 ? base64Problem(text) : undefined;
        if (b64Problem) {
          out.push({ path: `${p}.${key}`, rule: b64Problem });
          continue;
        }
        const bytes = base64 ? Buffer.from(unwrapBase64(text), 'base64').length : Buffer.byteLength(text, 'utf8');
        if (bytes > CLOUD_INIT_MAX_BYTES)
          out.push({
            path: `${p}.${key}`,
            rule:
              `is ${bytes} bytes${base64 ? ' decoded' : ''}; at most ${CLOUD_INIT_MAX_BYTES}, as KubeVirt allows ` +
              `inline`,
          });
      }
    }
  });
  return out;
}

/** The volume sources of KubeVirt's VolumeSource (types.go): a volume has exactly one. */
const VOLUME_SOURCES = [
  'containerDisk',
  'cloudInitNoCloud',
  'cloudInitConfigDrive',
  'hostDisk',
  'persistentVolumeClaim',
  'dataVolume',
  'emptyDisk',
  'ephemeral',
  'secret',
  'configMap',
  'serviceAccount',
  'sysprep',
  'downwardAPI',
  'downwardMetrics',
  'memoryDump',
] as const;

/** KubeVirt's validateVolumes: "must have exactly one source type set". */
function volumeSourceProblems(spec: VmiSpec, at: string): RuleProblem[] {
  return (spec.volumes ?? []).flatMap((v, i) => {
    const set = VOLUME_SOURCES.filter((k) => (v as Record<string, unknown>)[k] !== undefined);
    return set.length > 1
      ? [{ path: index(`${at}.volumes`, i), rule: `has ${set.join(' and ')}; a volume has exactly one source` }]
      : [];
  });
}

/**
 * The buses a disk or cdrom attaches on (KubeVirt's admitter: "Bus type virtio is invalid for CD-ROM device"; QEMU has
 * no virtio cdrom).
 */
const DISK_BUSES: Record<'disk' | 'cdrom', readonly string[]> = {
  disk: ['virtio', 'sata', 'scsi', 'usb'],
  cdrom: ['sata', 'scsi'],
};

function diskBusProblems(spec: VmiSpec, at: string): RuleProblem[] {
  return (spec.domain.devices.disks ?? []).flatMap((d, i) =>
    (['disk', 'cdrom'] as const).flatMap((kind) => {
      const bus = d[kind]?.bus;
      if (bus === undefined || DISK_BUSES[kind].includes(bus)) return [];
      return [
        {
          path: `${index(`${at}.domain.devices.disks`, i)}.${kind}.bus`,
          rule: `${shown(bus)} must be one of ${DISK_BUSES[kind].join(', ')}`,
        },
      ];
    }),
  );
}

/**
 * firmware.bootloader: one of bios and efi. A VMI has at most one cloud-init
 * volume: cloud-init reads one datasource, and two seeds would race for it.
 */
function bootloaderProblems(spec: VmiSpec, at: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  const bl = spec.domain.firmware?.bootloader;
  if (bl?.bios && bl.efi) out.push({ path: `${at}.domain.firmware.bootloader`, rule: 'has bios and efi; choose one' });
  const seeds = (spec.volumes ?? []).flatMap((v, i) => (v.cloudInitNoCloud || v.cloudInitConfigDrive ? [i] : []));
  for (const i of seeds.slice(1))
    out.push({
      path: index(`${at}.volumes`, i),
      rule: `a VMI has at most one cloud-init volume; ${index(`${at}.volumes`, seeds[0]!)} is one already`,
    });
  return out;
}

/** containerDisk: an image reference a registry can answer, and a path inside the image. */
function containerDiskProblems(spec: VmiSpec, at: string): RuleProblem[] {
  return (spec.volumes ?? []).flatMap((v, i) => {
    const cd = v.containerDisk;
    if (!cd) return [];
    const p = `${index(`${at}.volumes`, i)}.containerDisk`;
    const image = imageReferenceProblem(cd.image);
    const path = cd.path === undefined ? undefined : diskPathProblem(cd.path);
    return [
      ...(image ? [{ path: `${p}.image`, rule: image }] : []),
      ...(path ? [{ path: `${p}.path`, rule: path }] : []),
    ];
  });
}

/** Why `value` is not an absolute, normalised path to a file (no `..`, `//` or trailing `/`), or undefined. */
function filePathProblem(value: string): string | undefined {
  if (posix.isAbsolute(value) && posix.normalize(value) === value && !value.endsWith('/')) return undefined;
  return `${shown(value)} must be an absolute, normalised path to a file`;
}

/**
 * hostDisk.path: a file on the node, named as plainly as a kernel path (the node's allowed host paths are checked by
 * virtnet up).
 */
function hostDiskProblems(spec: VmiSpec, at: string): RuleProblem[] {
  return (spec.volumes ?? []).flatMap((v, i) => {
    const problem = v.hostDisk ? filePathProblem(v.hostDisk.path) : undefined;
    return problem ? [{ path: `${index(`${at}.volumes`, i)}.hostDisk.path`, rule: problem }] : [];
  });
}

/**
 * firmware.kernelBoot: KubeVirt's container form needs an image and a
 * kernel or initrd path, absolute; kernelArgs need a kernel ("kernel
 * arguments cannot be provided without an external kernel"). virtnet's `host`
 * form (a kernel file on the node) excludes `container`.
 */
function kernelBootProblems(spec: VmiSpec, at: string): RuleProblem[] {
  const kb = spec.domain.firmware?.kernelBoot;
  if (!kb) return [];
  const out: RuleProblem[] = [];
  const p = `${at}.domain.firmware.kernelBoot`;
  const absolute = (value: string | undefined, path: string) => {
    const problem = value === undefined ? undefined : filePathProblem(value);
    if (problem) out.push({ path, rule: problem });
  };
  if (kb.container && kb.host)
    out.push({ path: `${p}.host`, rule: 'cannot be used together with container; choose one kernel source' });
  if (kb.kernelArgs && !kb.container && !kb.host)
    out.push({ path: `${p}.kernelArgs`, rule: 'kernel arguments need a kernel (container or host)' });
  if (kb.container) {
    if (kb.container.image === '') out.push({ path: `${p}.container.image`, rule: 'must not be empty (is "")' });
    if (!kb.container.kernelPath && !kb.container.initrdPath)
      out.push({ path: `${p}.container`, rule: 'needs kernelPath, initrdPath or both' });
    absolute(kb.container.kernelPath || undefined, `${p}.container.kernelPath`);
    absolute(kb.container.initrdPath || undefined, `${p}.container.initrdPath`);
  }
  if (kb.host) {
    absolute(kb.host.kernelPath, `${p}.host.kernelPath`);
    absolute(kb.host.initrdPath, `${p}.host.initrdPath`);
  }
  return out;
}
