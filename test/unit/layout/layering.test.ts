/**
 * The layout is the architecture: imports point one way,
 * controller → netattach/launcher → cni → lib, and product code never
 * reaches into harness/, test/, bench/ or scripts/. A comment that names a
 * source file names one that exists (the file moved: the comment moves too).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const PRODUCT = ['lib', 'cni', 'netattach', 'launcher', 'controller'];
/** What each room may import, besides itself and Node's and npm's modules. */
const MAY_IMPORT: Record<string, string[]> = {
  lib: [],
  cni: ['lib'],
  netattach: ['cni', 'lib'],
  launcher: ['cni', 'lib'],
  controller: ['netattach', 'launcher', 'cni', 'lib'],
};

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(join(ROOT, p)).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/gu)].map((m) => m[1]!);
  return specs.map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)));
}

/** The imports of `room` that point at a room it may not import. */
function upward(room: string, targets: readonly string[]): string[] {
  return targets.filter((t) => {
    // The one root file product code reads: the version, bundled (lib/version.ts).
    if (t === 'package.json') return false;
    const to = t.split('/')[0]!;
    return to !== room && !MAY_IMPORT[room]!.includes(to);
  });
}

test('layering: each room imports only the rooms below it', () => {
  const wrong = PRODUCT.flatMap((room) =>
    sources(room).flatMap((file) => upward(room, importsOf(file)).map((t) => `${file} imports ${t}`)),
  );
  assert.deepEqual(wrong, []);
});

test('layering: an import that points up, or into harness/ or test/, is caught', () => {
  assert.deepEqual(upward('cni', ['lib/exec.ts', 'netattach/nad.ts', 'cni/config.ts']), ['netattach/nad.ts']);
  assert.deepEqual(upward('controller', ['harness/kube/api-server.ts', 'test/support/netns.ts', 'lib/cidr.ts']), [
    'harness/kube/api-server.ts',
    'test/support/netns.ts',
  ]);
  assert.deepEqual(upward('lib', ['cni/config.ts']), ['cni/config.ts']);
  // importsOf resolves relative specifiers to paths from the project root.
  assert.ok(importsOf('cni/main.ts').every((t) => PRODUCT.includes(t.split('/')[0]!)));
});

/** Every path suffix of a tracked source file: "kube.ts", "kube/kube.ts", "controller/kube/kube.ts". */
function knownSuffixes(): Set<string> {
  const known = new Set<string>();
  const dirs = [...PRODUCT, 'harness', 'test', 'bench', 'scripts', 'deploy', 'docs', 'examples'];
  for (const d of dirs) {
    for (const f of walkAll(d)) {
      const parts = f.split('/');
      for (let k = 0; k < parts.length; k++) known.add(parts.slice(k).join('/'));
    }
  }
  return known;
}

function walkAll(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(join(ROOT, dir));
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = join(dir, e);
    return statSync(join(ROOT, p)).isDirectory() ? walkAll(p) : [p];
  });
}

/** The project's shared reference notes, beside the project (CI copies them there). */
const SHARED = resolve(ROOT, '..', 'shared');

/**
 * Specifications cited by their file names in their own repositories: the CNI
 * spec's SPEC.md and CONVENTIONS.md, the OCI image spec's, the distribution
 * registry's config.md.
 */
const EXTERNAL_SPECS = new Set([
  'SPEC.md',
  'CONVENTIONS.md',
  'layer.md',
  'manifest.md',
  'descriptor.md',
  'image-index.md',
  'config.md',
]);

/** The files a comment line names that do not exist: sources by any path suffix, notes by their path. */
function staleCitations(line: string, known: Set<string>): string[] {
  const stale: string[] = [];
  for (const m of line.matchAll(/(?<![\w./:-])([\w./-]*[\w-]+\.(?:ts|mjs|sh|md))\b/gu)) {
    const cited = m[1]!.replace(/^\.\//u, '');
    if (cited.startsWith('shared/')) {
      if (!existsSync(join(SHARED, cited.slice('shared/'.length)))) stale.push(cited);
    } else if (!known.has(cited) && !EXTERNAL_SPECS.has(cited)) stale.push(cited);
  }
  return stale;
}

test('comments: every file a comment names exists', () => {
  const known = knownSuffixes();
  const stale: string[] = [];
  for (const room of [...PRODUCT, 'harness', 'bench', 'scripts']) {
    for (const file of walkAll(room).filter((f) => /\.(ts|mjs|sh)$/u.test(f))) {
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (!/^\s*(\/\/|\/\*|\*|#)|\s(\/\/|#)\s/u.test(line)) return;
          for (const cited of staleCitations(line, known)) stale.push(`${file}:${i + 1} cites ${cited}`);
        });
    }
  }
  assert.deepEqual(stale, []);
});

test('comments: a citation of a file that is not there is caught', () => {
  const known = new Set(['cni/add.ts', 'add.ts', 'README.md']);
  assert.deepEqual(staleCitations(' * see cni/add.ts and README.md', known), []);
  assert.deepEqual(staleCitations(' * see cni/gone.ts and measured-here.md', known), [
    'cni/gone.ts',
    'measured-here.md',
  ]);
  assert.deepEqual(staleCitations(' * (shared/reference/no-such-note.md)', known), [
    'shared/reference/no-such-note.md',
  ]);
});
