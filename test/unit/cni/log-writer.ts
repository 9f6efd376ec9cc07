/**
 * One of the many writers of log-rotation.test.ts, which bundles it (so no
 * tsx, and no esbuild service of its own, runs beside it). It says "ready"
 * on stdout and waits for the file GO, which holds a time t0. Then it makes
 * CALLS plugin calls in a row, each with a fresh log (as each plugin process
 * makes one) that writes LINES lines, rotating at MAX_BYTES, to
 * PREFIX-<n>.log: each PER_FILE calls go to the next n, starting no sooner
 * than t0 + n * SLOT_MS, so that all writers come to each file at once.
 *   node writer.mjs PREFIX GO WORKER CALLS PER_FILE LINES MAX_BYTES SLOT_MS
 */
import { existsSync, readFileSync } from 'node:fs';
import { createLog } from '../../../cni/log.ts';

const [prefix, go, ...numbers] = process.argv.slice(2) as [string, string, ...string[]];
const [worker, calls, perFile, lines, maxBytes, slot] = numbers.map(Number) as [
  number,
  number,
  number,
  number,
  number,
  number,
];

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

process.stdout.write('ready\n'); // a pipe: written at once (process.stdout is synchronous for pipes on Linux)
const start = Date.now();
while (!existsSync(go)) {
  if (Date.now() - start > 60_000) process.exit(3);
  pause(1);
}
const t0 = Number(readFileSync(go, 'utf8')) || 0;
for (let call = 0; call < calls; call++) {
  if (call % perFile === 0) pause(Math.max(0, t0 + (call / perFile) * slot - Date.now()));
  const log = createLog({ worker }, { logFile: `${prefix}-${Math.floor(call / perFile)}.log`, maxBytes });
  for (let line = 0; line < lines; line++) log.info({ seq: call * lines + line, pad: 'x'.repeat(80) }, 'line');
}
