// Runs the test tiers with node:test and tsx. Node 20's --test takes no globs,
// so the files are listed here. Unit tests run in parallel; tiers that touch
// the kernel run one file at a time (corpus: its side-effects file execs the
// plugin and the CLI in namespaces). The last line is "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const TIERS = { unit: 2, corpus: 1, integration: 1, e2e: 1, final: 1 };
const asked = process.argv.slice(2);
const tiers = asked.length ? asked : Object.keys(TIERS);

function testFiles(dir) {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return testFiles(p);
      return name.endsWith('.test.ts') ? [p] : [];
    })
    .sort();
}

// What exists before the tests is not theirs to clean up (test/final).
mkdirSync('dist', { recursive: true });
const baseline = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '-e',
    "import('./test/support/leftovers.ts').then((m) => process.stdout.write(JSON.stringify(m.leftovers())))",
  ],
  { encoding: 'utf8' },
);
writeFileSync(
  join('dist', '.test-baseline.json'),
  baseline.status === 0 ? baseline.stdout : '{"namespaces":[],"links":[],"tables":[],"scratch":[],"processes":[]}',
);

let passed = 0;
let failed = 0;
for (const tier of tiers) {
  if (!(tier in TIERS)) {
    console.error(`unknown tier ${tier}; tiers: ${Object.keys(TIERS).join(', ')}`);
    process.exit(2);
  }
  const files = testFiles(join('test', tier));
  if (files.length === 0) continue;
  console.log(`\n# tier ${tier}: ${files.length} files`);
  const summary = join('dist', `.test-summary-${tier}.json`);
  const res = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${TIERS[tier]}`,
      '--test-reporter=./test/support/reporter.mjs',
      '--test-reporter-destination=stdout',
      ...files,
    ],
    { stdio: 'inherit', env: { ...process.env, VIRTNET_TEST_SUMMARY: summary } },
  );
  try {
    const s = JSON.parse(readFileSync(summary, 'utf8'));
    passed += s.passed;
    failed += s.failed;
  } catch {
    failed += 1; // the runner died before reporting
  }
  if (res.status !== 0 && failed === 0) failed += 1;
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
