/**
 * One supervised dnsmasq per pod: started in the foreground, restarted when
 * it dies (with a short backoff), stopped on teardown. The lease file lives
 * in the state directory, so a restarted dnsmasq knows every lease it gave.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { nextFileChange } from '../../lib/watch.ts';
import { startDaemon, type Daemon } from '../../lib/daemon.ts';
import { renderDnsmasqConfig, type DhcpNic } from './dnsmasq-config.ts';

export interface DnsmasqFiles {
  conf: string;
  leases: string;
  pid: string;
  log: string;
}

export function dnsmasqFiles(stateDir: string): DnsmasqFiles {
  return {
    conf: join(stateDir, 'dnsmasq.conf'),
    leases: join(stateDir, 'dnsmasq.leases'),
    pid: join(stateDir, 'dnsmasq.pid'),
    log: join(stateDir, 'dnsmasq.log'),
  };
}

export class DnsmasqSupervisor {
  private daemon: Daemon | undefined;
  private stopping = false;
  restarts = 0;

  constructor(
    private readonly files: DnsmasqFiles,
    private readonly onEvent: (msg: string) => void = () => {},
  ) {}

  /** Write the config; returns the renderer's warnings (dropped search domains). */
  configure(nics: DhcpNic[]): string[] {
    const { text, warnings } = renderDnsmasqConfig({ nics, leaseFile: this.files.leases, pidFile: this.files.pid });
    writeFileSync(this.files.conf, text);
    return warnings;
  }

  start(): void {
    this.stopping = false;
    // The pid file tells when the new dnsmasq is serving (ready()): an old one's must not.
    rmSync(this.files.pid, { force: true });
    this.spawn();
  }

  /**
   * Resolves once dnsmasq has written its pid file, which it does after it has bound its DHCP sockets
   * (dnsmasq.c: the sockets are made before the pid file is written), or after `ms` regardless: a NIC plugged
   * into a running guest asks at once, and a DISCOVER before dnsmasq listens waits out udhcpc's retry (1 s).
   */
  async ready(ms = 2000): Promise<void> {
    const end = Date.now() + ms;
    while (!existsSync(this.files.pid) && Date.now() < end)
      await nextFileChange(dirname(this.files.pid), basename(this.files.pid), 20);
  }

  get pid(): number | undefined {
    return this.daemon?.pid;
  }

  private spawn(): void {
    // --log-facility=- sends dnsmasq's log (with log-dhcp, every exchange) to stderr, into our log file.
    const daemon = startDaemon(
      ['dnsmasq', '--keep-in-foreground', '--log-facility=-', `--conf-file=${this.files.conf}`],
      this.files.log,
    );
    this.daemon = daemon;
    void daemon.exited.then((code) => {
      if (this.stopping || this.daemon !== daemon) return;
      this.restarts++;
      this.onEvent(`dnsmasq exited with ${code}; restarting (restart ${this.restarts})`);
      setTimeout(() => !this.stopping && this.spawn(), Math.min(2000, 100 * this.restarts));
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.daemon?.stop(3000);
    this.daemon = undefined;
  }
}
