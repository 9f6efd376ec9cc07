/**
 * virtnet's one log format, pino's: JSON lines of
 *   {"level":30,"time":<ms since the epoch>,"component":"cni",...fields,"msg":"..."}
 * with pino's numeric levels and an error under `err` as
 *   {"type","message","stack",...its own fields,"cause":{...}}.
 * The plugin and the launcher write it with this small logger; the cluster
 * roles write it with pino, given `pinoOptions` (same levels, same base,
 * this file's error serialiser), so one `jq` filter reads all three.
 *
 * Why not pino everywhere: the plugin is exec'd per CNI call, and pino's
 * import costs more than an ADD's own work (scripts/build.mjs forbids it).
 * Nothing here may import a package.
 *
 * Every line is bounded, whatever it is given: each string is cut at
 * MAX_STRING characters, a cause chain at MAX_CAUSES, and the line at
 * MAX_LINE_BYTES (the node agent's log reader skips longer lines:
 * controller/agent/log-tail.ts): a longer line loses its fields, then, if
 * the base fields alone are still too long, those too (cutLine). A value
 * JSON cannot hold (a cycle) gives a line that says so instead of none.
 */
import { writeSync } from 'node:fs';

/** pino's levels (pino.levels.values); `silent` logs nothing. */
export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LevelName = keyof typeof LEVELS;
export const LEVEL_NAMES = [...(Object.keys(LEVELS) as LevelName[]), 'silent'] as const;
export type LevelSetting = LevelName | 'silent';

export const MAX_STRING = 8192;
export const MAX_CAUSES = 8;
export const MAX_LINE_BYTES = 32 * 1024;

export type LogFields = Record<string, unknown>;

/** pino's calling convention: `log.info('msg')`, `log.info({ fields }, 'msg')`, `log.error(err, 'msg')`. */
export interface LogFn {
  (msg: string): void;
  (fields: LogFields | Error, msg?: string): void;
}

export interface Logger {
  readonly level: LevelSetting;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger whose lines also carry `bindings` (pino's child). */
  child(bindings: LogFields): Logger;
}

export interface LoggerOptions {
  component: string;
  /** Least level written; default info. */
  level?: LevelSetting;
  /** Fields on every line, after `component`. */
  base?: LogFields;
  /** Where a finished line (with its newline) goes; default stderr. A sink that throws loses the line, not the call. */
  write?: (line: string) => void;
}

export function isLevelSetting(v: unknown): v is LevelSetting {
  return typeof v === 'string' && (LEVEL_NAMES as readonly string[]).includes(v);
}

/** The rule a level setting breaks, for "<field>: <value> <rule>" messages. */
export const LEVEL_RULE = `must be one of ${LEVEL_NAMES.join(', ')}`;

/**
 * An error as pino's errWithCause serialiser shows it: type, message, stack,
 * the error's own enumerable fields (code, details, errno, path...), and
 * its cause the same way, to MAX_CAUSES deep. Anything else is returned as
 * it is, so this can stand as pino's `err` serialiser.
 */
export function serializeError(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) return err;
  // err.name, not the constructor's: the bundles are minified (VirtnetError sets its name: lib/errors.ts).
  const out: LogFields = { type: err.name || err.constructor.name, message: err.message, stack: err.stack };
  for (const [key, value] of Object.entries(err)) if (!(key in out)) out[key] = value;
  if (err instanceof AggregateError) out.aggregateErrors = err.errors.map((e) => serializeError(e, depth + 1));
  if (err.cause !== undefined)
    out.cause =
      depth + 1 < MAX_CAUSES ? serializeError(err.cause, depth + 1) : { message: '(deeper causes not logged)' };
  return out;
}

function boundedString(s: string): string {
  return s.length <= MAX_STRING ? s : `${s.slice(0, MAX_STRING)}… (${s.length - MAX_STRING} more characters)`;
}

