/**
 * The plugin's logger: JSON lines on stderr, or appended to `logFile`.
 * stdout belongs to the result (SPEC.md "Result"), so nothing logs there.
 * Deliberately tiny: the plugin is exec'd per call, and a logging library's
 * import would cost more than the whole ADD's own work.
 */
import { appendFileSync, writeSync } from 'node:fs';

export interface Log {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const LEVELS = { debug: 10, info: 20, error: 30 } as const;

export function createLog(base: Record<string, unknown>, logFile?: string, level: keyof typeof LEVELS = 'info'): Log {
  const write = (lvl: keyof typeof LEVELS, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[lvl] < LEVELS[level]) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...base, ...fields }) + '\n';
    try {
      if (logFile) appendFileSync(logFile, line);
      else writeSync(2, line);
    } catch {
      // A log that cannot be written must not fail the operation.
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    error: (m, f) => write('error', m, f),
  };
}
