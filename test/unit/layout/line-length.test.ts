/**
 * Lines stay within 120 columns in everything but the tests (whose expected
 * error messages are regular expressions of one line each). Biome's formatter
 * wraps code at 120 (biome.json); it leaves strings and comments alone, so
 * this catches those. A line that holds a URL may be longer: a URL does not
 * break.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const ROOMS = ['lib', 'cni', 'netattach', 'launcher', 'controller', 'harness', 'bench', 'scripts'];
const MAX = 120;

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(join(ROOT, p)).isDirectory()) return sources(p);
    return /\.(ts|mjs)$/u.test(p) ? [p] : [];
  });
}

/** The lines of `text` over MAX columns, as "line: length", URLs aside. */
function longLines(text: string): string[] {
  return text.split('\n').flatMap((line, i) => {
    if ([...line].length <= MAX || /https?:\/\//u.test(line)) return [];
    return [`${i + 1}: ${[...line].length}`];
  });
}

test('line length: no line over 120 columns outside the tests', () => {
  const long = ROOMS.flatMap((room) =>
    sources(room).flatMap((f) => longLines(readFileSync(join(ROOT, f), 'utf8')).map((l) => `${f}:${l}`)),
  );
  assert.deepEqual(long, []);
});

test('line length: the rule counts characters, and a URL is exempt', () => {
  assert.deepEqual(longLines(`ok\n${'x'.repeat(121)}\n${'é'.repeat(120)}`), ['2: 121']);
  assert.deepEqual(longLines(`// see https://example.org/${'a'.repeat(130)}`), []);
});
