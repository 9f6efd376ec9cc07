/**
 * The test guest's serial console for benchmarks, driven like a person at a
 * terminal (after test/support/launcher.ts, which benchmarks do not import):
 * commands are typed on the pty that libvirt gives the domain, and their
 * output and exit code come back through the console log.
 *
 * QEMU only talks to a pty that is held open (it polls for a reader about
 * once a second), and what it writes must be read, or the guest's console
 * stalls: the pty is opened once, drained by a `cat`, and held until close().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class GuestConsole {
  private fd: number | undefined;
  private drain: ChildProcess | undefined;

  /**
   * @param netns the pod namespace the launcher (and its libvirtd) runs in
   * @param stateDir the launcher's state directory (status.json, console.log)
   * @param track called with each child process started, so that its owner can kill it on exit
   */
  constructor(readonly netns: string, readonly stateDir: string, private readonly track: (c: ChildProcess) => void = () => undefined) {}

  log(): string {
    const f = join(this.stateDir, 'console.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** The first console line starting with `prefix`, after `from` characters of the log. */
  line(prefix: string, from = 0): string | undefined {
    return this.log().slice(from).split(/\r?\n/u).find((l) => l.startsWith(prefix));
  }

  private async attach(): Promise<number> {
    if (this.fd !== undefined) return this.fd;
    const s = JSON.parse(readFileSync(join(this.stateDir, 'status.json'), 'utf8')) as { libvirtUri?: string; domain?: string };
    if (!s.libvirtUri || !s.domain) throw new Error('the launcher reports no libvirt URI or domain yet');
    const virsh = spawnSync('ip', ['netns', 'exec', this.netns, 'virsh', '-q', '-c', s.libvirtUri, 'ttyconsole', s.domain], { encoding: 'utf8' });
    const pty = virsh.stdout.trim();
    if (!pty.startsWith('/dev/pts/')) throw new Error(`no console pty: ${virsh.stderr}`);
    spawnSync('stty', ['-F', pty, 'raw', '-echo']);
    this.drain = spawn('cat', [pty], { stdio: 'ignore' });
    this.track(this.drain);
    this.fd = openSync(pty, 'w');
    await sleep(1500);
    return this.fd;
  }

  /** Type `command` and wait for its exit code; output is what the log gained meanwhile. */
  async run(command: string, timeoutMs = 20_000): Promise<{ rc: number; output: string }> {
    const fd = await this.attach();
    const marker = `VNB${Math.random().toString(36).slice(2, 8)}`;
    const from = this.log().length;
    writeSync(fd, `${command}; echo ${marker}-RC=$?\n`);
    const re = new RegExp(`${marker}-RC=(\\d+)`, 'u');
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.log().slice(from));
      if (m) return { rc: Number(m[1]), output: this.log().slice(from) };
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for "${command}" on the guest`);
      await sleep(100);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.drain?.exitCode === null) this.drain.kill();
    this.drain = undefined;
  }
}
