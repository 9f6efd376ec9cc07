/**
 * `tail -F` of a log file in bounded memory: each poll reads on from where
 * the last one stopped, in CHUNK-sized reads, at most `maxBytesPerPoll`
 * bytes, and hands over complete lines. The file it reads is held open, so
 * that a rotation (the plugin renames its log to <file>.1 and starts a new
 * one: cni/log.ts) loses nothing: the old file is drained to its end first,
 * then the new one is read from its start. A file that shrank under the
 * same inode was truncated, and is read again from its start.
 *
 * Memory is bounded whatever the file holds: one chunk buffer, and a partial
 * line of at most `maxLineBytes`; a longer line is skipped up to its newline
 * (a log line that long is not one of ours). A 600 MiB log once made the
 * agent build a 600 MiB string every second, and throw.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

export interface LogTailOptions {
  /** Lines longer than this (bytes, without the newline) are skipped. */
  maxLineBytes?: number;
  /** Read no more than this per poll; the rest waits for the next one (the event loop must not stall on a backlog). */
  maxBytesPerPoll?: number;
}

interface Open {
  fd: number;
  dev: number;
  ino: number;
}

export class LogTail {
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private readonly maxLine: number;
  private readonly maxPerPoll: number;
  private current: Open | undefined;
  /**
   * The file a rotation made us leave, and how far it was read: a rotation
   * that found a fresh file puts it back (cni/log.ts rotateIfFull), and it
   * is read on from there, not again.
   */
  private left: { dev: number; ino: number; offset: number } | undefined;
  private offset = 0;
  /** Bytes of a line whose newline has not been read yet. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Inside a line longer than maxLine: drop bytes until its newline. */
  private skipping = false;
  /** Lines dropped for their length, for whoever wants to report it. */
  skippedLines = 0;

  constructor(
    private readonly file: string,
    o: LogTailOptions = {},
  ) {
    this.maxLine = o.maxLineBytes ?? CHUNK;
    this.maxPerPoll = o.maxBytesPerPoll ?? 8 * 1024 * 1024;
  }

  /**
   * Starts at the end of the file as it is now, if there is one: what was
   * logged before the reader started is not its to count. A file that
   * appears later is read from its start.
   */
  skipExisting(): void {
    this.close();
    this.openPath(true);
  }

  /** Reads what was appended since the last poll, calling onLine for each complete line. Returns the bytes read. */
  poll(onLine: (line: string) => void): number {
    if (!this.current && !this.openPath(false)) return 0;
    let read = this.drain(onLine, this.maxPerPoll);
    // Only a file read to its end may be left for a newer one at the path.
    if (read < this.maxPerPoll && this.replaced()) {
      read += this.drain(onLine, this.maxPerPoll - read); // what a writer appended just before the rename
      const { dev, ino } = this.current!;
      this.left = { dev, ino, offset: this.offset - this.partialBytes };
      this.close();
      if (this.openPath(false)) read += this.drain(onLine, this.maxPerPoll - read);
    }
    return read;
  }

  close(): void {
    if (this.current) closeSync(this.current.fd);
    this.current = undefined;
    this.offset = 0;
    this.resetLine();
  }

  private openPath(atEnd: boolean): boolean {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return false; // not there (yet, or between a rotation's rename and the new file)
    }
    const st = fstatSync(fd);
    this.current = { fd, dev: st.dev, ino: st.ino };
    const back = this.left?.ino === st.ino && this.left.dev === st.dev;
    this.offset = atEnd ? st.size : back ? this.left!.offset : 0;
    this.resetLine();
    return true;
  }

  /** The path now names another file (rotated) or nothing (removed). */
  private replaced(): boolean {
    let st: Stats;
    try {
      st = statSync(this.file);
    } catch {
      return true;
    }
    return st.ino !== this.current!.ino || st.dev !== this.current!.dev;
  }

  private drain(onLine: (line: string) => void, budget: number): number {
    const { fd } = this.current!;
    const size = fstatSync(fd).size;
    if (size < this.offset) {
      // Truncated in place (copytruncate, or `: > cni.log`): start over.
      this.offset = 0;
      this.resetLine();
    }
    let read = 0;
    while (read < budget && this.offset < size) {
      const n = readSync(fd, this.buf, 0, Math.min(CHUNK, budget - read, size - this.offset), this.offset);
      if (n <= 0) break;
      this.offset += n;
      read += n;
      this.split(this.buf.subarray(0, n), onLine);
    }
    return read;
  }

  private split(chunk: Buffer, onLine: (line: string) => void): void {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      this.take(chunk.subarray(start, nl));
      if (!this.skipping) onLine(Buffer.concat(this.partial, this.partialBytes).toString('utf8'));
      this.resetLine();
      start = nl + 1;
    }
    this.take(chunk.subarray(start));
  }

  /** Keeps part of the current line, or starts skipping it once it is too long. */
  private take(piece: Buffer): void {
    if (this.skipping || piece.length === 0) return;
    if (this.partialBytes + piece.length > this.maxLine) {
      this.skipping = true;
      this.skippedLines++;
      this.partial = [];
      this.partialBytes = 0;
      return;
    }
    // A copy: the chunk buffer is reused by the next read.
    this.partial.push(Buffer.from(piece));
    this.partialBytes += piece.length;
  }

  private resetLine(): void {
    this.partial = [];
    this.partialBytes = 0;
    this.skipping = false;
  }
}
