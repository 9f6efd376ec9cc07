/**
 * What a VMI boots from, and which disks it gets, chosen from its spec: a
 * kernel (kernelBoot.host, virtnet's extension), or firmware (SeaBIOS, or
 * OVMF for firmware.bootloader.efi) booting its disks by bootOrder. Disks
 * are hostDisk files, containerDisk images (pulled into the node's cache by
 * `virtnet up`, node/images/cache.ts) and at most one cloud-init seed, which the
 * launcher builds. A VMI with neither a kernel nor a disk gets the project's
 * test guest. Sources that need a cluster's storage (PVCs, DataVolumes,
 * secrets) are valid spec but cannot run here, and say so.
 *
 * KubeVirt's defaults are followed: a volume without a disk gets a virtio
 * disk (SetDefaults_VirtualMachineInstance), a cdrom's bus is sata, and
 * secureBoot defaults to true under efi.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../lib/exec.ts';
import { silentProgress, type Progress } from '../../lib/progress.ts';
import type { CloudInitSpec, DiskSpec, FirmwareBootSpec, KernelBootSpec } from '../../launcher/spec.ts';
import { defaultPullPolicy } from './images/reference.ts';
import { ovmfFiles } from '../../launcher/domain/firmware.ts';
import type { Problem } from '../api/manifests.ts';
import type { PULL_POLICIES, VmiDisk, VmiSpec, VmiVolume } from '../api/schema.ts';
import { unwrapBase64 } from '../api/rules.ts';
import { dhcpHostname } from '../../lib/dnsmasq-values.ts';
import { guestDir, rememberGuest, rememberedGuest } from './guest-memo.ts';

type PullPolicy = (typeof PULL_POLICIES)[number];

export const TEST_GUEST_CMDLINE = 'console=ttyS0 quiet panic=-1';

export type DiskDevice = Omit<DiskSpec, 'file' | 'format'>;
export type ImageSource = { image: string; pullPolicy: PullPolicy; path?: string };
export type DiskSource = { hostFile: string; format: 'qcow2' | 'raw' } | ImageSource;
export interface ChosenDisk {
  device: DiskDevice;
  source: DiskSource;
}

/** A VMI's boot, before its images are pulled and its uid is known. */
export interface BootChoice {
  boot: { kernel: KernelBootSpec } | { testGuest: { cmdline: string } } | { firmware: FirmwareBootSpec };
  disks: ChosenDisk[];
  cloudInit?: Omit<CloudInitSpec, 'instanceId'>;
}

type BootFields = Pick<VmiSpec, 'domain' | 'volumes' | 'hostname'>;

export interface BootOptions {
  /** false for the cluster controller: node files live on the nodes, not beside it, and it has no image cache. */
  onNode?: boolean;
  /** The VMI's name: with spec.hostname, it gives cloud-init's local-hostname. */
  vmiName?: string;
}

/** QEMU's qcow2 magic, "QFI\xfb" (docs/interop/qcow2.txt); anything else boots as raw. */
function imageFormat(path: string): 'qcow2' | 'raw' {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    return head.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ? 'qcow2' : 'raw';
  } finally {
    closeSync(fd);
  }
}

function localFileProblem(path: string, field: string): Problem | undefined {
  if (!path.startsWith('/')) return { path: field, rule: `${path} must be an absolute path` };
  if (!existsSync(path)) return { path: field, rule: `${path} does not exist` };
  if (!statSync(path).isFile()) return { path: field, rule: `${path} is not a regular file` };
  return undefined;
}

const UNUSABLE = [
  'persistentVolumeClaim',
  'dataVolume',
  'ephemeral',
  'emptyDisk',
  'secret',
  'configMap',
  'serviceAccount',
  'sysprep',
  'downwardAPI',
  'downwardMetrics',
  'memoryDump',
];
const CLOUD_INIT = ['cloudInitNoCloud', 'cloudInitConfigDrive'] as const;
/** KubeVirt's secret forms of cloud-init data (CloudInitNoCloudSource): they need the cluster's secrets. */
const SECRET_REFS = ['secretRef', 'networkDataSecretRef'];

class Choosing {
  readonly problems: Problem[] = [];
  readonly disks: ChosenDisk[] = [];
  cloudInit?: Omit<CloudInitSpec, 'instanceId'>;

  constructor(
    readonly spec: BootFields,
    readonly base: string,
    readonly o: BootOptions,
  ) {}

