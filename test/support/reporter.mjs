// A node:test reporter: one line per test, failures in full, and a summary
// file that test/run.mjs adds up into the closing "N passed, N failed".
import { writeFileSync } from 'node:fs';

export default async function* reporter(source) {
  let passed = 0;
  let failed = 0;
  const failures = [];
  for await (const event of source) {
    const { type, data } = event;
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    // Suites report too; count only leaf tests.
    if (data.details?.type === 'suite') continue;
    const ms = data.details?.duration_ms?.toFixed(0) ?? '?';
    const where = data.file ? data.file.replace(process.cwd() + '/', '') : '';
    if (type === 'test:pass') {
      passed++;
      yield `ok   ${data.name} (${ms} ms)\n`;
    } else {
      failed++;
      const err = data.details?.error;
      const cause = err?.cause ?? err;
      const text = `${cause?.stack ?? cause?.message ?? err}`;
      failures.push(`FAIL ${data.name} [${where}]\n${text}\n`);
      yield `FAIL ${data.name} (${ms} ms) [${where}]\n`;
    }
  }
  for (const f of failures) yield `\n${f}`;
  if (process.env.VIRTNET_TEST_SUMMARY)
    writeFileSync(process.env.VIRTNET_TEST_SUMMARY, JSON.stringify({ passed, failed }));
}
