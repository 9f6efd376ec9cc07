/**
 * containerDisk images for `virtnet up`: ensure() makes an image's disk
 * present in the content-addressed cache (store.ts) by its pull policy, and
 * pins it until the VMI that uses it is recorded; gc() removes what no VMI
 * uses. A pull is skopeo copy into a private temp directory, the manifest
 * parsed and every blob checked against it, the disk found across the
 * layers and extracted alone, decompressed, probed by qemu-img, then
 * committed under the cache lock. Nothing of a failed pull stays behind.
 *
 * The download runs outside the lock (it can take minutes, and gc or other
 * images must not wait for it); two processes pulling one image both
 * download, and the second to commit finds the entry there and keeps it.
 *
 * A short name ("fedora:38") is resolved first by registries.conf's
 * short-name rules (short-names.ts), which skopeo 1.9 does not apply; the
 * entry records both the resolved reference and the one the user wrote.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import { silentProgress, type Progress } from '../../../lib/progress.ts';
import { startTime } from '../../../lib/process.ts';
import { Skopeo, SkopeoError, type SkopeoOptions } from '../../../lib/skopeo.ts';
import { decompress, probeDisk } from './disk.ts';
import { whileGrowing } from './growth.ts';
import { extractMember, findDisk } from './layers.ts';
import {
  BadManifestError,
  blobFile,
  isManifestList,
  parseManifest,
  platformInstance,
  verifyBlobs,
  type ImageManifest,
} from './manifest.ts';
import { DEFAULT_MAX_DISK_BYTES, ensureSpace, type SpaceLimits } from './space.ts';
import {
  defaultPullPolicy,
  diskPathProblem,
  imageReferenceProblem,
  referenceDigest,
  repositoryOf,
  type PullPolicy,
} from './reference.ts';
import { describeResolution, resolveImage } from './short-names.ts';
import { ImageStore, pinHolderProblem, servesPath, type CachedImage, type Junk } from './store.ts';

export type { CachedImage, Junk } from './store.ts';

export interface ContainerDiskRequest {
  image: string;
  /** Default: Kubernetes' rule for the tag (defaultPullPolicy). */
  pullPolicy?: PullPolicy;
  /** containerDisk.path; default: the one regular file under /disk. */
  path?: string;
}

export interface EnsuredImage {
  image: CachedImage;
  /** Whether this call downloaded it. */
  pulled: boolean;
  /** Ends the pin; until then (or this process's death) gc keeps the image. */
  release(): void;
}

/** The process a pin holds for: its pid with its start time (lib/process.ts startTime) names it for good. */
export interface Pin {
  pid: number;
  start: string;
}

/** This process, as a pin holder. */
export function ownPin(): Pin {
  return { pid: process.pid, start: startTime(process.pid) ?? '' };
}

export interface ImageCacheOptions {
  /** The cache root; `virtnet up` uses /var/cache/virtnet/images. */
  root: string;
  /** skopeo settings (registries.conf, auth file), or a Skopeo to use. */
  skopeo?: Skopeo | SkopeoOptions;
  /** How long to wait for another process holding the cache lock. */
  lockWaitMs?: number;
  /** The largest disk a pull may extract or decompress to (default 256 GiB): a few KiB of xz can expand to any size. */
  maxDiskBytes?: number;
  /** Bytes of the cache's file system a pull must leave free; default the smaller of 1 GiB and 5% of it. */
  reserveBytes?: number;
}

export class NotCachedError extends VirtnetError {
  constructor(image: string) {
    super(ErrorCode.invalidConfig, `image ${image} is not in the cache and imagePullPolicy is Never`);
  }
}

Object.defineProperty(NotCachedError.prototype, 'name', { value: 'NotCachedError' });

const POLICIES: readonly PullPolicy[] = ['Always', 'IfNotPresent', 'Never'];

function checkRequest(req: ContainerDiskRequest): PullPolicy {
  const imageProblem = imageReferenceProblem(req.image);
  if (imageProblem !== undefined)
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `containerDisk.image ${JSON.stringify(req.image)}: ${imageProblem}`,
    );
  if (req.path !== undefined) {
    const pathProblem = diskPathProblem(req.path);
    if (pathProblem !== undefined)
      throw new VirtnetError(ErrorCode.invalidConfig, `containerDisk.path ${JSON.stringify(req.path)}: ${pathProblem}`);
  }
  if (req.pullPolicy !== undefined && !POLICIES.includes(req.pullPolicy)) {
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `containerDisk.imagePullPolicy ${JSON.stringify(req.pullPolicy)} must be one of ${POLICIES.join(', ')}`,
    );
  }
  return req.pullPolicy ?? defaultPullPolicy(req.image);
}

