/**
 * The manifest of a pulled image (Docker Image Manifest V2 Schema 2, and
 * the OCI image-spec's manifest.md) and the check of its blobs in the
 * skopeo `dir:` copy: every layer there, with the manifest's size and
 * sha256. Anything else (schema 1, unknown or missing media types,
 * malformed JSON, a list where a manifest belongs) is a "bad manifest".
 *
 * Foreign layers (a descriptor's `urls`, the non-distributable media
 * types: OCI descriptor.md "urls", image-spec layer.md "Non-distributable
 * layers") are refused: containers/image fetches such a layer from
 * whatever URL the manifest names, so an image could make the node send
 * requests anywhere it can reach. A manifest list is resolved here, not
 * by skopeo, so that the instance is parsed, and refused, before any copy.
 */
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';

export const MANIFEST_TYPES = {
  docker: 'application/vnd.docker.distribution.manifest.v2+json',
  oci: 'application/vnd.oci.image.manifest.v1+json',
} as const;

const LIST_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
]);

/** Layer media types and how the layer is compressed; GNU tar reads all three itself. */
const LAYER_TYPES: ReadonlyMap<string, 'none' | 'gzip' | 'zstd'> = new Map([
  ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
  ['application/vnd.oci.image.layer.v1.tar', 'none'],
  ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
  ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
]);

/** Docker's foreign layers and OCI's non-distributable ones (deprecated, still in the wild). */
function isForeignType(mediaType: string): boolean {
  return (
    mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' ||
    mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.')
  );
}

const CONFIG_TYPES = new Set([
  'application/vnd.docker.container.image.v1+json',
  'application/vnd.oci.image.config.v1+json',
]);

export interface Blob {
  mediaType: string;
  /** "sha256:<64 hex>". */
  digest: string;
  size: number;
}

export interface ImageManifest {
  mediaType: string;
  config: Blob;
  layers: Blob[];
}

export class BadManifestError extends VirtnetError {
  constructor(image: string, why: string) {
    super(ErrorCode.decodeFailure, `image ${image}: bad manifest: ${why}`);
  }
}

Object.defineProperty(BadManifestError.prototype, 'name', { value: 'BadManifestError' });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function blob(
  image: string,
  v: unknown,
  what: string,
  types: ReadonlySet<string> | ReadonlyMap<string, unknown>,
): Blob {
  if (!isObject(v)) throw new BadManifestError(image, `${what} is not an object`);
  const { mediaType, digest, size } = v;
  if ('urls' in v)
    throw new BadManifestError(
      image,
      `${what} has urls ${JSON.stringify(v.urls)}: a foreign layer would be fetched from anywhere it names, so it ` +
        `is refused`,
    );
  if (typeof mediaType === 'string' && isForeignType(mediaType)) {
    throw new BadManifestError(
      image,
      `${what} has media type ${mediaType}, a foreign (non-distributable) layer, which is refused`,
    );
  }
  if (typeof mediaType !== 'string' || !types.has(mediaType)) {
    throw new BadManifestError(
      image,
      `${what} has media type ${JSON.stringify(mediaType)}, not one of ${[...types.keys()].join(', ')}`,
    );
  }
  if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/u.test(digest)) {
    throw new BadManifestError(image, `${what} has digest ${JSON.stringify(digest)}, not sha256:<64 hex digits>`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new BadManifestError(image, `${what} has size ${JSON.stringify(size)}, not a byte count`);
  }
  return { mediaType, digest, size };
}

