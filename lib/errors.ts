/**
 * One error type for the whole project. `code` follows the CNI spec's error
 * table (SPEC.md "Error"): 1–11 and 50–51 are the spec's, 100+ are ours.
 */
export const ErrorCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  badEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  notAvailableDegraded: 51,
  /** A child process failed (ip, nft, an IPAM delegate). */
  execFailed: 100,
  /** ADD for an attachment (container id + ifname) that already exists. */
  attachmentExists: 101,
  /** The kernel lacks a feature the configuration asks for. */
  unsupportedByKernel: 102,
  /** CHECK found the attachment different from prevResult (cni/check.ts). */
  checkFailed: 103,
  /** A delegate chain (plugin -> IPAM -> ...) went deeper than the cap: a plugin that delegates to itself. */
  delegateTooDeep: 104,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class VirtnetError extends Error {
  readonly code: number;
  readonly details: string;

  constructor(code: number, message: string, options: { details?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? '';
  }

  /** Prefix the message with context, keeping code and details: "could not X: <msg>". */
  wrap(context: string): VirtnetError {
    return new VirtnetError(this.code, `${context}: ${this.message}`, { details: this.details, cause: this });
  }
}

Object.defineProperty(VirtnetError.prototype, 'name', { value: 'VirtnetError' });

/** Turn anything thrown into a VirtnetError, keeping the original as `cause`. */
export function asVirtnetError(err: unknown, fallbackCode: number = ErrorCode.ioFailure): VirtnetError {
  if (err instanceof VirtnetError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new VirtnetError(fallbackCode, message, { cause: err });
}
