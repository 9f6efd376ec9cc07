/**
 * Delegate chains, bounded. A plugin that runs a delegate (the IPAM plugin,
 * or netattach's list members) marks the child's environment with its own
 * depth plus one; every exec counts, VERSION probes included. A chain that
 * loops (a plugin delegating to itself, under its own name, a copy or a
 * symlink) then stops after a few levels with a clear error, instead of
 * forking until the node runs out of processes.
 */
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { FRAMING } from './daemon/framing.ts';

export const DELEGATE_DEPTH_ENV = 'VIRTNET_DELEGATE_DEPTH';
/**
 * The deepest legitimate chain is runtime -> netattach -> virtnet-bridge ->
 * IPAM (depth 2 at the IPAM); 4 leaves room for one more wrapping layer.
 */
export const MAX_DELEGATE_DEPTH = 4;

/** The depth this process runs at: 0 when the runtime ran it directly. */
export function delegateDepth(env: NodeJS.ProcessEnv): number {
  const text = env[DELEGATE_DEPTH_ENV];
  if (text === undefined || text === '') return 0;
  if (!/^\d{1,3}$/u.test(text)) {
    throw new VirtnetError(
      ErrorCode.badEnvironment,
      `${DELEGATE_DEPTH_ENV}: "${text}" must be a small non-negative integer`,
    );
  }
  return Number(text);
}

/** Refuse to run deeper than the cap; checked before anything else. */
export function requireDepthWithinCap(env: NodeJS.ProcessEnv): void {
  const depth = delegateDepth(env);
  if (depth > MAX_DELEGATE_DEPTH) {
    throw new VirtnetError(
      ErrorCode.delegateTooDeep,
      `${DELEGATE_DEPTH_ENV}: delegate chain is ${depth} levels deep, more than the cap of ${MAX_DELEGATE_DEPTH}; ` +
        `a plugin is delegating to itself`,
    );
  }
}

/**
 * The environment for a delegate's exec: `base` (the caller's environment) plus `overrides`, one level deeper than
 * the caller. The depth is read from `base`, not from process.env: in the resident daemon one process serves many
 * callers, each at its own depth.
 */
export function delegateEnv(base: NodeJS.ProcessEnv, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...base, ...overrides, [DELEGATE_DEPTH_ENV]: String(delegateDepth(base) + 1) };
}

/** This plugin's own file (in dist/ the bundle, under tsx this module). */
export function ownExecutable(): string {
  return fileURLToPath(import.meta.url);
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** The shim is small; a bigger file (a Go IPAM plugin is several MiB) is never read for its marker. */
const MAX_SHIM_BYTES = 1024 * 1024;
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/**
 * Whether `binary` is the virtnet-bridge shim (cni/shim), under any name and in any copy: a small ELF file that
 * holds the framing's token. Whatever runs behind it (the daemon or this Node plugin) is this plugin.
 */
export function isShim(binary: string, size = sizeOf(binary)): boolean {
  if (size > MAX_SHIM_BYTES) return false;
  try {
    const bytes = readFileSync(binary);
    return bytes.subarray(0, 4).equals(ELF_MAGIC) && bytes.includes(FRAMING);
  } catch {
    return false;
  }
}

/**
 * Whether `binary` is this very plugin under another name: a symlink or a
 * hard link to it, i.e. the same inode once symlinks are followed (stat(2)),
 * or the shim that runs it. A copy of the Node plugin is not caught here;
 * the depth cap stops it.
 */
export function isSelf(binary: string, self: string = ownExecutable()): boolean {
  try {
    const a = statSync(binary);
    const b = statSync(self);
    return (a.ino === b.ino && a.dev === b.dev) || isShim(binary, a.size);
  } catch {
    return false;
  }
}

/** Bound what a delegate's stderr adds to our log: nested chains must not multiply it. */
export const MAX_LOGGED_STDERR = 4096;

export function boundedStderr(stderr: string): string {
  const t = stderr.trim();
  return t.length <= MAX_LOGGED_STDERR
    ? t
    : `${t.slice(0, MAX_LOGGED_STDERR)}… (${t.length - MAX_LOGGED_STDERR} more characters)`;
}
