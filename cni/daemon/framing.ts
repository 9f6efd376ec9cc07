/**
 * The shim ↔ daemon framing, version 1 (cni/shim/virtnet-bridge-shim.c
 * speaks the other end). One request and one reply per connection:
 *
 *   request  "VIRTNET-CNI/1 <envBytes> <stdinBytes>\n" env stdin
 *   reply    "VIRTNET-CNI/1 <exitCode> <stdoutBytes> <stderrBytes>\n" stdout stderr
 *
 * env is the shim's whole environ(7), each KEY=VALUE ended by a NUL (what
 * execve(2) gave the plugin, so the daemon sees what an exec'd plugin
 * would). The sizes come first, so the daemon refuses an oversized request
 * before it buffers it, and neither side needs an escaping scheme.
 * A new framing gets a new version token; a peer that reads one it does
 * not know says which it got.
 */

export const FRAMING = 'VIRTNET-CNI/1';
/** Bounds of one request: environ(7) and CNI configs are a few KiB; these leave room for a large prevResult. */
export const MAX_ENV_BYTES = 1024 * 1024;
export const MAX_STDIN_BYTES = 8 * 1024 * 1024;
/** The longest header either side accepts, "\n" included. */
export const MAX_HEADER_BYTES = 128;

export interface RequestHead {
  envBytes: number;
  stdinBytes: number;
  /** Bytes of the header line, "\n" included. */
  headerBytes: number;
}

export class FramingError extends Error {}

/** A decimal count within `max`: digits only, so "1e3", "-1" and " 7" are refused. */
function count(text: string | undefined, max: number, what: string): number {
  if (text === undefined || !/^\d{1,10}$/u.test(text))
    throw new FramingError(`${what}: "${text ?? ''}" is not a count`);
  const n = Number(text);
  if (n > max) throw new FramingError(`${what}: ${n} bytes, more than the ${max} allowed`);
  return n;
}

/** The printable start of what a peer sent instead of our header, for the error that names it. */
function shown(bytes: Buffer): string {
  return JSON.stringify(
    bytes
      .subarray(0, 32)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/gu, '?'),
  );
}

/**
 * The request header at the start of `data`, or undefined while it is still incomplete. Throws FramingError
 * for another version, a malformed line or sizes over the bounds.
 */
export function parseRequestHead(data: Buffer): RequestHead | undefined {
  const end = data.indexOf(0x0a);
  if (end < 0) {
    if (data.length >= MAX_HEADER_BYTES)
      throw new FramingError(`header: no end of line within ${MAX_HEADER_BYTES} bytes`);
    return undefined;
  }
  const [token, env, stdin, ...rest] = data.subarray(0, end).toString('latin1').split(' ');
  if (token !== FRAMING)
    throw new FramingError(`framing: the shim speaks ${shown(data.subarray(0, end))}; this daemon speaks ${FRAMING}`);
  const envBytes = count(env, MAX_ENV_BYTES, 'environment');
  const stdinBytes = count(stdin, MAX_STDIN_BYTES, 'stdin');
  if (rest.length) throw new FramingError('header: more than two counts');
  return { envBytes, stdinBytes, headerBytes: end + 1 };
}

/**
 * The environment of an env block. Entries without "=" are skipped, as getenv(3) would never find them; a later
 * entry of the same name wins, as it does for a shell.
 */
export function parseEnvBlock(block: Buffer): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const entry of block.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** A request as the shim encodes it (tests and the benchmark speak it without the shim). */
export function encodeRequest(env: NodeJS.ProcessEnv, stdin: string | Buffer): Buffer {
  const block = Buffer.from(
    Object.entries(env)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}\0`)
      .join(''),
  );
  const body = typeof stdin === 'string' ? Buffer.from(stdin) : stdin;
  return Buffer.concat([Buffer.from(`${FRAMING} ${block.length} ${body.length}\n`), block, body]);
}

export interface Reply {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function encodeReply({ exitCode, stdout, stderr }: Reply): Buffer {
  const out = Buffer.from(stdout);
  const err = Buffer.from(stderr);
  return Buffer.concat([Buffer.from(`${FRAMING} ${exitCode} ${out.length} ${err.length}\n`), out, err]);
}

/** A whole reply, as the shim reads it; throws FramingError when `data` is not one. */
export function decodeReply(data: Buffer): Reply {
  const end = data.indexOf(0x0a);
  if (end < 0) throw new FramingError('reply: no header line');
  const [token, code, out, err] = data.subarray(0, end).toString('latin1').split(' ');
  if (token !== FRAMING) throw new FramingError(`framing: the daemon speaks ${shown(data.subarray(0, end))}`);
  const outBytes = count(out, MAX_STDIN_BYTES * 2, 'stdout');
  const errBytes = count(err, MAX_STDIN_BYTES * 2, 'stderr');
  const body = data.subarray(end + 1);
  if (body.length !== outBytes + errBytes)
    throw new FramingError(`reply: ${body.length} body bytes, not ${outBytes + errBytes}`);
  return {
    exitCode: count(code, 255, 'exit code'),
    stdout: body.subarray(0, outBytes).toString('utf8'),
    stderr: body.subarray(outBytes).toString('utf8'),
  };
}
