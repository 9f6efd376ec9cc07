/**
 * The ISO9660 driver: a small read-only volume (a cloud-init seed) built
 * with Debian's xorriso in its mkisofs emulation (xorrisofs(1)):
 * `-V` the volume id, `-J` Joliet and `-R` Rock Ridge names, so that the
 * guest sees the files' real names, lower-case and with "-" and "_".
 *
 * The files hold user data, which holds passwords and keys, so nothing is
 * ever readable by others: the files are staged in a 0700 directory of
 * their own next to the output, xorriso writes the image inside it, and the
 * image is made 0600, fsync'd and renamed into place (rename(2) is atomic
 * within one file system), then the directory entry is fsync'd. Whatever
 * fails, the staging directory is removed and the output is either the old
 * file or the whole new one.
 */
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ErrorCode, VirtnetError } from './errors.ts';
import { exec } from './exec.ts';
import { fsyncDir, mkdirPrivate, PRIVATE_FILE_MODE } from './durable.ts';
import { showValue } from './show.ts';

/** A file of the volume: a relative path ("openstack/latest/user_data") and its bytes. */
export interface IsoFile {
  path: string;
  content: Uint8Array;
}

export interface IsoPlan {
  label: string;
  files: readonly IsoFile[];
}

/**
 * ECMA-119 §8.4.13: the volume identifier is 32 characters. Its d-characters
 * are A-Z, 0-9 and "_", but cloud-init looks for `cidata` and `config-2`
 * (blkid LABEL=), which mkisofs writes as given: so lower-case and "-" too.
 */
const LABEL = /^[A-Za-z0-9_-]{1,32}$/u;
/**
 * One part of a path: Joliet keeps names of at most 64 characters
 * (xorrisofs(1), -joliet-long), and only plain characters are needed.
 */
const PATH_PART = /^[A-Za-z0-9._-]{1,64}$/u;
/** xorriso writes a seed of a few KiB in well under a second; this only bounds a hung one. */
const XORRISO_TIMEOUT_MS = 60_000;

function fail(field: string, message: string): never {
  throw new TypeError(`${field}: ${message}`);
}

function checkLabel(label: unknown): void {
  if (typeof label !== 'string' || !LABEL.test(label)) {
    fail('label', `${showValue(label)} must be an ISO9660 volume id: 1 to 32 of A-Z, a-z, 0-9, "_" and "-"`);
  }
}

function checkPath(field: string, path: unknown): void {
  if (typeof path !== 'string' || path.length === 0)
    fail(field, `${showValue(path)} must be a non-empty relative path`);
  if (path.startsWith('/')) fail(field, `${showValue(path)} must be relative to the volume's root`);
  for (const part of path.split('/')) {
    if (part === '') fail(field, `${showValue(path)} has an empty part ("//" or a trailing "/")`);
    if (part === '.' || part === '..') fail(field, `${showValue(path)} must not have a "." or ".." part`);
    if (!PATH_PART.test(part))
      fail(field, `${showValue(path)}: each part must be 1 to 64 of A-Z, a-z, 0-9, ".", "_" and "-"`);
  }
}

/** Every path valid, none twice, and none both a file and another file's directory. */
function checkFiles(files: readonly IsoFile[]): void {
  if (!Array.isArray(files)) fail('files', `${showValue(files)} must be a list`);
  const paths = new Map<string, number>();
  files.forEach((file, i) => {
    checkPath(`files[${i}].path`, file.path);
    if (!(file.content instanceof Uint8Array))
      fail(`files[${i}].content`, `${showValue(file.content)} must be bytes (a Buffer or Uint8Array)`);
    const same = paths.get(file.path);
    if (same !== undefined) fail(`files[${i}].path`, `${showValue(file.path)} is also files[${same}]'s path`);
    paths.set(file.path, i);
  });
  for (const [path, i] of paths) {
    const parts = path.split('/');
    for (let n = 1; n < parts.length; n++) {
      const dir = parts.slice(0, n).join('/');
      const clash = paths.get(dir);
      if (clash !== undefined)
        fail(
          `files[${clash}].path`,
          `${showValue(dir)} is a file, but files[${i}] (${showValue(path)}) needs it as a directory`,
        );
    }
  }
}

/** Write `content` to a new file, mode exactly 0600 (open(2)'s mode is reduced by the umask). */
function writePrivateFile(file: string, content: Uint8Array): void {
  const fd = openSync(file, 'wx', PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
    for (let off = 0; off < content.length; ) off += writeSync(fd, content, off);
  } finally {
    closeSync(fd);
  }
}

function stageFiles(tree: string, files: readonly IsoFile[]): void {
  mkdirPrivate(tree);
  for (const file of files) {
    const target = join(tree, ...file.path.split('/'));
    mkdirPrivate(dirname(target), tree);
    writePrivateFile(target, file.content);
  }
}

/** Make the image 0600 and put it on disk before it takes the output's name. */
function sealImage(image: string): void {
  const fd = openSync(image, 'r+');
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function checkOutputDir(outFile: string): string {
  if (typeof outFile !== 'string' || outFile.length === 0 || outFile.endsWith('/'))
    fail('outFile', `${showValue(outFile)} must be a file path`);
  const dir = dirname(outFile);
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) {
    throw new VirtnetError(
      ErrorCode.ioFailure,
      `ISO ${showValue(outFile)}: its directory ${showValue(dir)} ${stat ? 'is not a directory' : 'does not exist'}`,
    );
  }
  return dir;
}

/**
 * Build an ISO9660 image of `plan.files`, labelled `plan.label`, at
 * `outFile` (mode 0600, replaced atomically). Bad labels and paths throw a
 * TypeError before anything is written; a failing xorriso throws its
 * ExecError (argv, exit code, stderr).
 */
export async function buildIsoImage(plan: IsoPlan, outFile: string): Promise<void> {
  checkLabel(plan.label);
  checkFiles(plan.files);
  const dir = checkOutputDir(outFile);
  // mkdtemp(3) makes the directory 0700 under a name no other writer has.
  const staging = mkdtempSync(join(dir, `.${basename(outFile)}.staging-`));
  try {
    const tree = join(staging, 'tree');
    const image = join(staging, 'image.iso');
    stageFiles(tree, plan.files);
    await exec(['xorriso', '-as', 'mkisofs', '-V', plan.label, '-J', '-R', '-o', image, tree], {
      timeoutMs: XORRISO_TIMEOUT_MS,
    });
    sealImage(image);
    renameSync(image, outFile);
    fsyncDir(dir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