  problem(path: string, rule: string): void {
    this.problems.push({ path: `${this.base}.${path}`, rule });
  }

  /** The device a volume attaches as: its disk entry, or KubeVirt's default virtio disk (buses: rules.ts). */
  device(volume: string, disk: VmiDisk | undefined, at: string): DiskDevice | undefined {
    if (disk?.lun)
      return void this.problem(
        `${at}.lun`,
        `virtnet attaches files, not SCSI LUNs; use disk or cdrom for volume "${volume}"`,
      );
    const cdrom = disk?.cdrom !== undefined;
    const bus = (cdrom ? disk.cdrom?.bus : disk?.disk?.bus) ?? (cdrom ? 'sata' : 'virtio');
    return {
      name: volume,
      device: cdrom ? 'cdrom' : 'disk',
      bus: bus as DiskDevice['bus'],
      ...(disk?.bootOrder !== undefined && { bootOrder: disk.bootOrder }),
    };
  }

  volume(v: VmiVolume, i: number, disk: VmiDisk | undefined, diskAt: string): void {
    const at = `volumes[${i}]`;
    const unusable = UNUSABLE.find((k) => k in v);
    if (unusable) {
      this.problem(
        `${at}.${unusable}`,
        `virtnet cannot provide ${unusable} volume "${v.name}" on this node; use a hostDisk or containerDisk volume`,
      );
      return;
    }
    const device = this.device(v.name, disk, diskAt);
    if (!device) return;
    const source = CLOUD_INIT.find((k) => v[k] !== undefined);
    if (v.hostDisk) this.hostDisk(v.hostDisk.path, device, `${at}.hostDisk.path`);
    else if (v.containerDisk) this.containerDisk(v.containerDisk, device, `${at}.containerDisk`);
    else if (source) this.cloudInitVolume(v, source, device, `${at}.${source}`);
    else
      this.problem(
        at,
        `volume "${v.name}" has no source virtnet knows (hostDisk, containerDisk, cloudInitNoCloud, ` +
          `cloudInitConfigDrive)`,
      );
  }

  hostDisk(path: string, device: DiskDevice, field: string): void {
    const onNode = this.o.onNode !== false;
    const problem = onNode ? localFileProblem(path, `${this.base}.${field}`) : undefined;
    if (problem) {
      this.problems.push(problem);
      return;
    }
    const format = onNode ? imageFormat(path) : path.endsWith('.qcow2') ? 'qcow2' : 'raw';
    this.disks.push({ device, source: { hostFile: path, format } });
  }

  containerDisk(cd: NonNullable<VmiVolume['containerDisk']>, device: DiskDevice, field: string): void {
    if (this.o.onNode === false) {
      this.problem(
        field,
        'containerDisk volumes are pulled ' +
          "by `virtnet up` into its node's " +
          'image cache; the cluster ' +
          'controller cannot provide them yet',
      );
      return;
    }
    const pullPolicy: PullPolicy = cd.imagePullPolicy ?? defaultPullPolicy(cd.image);
    this.disks.push({
      device,
      source: { image: cd.image, pullPolicy, ...(cd.path !== undefined && { path: cd.path }) },
    });
  }

  cloudInitVolume(v: VmiVolume, source: (typeof CLOUD_INIT)[number], device: DiskDevice, field: string): void {
    const ci = v[source] as Record<string, unknown> & NonNullable<VmiVolume['cloudInitNoCloud']>;
    for (const ref of SECRET_REFS) {
      if (ci[ref] !== undefined)
        this.problem(
          `${field}.${ref}`,
          `${ref} is not available in standalone mode (there are no Kubernetes secrets); put the data inline ` +
            `(userData, networkData or their Base64 forms)`,
        );
    }
    // A second cloud-init volume is refused by admission (rules.ts).
    if (this.cloudInit) return;
    const base64 = (text?: string, b64?: string) =>
      b64 !== undefined
        ? unwrapBase64(b64)
        : text === undefined
          ? undefined
          : Buffer.from(text, 'utf8').toString('base64');
    const userDataBase64 = base64(ci.userData, ci.userDataBase64);
    const networkDataBase64 = base64(ci.networkData, ci.networkDataBase64);
    this.cloudInit = {
      kind: source === 'cloudInitNoCloud' ? 'noCloud' : 'configDrive',
      disk: device,
      // The name DHCP hands out too: spec.hostname, else the name's first label (KubeVirt's rule).
      hostname: dhcpHostname(this.o.vmiName ?? 'vm', this.spec.hostname),
      ...(userDataBase64 !== undefined && { userDataBase64 }),
      ...(networkDataBase64 !== undefined && { networkDataBase64 }),
    };
  }

