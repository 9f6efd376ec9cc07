/**
 * The plugin skeleton: environment and stdin in, exactly one JSON document
 * out. Errors are the spec's {cniVersion, code, msg, details} on stdout with
 * a non-zero exit (SPEC.md "Error"); logs never touch stdout.
 */
import { asVirtnetError, ErrorCode, VirtnetError } from '../lib/errors.ts';
import { countingChildren } from '../lib/exec.ts';
import { readEnv, type CniEnv } from './env.ts';
import { parseConfig } from './config.ts';
import { createLog, type Log } from './log.ts';
import { convertResult, LATEST_VERSION, requireVerbAllowed, SUPPORTED_VERSIONS } from './version.ts';
import { cmdAdd } from './add.ts';
import { cmdDel } from './del.ts';
import { cmdCheck } from './check.ts';
import { cmdGc } from './gc.ts';
import { cmdStatus } from './status.ts';
import { requireDepthWithinCap } from './delegate.ts';
import { checkPolicy, loadPolicy } from './policy.ts';

export const ABOUT = 'virtnet-bridge: VM-ready bridge CNI plugin';

export interface PluginOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

function versionFromStdin(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v ? v : LATEST_VERSION;
  } catch {
    return LATEST_VERSION;
  }
}

/** How runPlugin is called: exec'd (its log on stderr) or in the daemon (its log in the reply's stderr). */
export interface PluginCall {
  /** Collect the lines an exec'd plugin would write to stderr, and return them as PluginOutput.stderr. */
  captureStderr?: boolean;
}

async function dispatch(
  env: CniEnv,
  processEnv: NodeJS.ProcessEnv,
  stdin: string,
  onLog: (log: Log) => void,
  stderrSink: ((line: string) => void) | undefined,
): Promise<string> {
  if (env.verb === 'VERSION') {
    return JSON.stringify({ cniVersion: versionFromStdin(stdin), supportedVersions: SUPPORTED_VERSIONS });
  }
  const conf = parseConfig(stdin, env.args);
  // Every host path the config names, the log file included, and its IPAM plugin are held against the node admin's
  // policy before they are used.
  const policy = loadPolicy(processEnv);
  checkPolicy(conf, policy);
  const log = createLog(
    { verb: env.verb, network: conf.name },
    {
      ...(conf.logFile && { logFile: conf.logFile }),
      ...(conf.logLevel && { level: conf.logLevel }),
      maxBytes: policy.maxLogBytes,
      ...(stderrSink && { write: stderrSink }),
    },
  );
  onLog(log);
  switch (env.verb) {
    case 'ADD':
      return JSON.stringify(convertResult(await cmdAdd(conf, env, log, policy), conf.cniVersion));
    case 'DEL':
      await cmdDel(conf, env, log, policy);
      return '';
    case 'CHECK':
      requireVerbAllowed('CHECK', conf.cniVersion);
      await cmdCheck(conf, env, log, policy);
      return '';
    case 'GC':
      requireVerbAllowed('GC', conf.cniVersion);
      await cmdGc(conf, env, log, policy);
      return '';
    case 'STATUS':
      requireVerbAllowed('STATUS', conf.cniVersion);
      await cmdStatus(conf, env, log, policy);
      return '';
  }
}

export async function runPlugin(
  processEnv: NodeJS.ProcessEnv,
  stdin: string,
  call: PluginCall = {},
): Promise<PluginOutput> {
  if (!processEnv.CNI_COMMAND) {
    // No verb: a person ran us by hand (skel's "about" behaviour).
    return {
      stdout: '',
      stderr: `${ABOUT}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`,
      exitCode: 0,
    };
  }
  let log: Log | undefined;
  let logged = '';
  const sink = call.captureStderr ? (line: string) => void (logged += line) : undefined;
  const t0 = performance.now();
  // One line per operation, which the node agent turns into its CNI duration metric.
  const done = (result: 'ok' | 'error') =>
    log?.info({ verb: processEnv.CNI_COMMAND, result, ms: +(performance.now() - t0).toFixed(1) }, 'operation');
  try {
    // First of all, VERSION included: a plugin that delegates to itself must stop here.
    requireDepthWithinCap(processEnv);
    const env = readEnv(processEnv);
    // Counted per call: in the daemon, other calls start children meanwhile.
    const stdout = await countingChildren(() => dispatch(env, processEnv, stdin, (l) => (log = l), sink));
    done('ok');
    return { stdout, stderr: logged, exitCode: 0 };
  } catch (err) {
    const e = asVirtnetError(err, ErrorCode.ioFailure);
    log?.error({ err: e }, e.message);
    done('error');
    const doc = {
      cniVersion: versionFromStdin(stdin),
      code: e.code,
      msg: e.message,
      ...(e.details && { details: e.details }),
    };
    return {
      stdout: JSON.stringify(doc),
      stderr: logged + (err instanceof VirtnetError ? '' : `${(err as Error).stack ?? err}\n`),
      exitCode: 1,
    };
  }
}
