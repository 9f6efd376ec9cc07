/**
 * lib/log.ts, the one log format: pino's levels and field names, errors
 * with their stack and cause chain, every line bounded, and pino given
 * pinoOptions writing the same line as the lean logger.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import {
  createLogger,
  LEVELS,
  type LevelSetting,
  MAX_CAUSES,
  MAX_LINE_BYTES,
  MAX_STRING,
  messageOf,
  pinoOptions,
} from '../../../lib/log.ts';

type Line = Record<string, unknown> & { err?: Record<string, unknown> };

function capture(level?: LevelSetting) {
  const lines: string[] = [];
  const log = createLogger({
    component: 'test',
    base: { node: 'n1' },
    write: (l) => lines.push(l),
    ...(level && { level }),
  });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Line) };
}

test('a line: level, time, component, base, fields and msg last, in that order, one per line', () => {
  const { log, lines, parsed } = capture();
  const before = Date.now();
  log.info({ verb: 'ADD', ms: 4.2 }, 'operation');
  log.warn('plain');
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  const [a, b] = parsed();
  assert.deepEqual(Object.keys(a!), ['level', 'time', 'component', 'node', 'verb', 'ms', 'msg']);
  assert.equal(a!.level, 30);
  assert.ok(typeof a!.time === 'number' && a!.time >= before && a!.time <= Date.now());
  assert.deepEqual(
    { ...a, time: 0 },
    { level: 30, time: 0, component: 'test', node: 'n1', verb: 'ADD', ms: 4.2, msg: 'operation' },
  );
  assert.deepEqual([b!.level, b!.msg], [40, 'plain']);
});

test("levels are pino's numbers; lines below the setting are not written; silent writes none", () => {
  assert.deepEqual(LEVELS, pino.levels.values);
  const { log, parsed } = capture('warn');
  for (const l of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) log[l](l);
  assert.deepEqual(
    parsed().map((l) => [l.level, l.msg]),
    [
      [40, 'warn'],
      [50, 'error'],
      [60, 'fatal'],
    ],
  );
  const quiet = capture('silent');
  quiet.log.fatal('nothing');
  assert.deepEqual(quiet.lines, []);
  assert.equal(capture().log.level, 'info', 'info by default');
});

test('an error keeps type, message, stack, its own fields and its cause chain', () => {
  const { log, parsed } = capture();
  const root = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', path: '/x' });
  const mid = new VirtnetError(ErrorCode.execFailed, 'ip link add failed', { details: 'stderr', cause: root });
  log.error({ err: mid.wrap('ADD') }, 'ADD failed');
  const err = parsed()[0]!.err!;
  assert.equal(err.type, 'VirtnetError');
  assert.equal(err.message, 'ADD: ip link add failed');
  assert.match(String(err.stack), /^VirtnetError: ADD: ip link add failed\n\s+at /u);
  assert.equal(err.code, ErrorCode.execFailed);
  const cause = err.cause as Line;
  assert.deepEqual([cause.type, cause.message, cause.details], ['VirtnetError', 'ip link add failed', 'stderr']);
  const rootOut = cause.cause as Line;
  assert.deepEqual(
    [rootOut.type, rootOut.message, rootOut.code, rootOut.path],
    ['Error', root.message, 'ENOENT', '/x'],
  );
  assert.match(String(rootOut.stack), /^Error: ENOENT/u);
});

test('log.error(err) puts it under err with its message as msg, as pino does; a cause that is no Error is kept', () => {
  const { log, parsed } = capture();
  log.error(new TypeError('bad', { cause: { status: 409 } }));
  const [line] = parsed();
  assert.equal(line!.msg, 'bad');
  assert.deepEqual([line!.err!.type, line!.err!.cause], ['TypeError', { status: 409 }]);
});

test('a cause chain is cut at MAX_CAUSES, a cycle in it too', () => {
  const { log, parsed } = capture();
  let e = new Error('e0');
  for (let i = 1; i < 20; i++) e = new Error(`e${i}`, { cause: e });
  const cyclic = new Error('me');
  Object.defineProperty(cyclic, 'cause', { value: cyclic });
  log.error({ err: e }, 'deep');
  log.error({ err: cyclic }, 'cyclic');
  for (const line of parsed()) {
    let depth = 0;
    for (let c = line.err as Line | undefined; c?.cause; c = c.cause as Line) depth++;
    assert.equal(depth, MAX_CAUSES, `${line.msg}: causes`);
  }
});

test('bounded: long strings cut, a line too long cut to its message, a cycle or a bigint still logs', () => {
  const { log, lines, parsed } = capture();
  log.info({ stderr: 'x'.repeat(MAX_STRING + 10) }, 'long');
  log.info(
    { a: 'y'.repeat(MAX_STRING), b: 'y'.repeat(MAX_STRING), c: 'y'.repeat(MAX_STRING), d: 'y'.repeat(MAX_STRING) },
    'huge',
  );
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  log.info({ cycle }, 'cycle');
  log.info({ n: 10n ** 30n }, 'big');
  const [long, huge, cyc, big] = parsed();
  assert.equal(long!.stderr, `${'x'.repeat(MAX_STRING)}… (10 more characters)`);
  assert.ok(lines.every((l) => Buffer.byteLength(l) <= MAX_LINE_BYTES + 1));
  assert.deepEqual([huge!.msg, huge!.a], ['huge', undefined]);
  assert.match(String(huge!.logError), /^line of \d+ bytes cut to its message$/u);
  assert.deepEqual([cyc!.msg, typeof cyc!.logError], ['cycle', 'string']);
  assert.equal(big!.n, '1000000000000000000000000000000');
});

test('MAX_LINE_BYTES holds in bytes: strings of 3-byte characters or of \\u escapes, base fields too long', () => {
  const wide = '€'.repeat(MAX_STRING); // 3 bytes each in UTF-8: a string of 24 KiB
  const escaped = '\u0001'.repeat(MAX_STRING); // 6 bytes each in JSON (\u0001): 48 KiB
  const lines: string[] = [];
  const write = (l: string) => lines.push(l);
  createLogger({ component: 'test', base: { a: wide, b: escaped }, write }).info({ c: wide }, escaped);
  createLogger({ component: 'test', base: { a: wide }, write }).info({ c: escaped, d: wide }, 'fields too long');
  createLogger({ component: 'test', base: { a: wide }, write }).info({ c: 'short' }, 'fits');
  for (const l of lines) assert.ok(Buffer.byteLength(l) <= MAX_LINE_BYTES + 1, `${Buffer.byteLength(l)} bytes`);
  const [noBase, noFields, whole] = lines.map((l) => JSON.parse(l) as Line);
  assert.deepEqual(
    [noBase!.component, noBase!.a, noBase!.c, noBase!.msg],
    ['test', undefined, undefined, escaped.slice(0, 1024)],
  );
  assert.match(String(noBase!.logError), /^line of \d+ bytes cut to its message, without its base fields$/u);
  assert.deepEqual([noFields!.a, noFields!.c, noFields!.msg], [wide, undefined, 'fields too long'], 'the base fits');
  assert.match(String(noFields!.logError), /^line of \d+ bytes cut to its message$/u);
  assert.deepEqual([whole!.a, whole!.c, whole!.logError], [wide, 'short', undefined]);
});

test('a sink that throws loses the line, never the call; child loggers add their bindings', () => {
  const log = createLogger({
    component: 'x',
    write: () => {
      throw new Error('EBADF');
    },
  });
  assert.doesNotThrow(() => log.error('lost'));
  const { log: parent, parsed } = capture();
  parent.child({ vmi: 'ns/a' }).info('step');
  assert.deepEqual(parsed()[0]!.vmi, 'ns/a');
  assert.deepEqual(parsed()[0]!.node, 'n1');
});

test('pino given pinoOptions writes the same line as the lean logger, cause chain included', () => {
  const out: string[] = [];
  const sink = new Writable({
    write: (c: Buffer, _e, done) => {
      out.push(c.toString());
      done();
    },
  });
  const viaPino = pino(pinoOptions('node-agent', 'debug'), sink);
  const lean: string[] = [];
  const viaLean = createLogger({ component: 'node-agent', level: 'debug', write: (l) => lean.push(l) });
  const err = new Error('sync failed', { cause: Object.assign(new Error('EPERM'), { code: 'EPERM' }) });
  viaPino.debug({ step: 'plan', ms: 3 }, 'step');
  viaPino.error({ err, node: 'a' }, 'not synced');
  viaLean.debug({ step: 'plan', ms: 3 }, 'step');
  viaLean.error({ err, node: 'a' }, 'not synced');
  const norm = (l: string) => ({ ...(JSON.parse(l) as Line), time: 0 });
  assert.equal(out.length, 2);
  assert.deepEqual(out.map(norm), lean.map(norm));
  assert.equal((norm(out[1]!).err!.cause as Line).code, 'EPERM');
  assert.deepEqual(Object.keys(JSON.parse(out[0]!) as Line), Object.keys(JSON.parse(lean[0]!) as Line));
});

test('pinoOptions refuses an unknown level, naming the flag, the value and the levels', () => {
  assert.throws(
    () => pinoOptions('controller', 'verbose'),
    /^Error: --log-level: "verbose" must be one of trace, debug, info, warn, error, fatal, silent$/u,
  );
});

test('messageOf: the msg of a JSON line, with its error when the msg does not say it; other lines as they are', () => {
  assert.equal(messageOf('{"level":60,"msg":"failed","err":{"message":"no such VM"}}'), 'failed: no such VM');
  assert.equal(
    messageOf('{"level":60,"msg":"failed: no such VM","err":{"message":"no such VM"}}'),
    'failed: no such VM',
  );
  assert.equal(messageOf('dnsmasq: started'), 'dnsmasq: started');
  assert.equal(messageOf('{"no":"msg"}'), '{"no":"msg"}');
});