/** JSON.stringify's replacer: every string bounded, every Error serialised, bigints as text. */
function bounded(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return boundedString(value);
  if (value instanceof Error) return serializeError(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** What a cut line keeps of its message and of the component's name, in characters. */
const CUT_MSG = 1024;
const CUT_COMPONENT = 64;

/**
 * A line of `bytes` bytes cut to its head and message, or, if the head's
 * base fields are too long for that, to the component and the message. The
 * second always fits: JSON.stringify writes at most 6 bytes a UTF-16 unit
 * (a \uXXXX escape), so its ~1,100 characters of strings and two numbers
 * make less than 8 KiB, a quarter of MAX_LINE_BYTES.
 */
function cutLine(start: LogFields, head: LogFields, msg: string | undefined, bytes: number): string {
  const short = msg?.slice(0, CUT_MSG);
  const withHead = JSON.stringify(
    { ...start, ...head, msg: short, logError: `line of ${bytes} bytes cut to its message` },
    bounded,
  );
  if (Buffer.byteLength(withHead) <= MAX_LINE_BYTES) return withHead;
  const component = String(head.component).slice(0, CUT_COMPONENT);
  const logError = `line of ${bytes} bytes cut to its message, without its base fields`;
  return JSON.stringify({ ...start, component, msg: short, logError });
}

/** One line, newline included; never throws, never longer than MAX_LINE_BYTES before its newline. */
export function formatLine(level: number, head: LogFields, fields: LogFields, msg: string | undefined): string {
  const start = { level, time: Date.now() };
  const all = { ...start, ...head, ...fields, ...(msg !== undefined && { msg }) };
  let line: string;
  try {
    line = JSON.stringify(all, bounded);
  } catch (e) {
    // A cycle in the fields: keep the line, without them.
    line = JSON.stringify({ ...start, ...head, msg, logError: `fields not logged: ${(e as Error).message}` }, bounded);
  }
  const bytes = Buffer.byteLength(line);
  if (bytes > MAX_LINE_BYTES) line = cutLine(start, head, msg, bytes);
  return `${line}\n`;
}

function toStderr(line: string): void {
  writeSync(2, line);
}

export function createLogger(o: LoggerOptions): Logger {
  const level = o.level ?? 'info';
  const least = level === 'silent' ? Number.POSITIVE_INFINITY : LEVELS[level];
  const head = { component: o.component, ...o.base };
  const sink = o.write ?? toStderr;
  const at =
    (lvl: LevelName): LogFn =>
    (first: string | LogFields | Error, msg?: string) => {
      if (LEVELS[lvl] < least) return;
      let fields: LogFields = {};
      if (typeof first === 'string') msg = first;
      else if (first instanceof Error) {
        fields = { err: first };
        msg ??= first.message; // as pino does
      } else fields = first;
      try {
        sink(formatLine(LEVELS[lvl], head, fields, msg));
      } catch {
        // A log that cannot be written must not fail what is being logged.
      }
    };
  return {
    level,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (bindings) => createLogger({ ...o, base: { ...o.base, ...bindings } }),
  };
}

/**
 * pino's options for the same lines: the role as `component` (and no pid or
 * hostname: a pod's logs say where they come from), this file's error
 * serialiser, which keeps the cause chain that pino's default one folds
 * into the message. The level is checked here, naming the flag.
 */
export function pinoOptions(component: string, level: string | undefined, flag = '--log-level') {
  const lvl = level ?? 'info';
  if (!isLevelSetting(lvl)) throw new Error(`${flag}: ${JSON.stringify(lvl)} ${LEVEL_RULE}`);
  return { level: lvl, base: { component }, serializers: { err: (e: unknown) => serializeError(e) } };
}

/**
 * What a person needs of one log line: a JSON line's msg (with its error's
 * message when the msg does not hold it), any other line as it is.
 */
export function messageOf(line: string): string {
  let e: { msg?: unknown; err?: { message?: unknown } };
  try {
    e = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof e !== 'object' || e === null || typeof e.msg !== 'string') return line;
  const why = e.err?.message;
  return typeof why === 'string' && !e.msg.includes(why) ? `${e.msg}: ${why}` : e.msg;
}
