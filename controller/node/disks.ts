/**
 * A VMI's chosen boot (boot.ts) made concrete on this node: the test guest
 * built, containerDisk images pulled into the cache and pinned until the
 * VMI's record names them, and the launcher's disk list. It runs before any
 * network is made, so a pull that fails leaves nothing behind.
 */
import type { BootSpec, CloudInitSpec, DiskSpec } from '../../launcher/spec.ts';
import type { BootChoice } from './boot.ts';
import type { ImageCache } from './images/cache.ts';
import type { Progress } from '../../lib/progress.ts';
import type { ImageUse } from './store.ts';
import { StepError } from './runtime.ts';

export interface ResolvedBoot {
  boot: BootSpec;
  disks: DiskSpec[];
  cloudInit?: Omit<CloudInitSpec, 'instanceId'>;
  images: ImageUse[];
  /** Drop the pins that kept gc off the images; call once the record names them (or the VMI failed). */
  release(): void;
}

export interface ResolveDeps {
  testGuest: () => Promise<{ kernel: string; initrd: string }>;
  images: ImageCache;
  progress?: Progress | undefined;
  /** One line per image, for `up`'s step report. */
  report?: (volume: string, ms: number, detail: string) => void;
}

export async function resolveBoot(choice: BootChoice, deps: ResolveDeps): Promise<ResolvedBoot> {
  const releases: Array<() => void> = [];
  const release = () => releases.splice(0).forEach((r) => r());
  try {
    const disks: DiskSpec[] = [];
    const images: ImageUse[] = [];
    for (const { device, source } of choice.disks) {
      if ('hostFile' in source) {
        disks.push({ ...device, file: source.hostFile, format: source.format });
        continue;
      }
      const t = performance.now();
      // ensure() pins the image for this process until release(): gc keeps it until the record names it.
      const got = await deps.images
        .ensure(
          {
            image: source.image,
            pullPolicy: source.pullPolicy,
            ...(source.path !== undefined && { path: source.path }),
          },
          undefined,
          deps.progress,
        )
        .catch((err: Error) => {
          throw new StepError(`image ${device.name}`, err.message);
        });
      releases.push(got.release);
      images.push({ volume: device.name, reference: source.image, digest: got.image.digest });
      disks.push({ ...device, file: got.image.file, format: got.image.format });
      deps.report?.(
        device.name,
        performance.now() - t,
        `${source.image} ${got.image.digest.slice(0, 19)} (${got.pulled ? 'pulled' : 'cached'})`,
      );
    }
    const b = choice.boot;
    const boot: BootSpec =
      'kernel' in b
        ? b.kernel
        : 'firmware' in b
          ? b.firmware
          : { ...(await deps.testGuest()), cmdline: b.testGuest.cmdline };
    return { boot, disks, ...(choice.cloudInit && { cloudInit: choice.cloudInit }), images, release };
  } catch (err) {
    release();
    throw err;
  }
}
