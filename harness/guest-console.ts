/**
 * A guest's serial console driven like a person at a terminal, from the
 * launcher's state directory alone (its status names the libvirt URI, a
 * socket path reachable from any network namespace, and the domain; the
 * console log is beside it). Tests and benchmarks share it; it has no
 * side effects on import.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { LauncherStatus } from '../launcher/status.ts';

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export class GuestConsole {
  private fd: number | undefined;
  private drain: ChildProcess | undefined;

  /**
   * @param stateDir the launcher's state directory (status.json, console.log)
   * @param track called with each child process started, so that its owner can kill it on exit
   */
  constructor(
    readonly stateDir: string,
    private readonly track: (c: ChildProcess) => void = () => undefined,
  ) {}

  log(): string {
    const f = join(this.stateDir, 'console.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** The first console line starting with `prefix`, after `from` characters of the log. */
  line(prefix: string, from = 0): string | undefined {
    return this.log()
      .slice(from)
      .split(/\r?\n/u)
      .find((l) => l.startsWith(prefix));
  }

  /**
   * Attach to the console's pty once, as `virtnet console` does: QEMU only
   * talks to a pty that is held open (it polls for a reader about once a
   * second), and what it writes must be read, or the guest's console stalls.
   */
  private async attach(): Promise<number> {
    if (this.fd !== undefined) return this.fd;
    const s = JSON.parse(readFileSync(join(this.stateDir, 'status.json'), 'utf8')) as LauncherStatus;
    const virsh = spawnSync('virsh', ['-q', '-c', s.libvirtUri!, 'ttyconsole', s.domain!], { encoding: 'utf8' });
    const pty = virsh.stdout.trim();
    if (!pty.startsWith('/dev/pts/')) throw new Error(`no console pty: ${virsh.stderr}`);
    spawnSync('stty', ['-F', pty, 'raw', '-echo']);
    this.drain = spawn('cat', [pty], { stdio: ['ignore', 'ignore', 'ignore'] });
    this.track(this.drain);
    this.fd = openSync(pty, 'w');
    await new Promise((r) => setTimeout(r, 1500));
    return this.fd;
  }

  /** Type a command and wait for its exit code (its output comes back through the log). */
  async run(command: string, timeoutMs = 20_000): Promise<{ rc: number; output: string }> {
    const fd = await this.attach();
    const marker = `VNT${Math.random().toString(36).slice(2, 8)}`;
    const from = this.log().length;
    writeSync(fd, `${command}; echo ${marker}-RC=$?\n`);
    const re = new RegExp(`${marker}-RC=(\\d+)`, 'u');
    const rc = await waitFor(`"${command}" on the guest`, () => re.exec(this.log().slice(from))?.[1], timeoutMs);
    return { rc: Number(rc), output: this.log().slice(from) };
  }

  /** The guest's name for the NIC with this MAC (eth0, eth1, …). */
  async ifnameOf(mac: string): Promise<string> {
    const r = await this.run(`ip -o link | grep -i ${mac} | cut -d: -f2 | tr -d ' '`);
    const name = r.rc === 0 ? /\n(eth\d+)\r?\n/u.exec(r.output)?.[1] : undefined;
    if (!name) throw new Error(`no guest NIC with MAC ${mac}: ${r.output}`);
    return name;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.drain?.kill();
  }
}
