/**
 * One of the many writers of log-rotation.test.ts: CALLS plugin calls in a
 * row, each with a fresh log (as each plugin process makes one) that writes
 * LINES lines to FILE, rotating at MAX_BYTES.
 *   node --import tsx log-writer.ts FILE WORKER CALLS LINES MAX_BYTES
 */
import { createLog } from '../../../cni/log.ts';

const [file, worker, calls, lines, maxBytes] = process.argv.slice(2).map((a, i) => (i === 0 ? a : Number(a))) as [
  string,
  number,
  number,
  number,
  number,
];
for (let call = 0; call < calls; call++) {
  const log = createLog({ worker }, { logFile: file, maxBytes });
  for (let line = 0; line < lines; line++) log.info({ seq: call * lines + line, pad: 'x'.repeat(80) }, 'line');
}