/** Parse manifest bytes; throws BadManifestError naming `image` and what is wrong. */
export function parseManifest(image: string, bytes: Buffer): ImageManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new BadManifestError(image, `not JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) throw new BadManifestError(image, 'not a JSON object');
  if (doc.schemaVersion !== 2)
    throw new BadManifestError(
      image,
      `schemaVersion ${JSON.stringify(doc.schemaVersion)} is not 2 (schema 1 images are not supported)`,
    );
  // OCI manifest.md: mediaType "SHOULD" be set; an OCI manifest without one is still a manifest when it has config and
  // layers.
  const mediaType = doc.mediaType ?? (isObject(doc.config) ? MANIFEST_TYPES.oci : undefined);
  if (typeof mediaType === 'string' && LIST_TYPES.has(mediaType)) {
    throw new BadManifestError(image, `it is a manifest list (${mediaType}) with no instance chosen for this platform`);
  }
  if (mediaType !== MANIFEST_TYPES.docker && mediaType !== MANIFEST_TYPES.oci) {
    throw new BadManifestError(
      image,
      `media type ${JSON.stringify(mediaType)} is not ${MANIFEST_TYPES.docker} or ${MANIFEST_TYPES.oci}`,
    );
  }
  const config = blob(image, doc.config, 'the config', CONFIG_TYPES);
  if (!Array.isArray(doc.layers) || doc.layers.length === 0) throw new BadManifestError(image, 'it has no layers');
  const layers = doc.layers.map((l, i) => blob(image, l, `layer ${i + 1}`, LAYER_TYPES));
  return { mediaType, config, layers };
}

export function blobFile(dir: string, b: Blob): string {
  return join(dir, b.digest.slice('sha256:'.length));
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Every blob the manifest names is in `dir`, a regular file with the manifest's size and digest. */
export async function verifyBlobs(image: string, dir: string, manifest: ImageManifest): Promise<void> {
  for (const [i, b] of [manifest.config, ...manifest.layers].entries()) {
    const what = i === 0 ? 'the config' : `layer ${i}`;
    const file = blobFile(dir, b);
    let st: Stats;
    try {
      st = lstatSync(file);
    } catch {
      throw new BadManifestError(image, `${what} (${b.digest}) was not downloaded`);
    }
    if (!st.isFile()) throw new BadManifestError(image, `${what} (${b.digest}) is not a regular file`);
    if (st.size !== b.size)
      throw new BadManifestError(image, `${what} is ${st.size} bytes, the manifest says ${b.size}`);
    const got = await sha256File(file);
    if (got !== b.digest)
      throw new BadManifestError(image, `${what}'s content has digest ${got}, the manifest says ${b.digest}`);
  }
}

export function isManifestList(bytes: Buffer): boolean {
  try {
    const doc: unknown = JSON.parse(bytes.toString('utf8'));
    return isObject(doc) && typeof doc.mediaType === 'string' && LIST_TYPES.has(doc.mediaType);
  } catch {
    return false;
  }
}

/** The platform of the VMs (QEMU's x86_64 machines): the instance of a manifest list that is pulled. */
export const PLATFORM = { os: 'linux', architecture: 'amd64' } as const;

function platformOf(d: Record<string, unknown>): string {
  const p = isObject(d.platform) ? d.platform : {};
  const variant = typeof p.variant === 'string' ? `/${p.variant}` : '';
  return `${String(p.os ?? '?')}/${String(p.architecture ?? '?')}${variant}`;
}

/**
 * The digest of the linux/amd64 instance of a manifest list (Docker's
 * manifest list, OCI image-spec image-index.md), the first one as
 * containers/image takes it; a list with none, or whose instance
 * descriptor is not a manifest's, is a bad manifest.
 */
export function platformInstance(image: string, bytes: Buffer): string {
  const doc: unknown = JSON.parse(bytes.toString('utf8'));
  if (!isObject(doc) || !Array.isArray(doc.manifests))
    throw new BadManifestError(image, 'the manifest list has no "manifests" array');
  const listed = doc.manifests.filter(isObject);
  const picked = listed.find(
    (d) => isObject(d.platform) && d.platform.os === PLATFORM.os && d.platform.architecture === PLATFORM.architecture,
  );
  if (picked === undefined) {
    throw new BadManifestError(
      image,
      `the manifest list has no ${PLATFORM.os}/${PLATFORM.architecture} instance (it has: ` +
        `${listed.map(platformOf).join(', ') || 'none'})`,
    );
  }
  return blob(
    image,
    picked,
    `the ${PLATFORM.os}/${PLATFORM.architecture} instance`,
    new Set(Object.values(MANIFEST_TYPES)),
  ).digest;
}
