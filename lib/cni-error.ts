/**
 * What a CNI plugin that failed says about it (SPEC.md "Error"): the error
 * JSON `{code, msg, details}` on its stdout; a plugin that wrote none (a
 * crash, a shell script) gets `fallback` (its stderr, libcni raw_exec) and
 * the code of a failed exec. The CNI plugin reads its IPAM delegate's
 * failures with it, netattach its list members'.
 */
import { ErrorCode } from './errors.ts';
import { isObj } from './json.ts';

export interface PluginFailure {
  code: number;
  msg: string;
}

export function pluginFailure(stdout: string, fallback: string): PluginFailure {
  let e: unknown;
  try {
    e = JSON.parse(stdout);
  } catch {
    return { code: ErrorCode.execFailed, msg: fallback };
  }
  if (!isObj(e)) return { code: ErrorCode.execFailed, msg: fallback };
  const code = typeof e.code === 'number' && Number.isInteger(e.code) ? e.code : ErrorCode.execFailed;
  const msg = typeof e.msg === 'string' && e.msg !== '' ? e.msg : undefined;
  const details = typeof e.details === 'string' && e.details !== '' ? e.details : undefined;
  return { code, msg: msg === undefined ? fallback : details === undefined ? msg : `${msg}: ${details}` };
}
