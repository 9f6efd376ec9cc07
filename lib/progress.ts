/**
 * Progress of long work (pulls, conversions, guest builds), issue 12: on a
 * terminal, one bar that redraws itself in place with bytes and rate; on
 * anything else (a log file, a pipe, CI), one line per step and a start
 * and a done line per transfer, so logs stay readable and nothing runs
 * silently for minutes.
 */

/** The part of a stream the reporter needs; process.stderr is one. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ByteProgress {
  /** `n` more bytes are done. */
  advance(n: number): void;
  /** The transfer is over; prints its summary line. */
  done(): void;
}

export interface Progress {
  /** One line saying what happens now. */
  step(text: string): void;
  /** A transfer of `total` bytes (when known). */
  bytes(label: string, total?: number): ByteProgress;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB": binary units, one decimal under 10, as `ls -h` prints. */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

function rate(bytes: number, ms: number): string {
  return `${formatBytes(ms > 0 ? Math.round((bytes * 1000) / ms) : 0)}/s`;
}

const BAR_WIDTH = 24;

/** "label [#####-----]  12 MiB / 40 MiB  3.1 MiB/s" (or without bar and total when the total is unknown). */
export function barLine(label: string, done: number, total: number | undefined, ms: number): string {
  const speed = rate(done, ms);
  if (total === undefined || total <= 0) return `${label}  ${formatBytes(done)}  ${speed}`;
  const filled = Math.min(BAR_WIDTH, Math.floor((done / total) * BAR_WIDTH));
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  return `${label} ${bar} ${formatBytes(done)} / ${formatBytes(total)}  ${speed}`;
}

export interface ProgressOptions {
  /** Redraws at most this often on a terminal (default 100 ms). */
  redrawMs?: number;
  /** The clock, for tests. */
  now?: () => number;
}

export function createProgress(stream: ProgressStream = process.stderr, options: ProgressOptions = {}): Progress {
  const now = options.now ?? Date.now;
  const redrawMs = options.redrawMs ?? 100;
  const tty = stream.isTTY === true;
  return {
    step(text) {
      stream.write(`${text}\n`);
    },
    bytes(label, total) {
      const started = now();
      let done = 0;
      let drawn = -Infinity;
      let finished = false;
      const fit = (line: string) =>
        stream.columns && line.length > stream.columns - 1 ? line.slice(0, stream.columns - 1) : line;
      // "\r" returns to the line's start and ESC[K (EL, ECMA-48) erases what an older, longer line left.
      const draw = () => stream.write(`\r${fit(barLine(label, done, total, now() - started))}\u001b[K`);
      if (tty) draw();
      else stream.write(`${label}: started${total === undefined ? '' : ` (${formatBytes(total)})`}\n`);
      return {
        advance(n) {
          done += n;
          if (!tty || now() - drawn < redrawMs) return;
          drawn = now();
          draw();
        },
        done() {
          if (finished) return;
          finished = true;
          const ms = now() - started;
          if (tty) {
            draw();
            stream.write('\n');
          } else {
            stream.write(`${label}: done, ${formatBytes(done)} in ${(ms / 1000).toFixed(1)} s (${rate(done, ms)})\n`);
          }
        },
      };
    },
  };
}

/** A reporter that prints nothing, for callers that want quiet (tests, --quiet). */
export const silentProgress: Progress = {
  step() {},
  bytes() {
    return { advance() {}, done() {} };
  },
};