function totalOf(manifest: ImageManifest): number {
  return [manifest.config, ...manifest.layers].reduce((n, b) => n + b.size, 0);
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The registry's current state of a reference: the digest it resolves to and, for a list, the instance pulled. */
interface Remote {
  /** What the reference resolves to now: a manifest's digest, or a manifest list's. */
  digest: string;
  list: boolean;
  /** The manifest pulled: `digest` itself, or the list's linux/amd64 instance. */
  instance: string;
  /** Bytes to download. */
  total: number;
}

export class ImageCache {
  readonly store: ImageStore;
  private readonly skopeo: Skopeo;
  /** The registries.conf skopeo is given: short names resolve by the same files (short-names.ts). */
  private readonly registriesConf: string | undefined;
  private readonly limits: SpaceLimits;

  constructor(options: ImageCacheOptions) {
    this.store = new ImageStore(options.root, options.lockWaitMs);
    const maxDiskBytes = options.maxDiskBytes ?? DEFAULT_MAX_DISK_BYTES;
    if (!Number.isSafeInteger(maxDiskBytes) || maxDiskBytes <= 0)
      throw new TypeError(`maxDiskBytes must be a positive byte count, not ${String(options.maxDiskBytes)}`);
    const reserve = options.reserveBytes;
    if (reserve !== undefined && (!Number.isSafeInteger(reserve) || reserve < 0))
      throw new TypeError(`reserveBytes must be a byte count, not ${String(reserve)}`);
    this.limits = { root: options.root, maxDiskBytes, ...(reserve !== undefined && { reserveBytes: reserve }) };
    this.skopeo = options.skopeo instanceof Skopeo ? options.skopeo : new Skopeo(options.skopeo);
    // A ready-made Skopeo keeps its options private (lib/skopeo.ts): short names then resolve by the standard files.
    this.registriesConf = options.skopeo instanceof Skopeo ? undefined : options.skopeo?.registriesConf;
  }

  list(): CachedImage[] {
    return this.store.list();
  }

  junk(): Junk[] {
    return this.store.junk();
  }

  /**
   * Remove the images not in use and not pinned (store.ts gc). Give `inUse`
   * as a function: it is called under the cache lock, after the pins are
   * read, so that a VMI recorded as its pin is released is never missed.
   */
  gc(inUse: (() => ReadonlySet<string>) | ReadonlySet<string>): Promise<CachedImage[]> {
    return this.store.gc(inUse);
  }

  /**
   * Make `req`'s disk present in the cache, by its pull policy, and pin it
   * for `pin` (default: this process) until release() or that process's end.
   */
  async ensure(
    req: ContainerDiskRequest,
    pin: Pin = ownPin(),
    progress: Progress = silentProgress,
  ): Promise<EnsuredImage> {
    const policy = checkRequest(req);
    const holder = pinHolderProblem(pin);
    if (holder !== undefined) throw new TypeError(holder);
    // skopeo 1.9 ignores registries.conf's short-name rules, so they are applied here; the cache is keyed by the
    // resolved names.
    const resolved = resolveImage(req.image, this.registriesConf);
    if (resolved.via !== 'fully-qualified') progress.step(describeResolution(req.image, resolved));
    const targets = resolved.candidates.map((image) => ({ ...req, image }));
    if (policy !== 'Always') {
      // A digest names content: any entry with it serves, whatever name pulled it.
      const pinned = referenceDigest(req.image);
      for (const target of targets) {
        const cached = await this.reuse(
          target,
          req.image,
          pin,
          (i) =>
            i.references.includes(target.image) ||
            (pinned !== undefined && (i.digest === pinned || i.indexDigests.includes(pinned))),
        );
        if (cached) return cached;
      }
      if (policy === 'Never')
        throw new NotCachedError(
          resolved.via === 'fully-qualified' ? req.image : `${req.image} (${resolved.candidates.join(', ')})`,
        );
    }
    const { target, remote } = await this.inspectFirst(req.image, targets, progress);
    const current = await this.reuse(
      target,
      req.image,
      pin,
      (i) => i.digest === remote.instance || i.indexDigests.includes(remote.digest),
      remote,
    );
    if (current) return current;
    return this.pull(target, req.image, pin, remote, progress);
  }

  /**
   * The first target its registry has, with the registry's state of it.
   * Several targets are the search registries of the permissive or disabled
   * short-name mode, tried in order as containers/image tries its pull
   * candidates; a failure that is not skopeo's, or of the only target, is thrown.
   */
  private async inspectFirst(
    wrote: string,
    targets: ContainerDiskRequest[],
    progress: Progress,
  ): Promise<{ target: ContainerDiskRequest; remote: Remote }> {
    const failures: string[] = [];
    for (const target of targets) {
      progress.step(`checking ${target.image} in its registry`);
      try {
        return { target, remote: await this.inspect(target.image) };
      } catch (err) {
        if (!(err instanceof SkopeoError) || targets.length === 1) throw err;
        failures.push(err.message);
      }
    }
    throw new VirtnetError(
      ErrorCode.execFailed,
      `image ${wrote}: no unqualified-search registry serves it: ${failures.join('; ')}`,
    );
  }

  /**
   * The reference's manifest, parsed: a manifest list is resolved to its
   * linux/amd64 instance here (not by skopeo copy), and that instance
   * inspected by digest and parsed, so that a foreign layer's urls are
   * refused before anything is fetched.
   */
  private async inspect(image: string): Promise<Remote> {
    const bytes = await this.skopeo.inspectRaw(image);
    const digest = sha256(bytes);
    if (!isManifestList(bytes)) {
      const manifest = parseManifest(image, bytes);
      return { digest, list: false, instance: digest, total: totalOf(manifest) };
    }
    const instance = platformInstance(image, bytes);
    const instanceBytes = await this.skopeo.inspectRaw(`${repositoryOf(image)}@${instance}`);
    if (sha256(instanceBytes) !== instance)
      throw new BadManifestError(
        image,
        `the registry served ${sha256(instanceBytes)} for the list's instance ${instance}`,
      );
    return { digest, list: true, instance, total: totalOf(parseManifest(image, instanceBytes)) };
  }

  /** Under the lock: the cached image `match` picks for this request, with the references recorded and a pin. */
  private reuse(
    req: ContainerDiskRequest,
    wrote: string,
    pin: Pin,
    match: (i: CachedImage) => boolean,
    remote?: Remote,
  ): Promise<EnsuredImage | undefined> {
    return this.store.locked(() => {
      const found = this.store.list().find((i) => servesPath(i, req.path) && match(i));
      if (found === undefined) return undefined;
      const image = this.record(found, req, wrote, remote?.list ? remote.digest : undefined);
      return { image, pulled: false, release: this.store.pin(image.entry, pin) };
    });
  }

  /**
   * Under the lock: record the resolved reference and, for a short name, the
   * one the user wrote (what `virtnet images` shows), most recent last.
   */
  private record(
    image: CachedImage,
    req: ContainerDiskRequest,
    wrote: string,
    indexDigest: string | undefined,
  ): CachedImage {
    const named = this.store.addReference(image, req.image, req.path, indexDigest);
    return wrote === req.image ? named : this.store.addReference(named, wrote, req.path, indexDigest);
  }

  /** Pull `req.image` (resolved); `wrote` is the reference as the user gave it. */
  private async pull(
    req: ContainerDiskRequest,
    wrote: string,
    pin: Pin,
    remote: Remote,
    progress: Progress,
  ): Promise<EnsuredImage> {
    const staging = await this.store.tempDir();
    try {
      ensureSpace(req.image, this.limits, remote.total, `downloading ${req.image}`);
      const copy = join(staging, 'copy');
      progress.step(`pulling ${req.image}`);
      // By the digest just inspected and parsed, not by the tag: a tag that moves meanwhile cannot pair one digest with
      // another's content.
      const source = `${repositoryOf(req.image)}@${remote.instance}`;
      await whileGrowing(copy, progress.bytes(`pull ${req.image}`, remote.total), () =>
        this.skopeo.copyToDir(req.image, copy, source),
      );
      const manifestBytes = readFileSync(join(copy, 'manifest.json'));
      const digest = sha256(manifestBytes);
      if (digest !== remote.instance)
        throw new BadManifestError(req.image, `the copy holds manifest ${digest}, not ${remote.instance} as inspected`);
      const pinned = referenceDigest(req.image);
      if (pinned !== undefined && pinned !== digest && pinned !== remote.digest) {
        throw new BadManifestError(req.image, `the registry served ${digest}, not the digest the reference names`);
      }
      const manifest = parseManifest(req.image, manifestBytes);
      progress.step(`verifying ${manifest.layers.length} layer(s) of ${req.image}`);
      await verifyBlobs(req.image, copy, manifest);
      const layers = manifest.layers.map((l) => blobFile(copy, l));
      const member = await findDisk(req.image, layers, req.path);
      const into = join(staging, 'extract');
      mkdirSync(into, { mode: 0o700 });
      const extracted = await extractMember(
        req.image,
        layers[member.entry.layer]!,
        member,
        into,
        this.limits,
        progress,
      );
      // The layers are no longer needed: free their space before decompressing.
      rmSync(copy, { recursive: true, force: true });
      const disk = await decompress(req.image, extracted, this.limits, progress);
      progress.step(`checking the disk of ${req.image} with qemu-img`);
      const info = await probeDisk(req.image, disk);
      const indexDigests = remote.list ? [remote.digest] : [];
      const staged = this.store.stage(staging, disk, {
        digest,
        indexDigests,
        references: [],
        diskPath: member.path,
        onlyDisk: member.only,
        format: info.format,
        size: statSync(disk).size,
        virtualSize: info.virtualSize,
        pulledAt: new Date().toISOString(),
      });
      return await this.store.locked(() => {
        const committed = this.store.commit(staged);
        const image = this.record(committed, req, wrote, indexDigests[0]);
        progress.step(`${req.image} is cached as ${image.digest} (${image.format})`);
        return { image, pulled: true, release: this.store.pin(image.entry, pin) };
      });
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
}
