/**
 * The reference for NIC hotplug: the test guest on bare QEMU, made by hand
 * (a namespace, a bridge, a dnsmasq, QEMU with one empty PCIe root port and
 * a QMP socket), then a NIC plugged by QMP itself (a tap on the bridge,
 * netdev_add, device_add) until the guest's lease, and unplugged
 * (device_del until QEMU's DEVICE_DELETED event). No libvirt, no CNI: what
 * QEMU and the guest alone take. Every plug uses a new MAC, so that each
 * lease is a new line in dnsmasq's lease file.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { BARE_DNSMASQ } from './bare-qemu.ts';

async function until(what: string, fn: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A QMP connection (QEMU's qmp-spec): one JSON object per line; commands answered in order. */
class Qmp {
  private buf = '';
  private readonly waiting: Array<(reply: Record<string, unknown>) => void> = [];
  readonly events: string[] = [];

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString();
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const msg = JSON.parse(this.buf.slice(0, i)) as Record<string, unknown>;
        this.buf = this.buf.slice(i + 1);
        if (typeof msg.event === 'string') this.events.push(JSON.stringify(msg));
        else if ('return' in msg || 'error' in msg) this.waiting.shift()?.(msg);
      }
    });
  }

  static async open(path: string): Promise<Qmp> {
    await until('the QMP socket', () => existsSync(path), 30_000);
    const sock = createConnection(path);
    await new Promise((r) => sock.once('connect', r));
    const qmp = new Qmp(sock);
    await qmp.run('qmp_capabilities');
    return qmp;
  }

  run(execute: string, args?: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.waiting.push((reply) => (reply.error ? reject(new Error(JSON.stringify(reply.error))) : resolve(reply)));
      this.sock.write(`${JSON.stringify({ execute, ...(args && { arguments: args }) })}\n`);
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

export class BareHotplugGuest {
  private round = 0;

  private constructor(
    private readonly ns: string,
    private readonly dir: string,
    private readonly qmp: Qmp,
    private readonly children: ChildProcess[],
  ) {}

  private get leases(): string {
    const f = join(this.dir, 'leases');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  private ip(argv: string[]): void {
    execFileSync('ip', ['-n', this.ns, ...argv]);
  }

  /** Boot the guest on a hand-made network, until its first NIC's lease. */
  static async boot(ns: string, dir: string, g: { kernel: string; initrd: string }): Promise<BareHotplugGuest> {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execFileSync('ip', ['netns', 'add', ns]);
    const sh = (argv: string[]) => execFileSync('ip', ['-n', ns, ...argv]);
    sh(['link', 'add', 'br0', 'type', 'bridge']);
    sh(['addr', 'add', '10.250.0.1/24', 'dev', 'br0']);
    sh(['tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
    sh(['link', 'set', 'tap0', 'master', 'br0', 'up']);
    sh(['link', 'set', 'br0', 'up']);
    const inNs = ['netns', 'exec', ns];
    const dnsmasq = spawn(
      'ip',
      [
        ...inNs,
        ...BARE_DNSMASQ,
        '--dhcp-range=10.250.0.10,10.250.0.250,255.255.255.0,infinite',
        `--dhcp-leasefile=${join(dir, 'leases')}`,
      ],
      { stdio: 'ignore' },
    );
    const qemu = spawn(
      'ip',
      [
        ...inNs,
        'qemu-system-x86_64',
        ...['-accel', 'tcg', '-machine', 'q35', '-nodefaults', '-display', 'none', '-serial', 'null', '-m', '256'],
        ...['-kernel', g.kernel, '-initrd', g.initrd, '-append', 'console=ttyS0 quiet panic=-1'],
        ...['-qmp', `unix:${join(dir, 'qmp.sock')},server=on,wait=off`],
        ...['-device', 'pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x2'],
        ...['-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no'],
        ...['-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02,addr=0x3'],
      ],
      { stdio: 'ignore' },
    );
    const guest = new BareHotplugGuest(ns, dir, await Qmp.open(join(dir, 'qmp.sock')), [dnsmasq, qemu]);
    await until('the first lease', () => guest.leases.includes('52:54:00:00:00:02'), 120_000);
    return guest;
  }

  /** tap, netdev_add, device_add on the empty root port, until the guest's lease on it: ms. */
  async plug(): Promise<number> {
    const mac = `52:54:00:00:01:${(++this.round % 256).toString(16).padStart(2, '0')}`;
    const t = performance.now();
    this.ip(['tuntap', 'add', 'dev', 'tap1', 'mode', 'tap']);
    this.ip(['link', 'set', 'tap1', 'master', 'br0', 'up']);
    await this.qmp.run('netdev_add', { type: 'tap', id: 'n1', ifname: 'tap1', script: 'no', downscript: 'no' });
    await this.qmp.run('device_add', { driver: 'virtio-net-pci', netdev: 'n1', mac, bus: 'rp1', id: 'nic1' });
    await until(`the lease of ${mac}`, () => this.leases.includes(mac), 60_000);
    return performance.now() - t;
  }

  /** device_del until QEMU reports the device gone (the guest released it), then its netdev and tap: ms. */
  async unplug(): Promise<number> {
    const t = performance.now();
    const seen = this.qmp.events.length;
    await this.qmp.run('device_del', { id: 'nic1' });
    const gone = () => this.qmp.events.slice(seen).some((e) => e.includes('DEVICE_DELETED') && e.includes('"nic1"'));
    await until('DEVICE_DELETED of nic1', gone, 60_000);
    await this.qmp.run('netdev_del', { id: 'n1' });
    this.ip(['link', 'del', 'tap1']);
    return performance.now() - t;
  }

  stop(): void {
    this.qmp.close();
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', this.ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