  firmware(): FirmwareBootSpec | undefined {
    const bootloader = this.spec.domain.firmware?.bootloader;
    if (!bootloader?.efi) return { firmware: 'bios' };
    const secureBoot = bootloader.efi.secureBoot ?? true;
    const missing = this.o.onNode === false ? undefined : ovmfFiles(secureBoot).missing;
    if (missing)
      return void this.problem(
        'domain.firmware.bootloader.efi',
        `needs OVMF, Debian's package ovmf: ${missing} is not installed`,
      );
    return { firmware: 'efi', secureBoot };
  }

  kernel(): KernelBootSpec | undefined {
    const kb = this.spec.domain.firmware?.kernelBoot;
    if (!kb) return undefined;
    const field = 'domain.firmware.kernelBoot';
    if (!kb.host)
      return void this.problem(
        field,
        'virtnet needs kernelBoot.host (a kernel on this node); kernelBoot.container needs a registry',
      );
    if (this.spec.domain.firmware?.bootloader?.efi)
      this.problem(
        'domain.firmware.bootloader.efi',
        'virtnet boots kernelBoot.host directly, without firmware; drop bootloader.efi or kernelBoot',
      );
    const onNode = this.o.onNode !== false;
    const k = onNode ? localFileProblem(kb.host.kernelPath, `${this.base}.${field}.host.kernelPath`) : undefined;
    const r =
      onNode && kb.host.initrdPath !== undefined
        ? localFileProblem(kb.host.initrdPath, `${this.base}.${field}.host.initrdPath`)
        : undefined;
    this.problems.push(...[k, r].flatMap((p) => p ?? []));
    return {
      kernel: kb.host.kernelPath,
      ...(kb.host.initrdPath && { initrd: kb.host.initrdPath }),
      cmdline: kb.kernelArgs ?? TEST_GUEST_CMDLINE,
    };
  }
}

/**
 * The boot of one VMI spec; `base` is its field path ("spec" or
 * "spec.template.spec"). Every problem is reported, with its field.
 */
export function chooseBoot(
  spec: BootFields,
  base: string,
  o: BootOptions = {},
): { choice?: BootChoice; problems: Problem[] } {
  const c = new Choosing(spec, base, o);
  const disks = spec.domain.devices.disks ?? [];
  (spec.volumes ?? []).forEach((v, i) => {
    const d = disks.findIndex((x) => x.name === v.name);
    c.volume(v, i, disks[d], d >= 0 ? `domain.devices.disks[${d}]` : `volumes[${i}]`);
  });
  const kernel = c.kernel();
  const firmware = kernel ? undefined : c.firmware();
  if (c.problems.length) return { problems: c.problems };
  const boot: BootChoice['boot'] = kernel
    ? { kernel }
    : c.disks.length
      ? { firmware: firmware! }
      : { testGuest: { cmdline: spec.domain.firmware?.kernelBoot?.kernelArgs ?? TEST_GUEST_CMDLINE } };
  return { problems: [], choice: { boot, disks: c.disks, ...(c.cloudInit && { cloudInit: c.cloudInit }) } };
}

/** scripts/build-guest.sh: a cache check, or a build; the directory it printed last. */
async function checkOrBuildGuest(projectDir: string, out: string, progress: Progress): Promise<string> {
  const r = await exec(['bash', join(projectDir, 'scripts', 'build-guest.sh')], {
    timeoutMs: 900_000,
    // A cache hit is no news; the steps of a real build are.
    onStderrLine: (l) => (/: cache hit/u.test(l) ? undefined : progress.step(l)),
  });
  const printed = r.stdout.trim().split('\n').at(-1) ?? '';
  rememberGuest(projectDir, out, printed);
  return printed;
}

/**
 * Build (or reuse, cached by its recipe hash) the test guest; returns its
 * files. The build's steps go to `progress` as they happen: a first build
 * takes minutes, and must not be silent.
 */
export async function testGuest(
  projectDir: string,
  progress: Progress = silentProgress,
): Promise<{ kernel: string; initrd: string }> {
  const out = guestDir();
  const dir = rememberedGuest(projectDir, out) ?? (await checkOrBuildGuest(projectDir, out, progress));
  return { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img') };
}
