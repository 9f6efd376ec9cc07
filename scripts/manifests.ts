/**
 * `npm run manifests`: writes the CRDs generated from controller/api/schema.ts
 * (controller/api/crds.ts) to deploy/crds. `npm run manifests -- --check`
 * writes nothing and exits 1 when a committed file differs from what would be
 * generated, or is missing, or is not generated at all (CI's drift check).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CRD_DIR, crdFiles } from '../controller/api/crds.ts';

const ROOT = join(import.meta.dirname, '..');
const CONTEXT = 3;
const SHOWN = 12;

/** A short diff-like excerpt from the first differing line: enough to see what changed. */
function firstDifference(path: string, committed: string, generated: string): string {
  const a = committed.split('\n');
  const b = generated.split('\n');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const from = Math.max(0, i - CONTEXT);
  const lines = [`--- ${path} (committed)`, `+++ ${path} (generated)`, `@@ line ${i + 1} @@`];
  lines.push(...a.slice(from, i).map((l) => ` ${l}`));
  lines.push(...a.slice(i, i + SHOWN).map((l) => `-${l}`));
  lines.push(...b.slice(i, i + SHOWN).map((l) => `+${l}`));
  return lines.join('\n');
}

function check(): number {
  const files = crdFiles();
  const problems: string[] = [];
  for (const { path, text } of files) {
    const abs = join(ROOT, path);
    if (!existsSync(abs)) problems.push(`${path}: missing`);
    else {
      const committed = readFileSync(abs, 'utf8');
      if (committed !== text) problems.push(firstDifference(path, committed, text));
    }
  }
  const expected = new Set(files.map((f) => f.path));
  const dir = join(ROOT, CRD_DIR);
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const path = `${CRD_DIR}/${name}`;
    if (name.endsWith('.yaml') && !expected.has(path)) problems.push(`${path}: not generated any more; delete it`);
  }
  if (problems.length === 0) {
    console.log(`${CRD_DIR}: up to date`);
    return 0;
  }
  console.error(`${problems.join('\n\n')}\n\n${CRD_DIR} is out of date: run npm run manifests`);
  return 1;
}

function write(): number {
  for (const { path, text } of crdFiles()) {
    const abs = join(ROOT, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, text);
    console.log(`wrote ${path}`);
  }
  return 0;
}

process.exitCode = process.argv.includes('--check') ? check() : write();
