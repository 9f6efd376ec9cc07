/** Golden-file comparison for the launcher's unit tests (UPDATE_GOLDEN=1 rewrites). */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');

/** Compares with the golden file (in `dir`), or rewrites it when UPDATE_GOLDEN=1. Returns the file's path. */
export function golden(name: string, actual: string, dir = GOLDEN_DIR): string {
  const path = join(dir, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(path, actual);
    return path;
  }
  assert.ok(existsSync(path), `golden file ${path} is missing; run with UPDATE_GOLDEN=1`);
  assert.equal(
    actual,
    readFileSync(path, 'utf8'),
    `${name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it)`,
  );
  return path;
}
