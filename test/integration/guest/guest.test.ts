// The test guest (scripts/build-guest.sh): booted with bare QEMU (TCG, no
// libvirt) on a tap in a bridge of its own namespace, with dnsmasq serving
// DHCPv4, DHCPv6 and router advertisements. The guest must report its leases
// on the console, answer ping and HTTP, and renew when told to on the kernel
// command line. Nothing leaves the namespace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteNetns, makeNetns, type Netns } from '../../support/netns.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const MAC = '52:54:00:12:34:56';
const READY_TIMEOUT_MS = 60_000;

/** Cleanups still owed; `after` runs whatever a failed test left. */
const cleanups = new Set<() => Promise<void>>();

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
  }
}

interface Boot {
  ns: Netns;
  dir: string;
  qemu: ChildProcess;
  /** Date.now() when qemu was started. */
  startedAt: number;
  console(): string;
  stop(): Promise<void>;
}

function consoleOf(dir: string): string {
  const file = join(dir, 'console.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** Console lines carrying a report of this kind; a report may follow a shell prompt on its line. */
function reports(text: string, kind: string): string[] {
  const re = new RegExp(`${kind}(?: .*)?$`, 'u');
  return text.split(/\r?\n/u).flatMap((line) => {
    const m = re.exec(line.trimEnd());
    return m ? [m[0]] : [];
  });
}

/** "KIND k=v k=v" -> { k: v }. */
function fields(report: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of report.split(/\s+/u).slice(1)) {
    const eq = word.indexOf('=');
    if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

async function waitFor(boot: Boot, what: string, ok: (text: string) => boolean, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = boot.console();
    if (ok(text)) return Date.now();
    if (boot.qemu.exitCode !== null || boot.qemu.signalCode !== null) {
      assert.fail(`qemu exited (${boot.qemu.exitCode ?? boot.qemu.signalCode}) before ${what}; console:\n${text}`);
    }
    if (Date.now() > deadline) assert.fail(`no ${what} within ${timeoutMs / 1000} s; console:\n${text}`);
    await sleep(200);
  }
}

async function boot(guestDir: string, append: string): Promise<Boot> {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-guest-'));
  const ns = makeNetns('vnt-guest');
  const children: ChildProcess[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    cleanups.delete(stop);
    for (const child of children.reverse()) await stopChild(child);
    deleteNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.add(stop);
  try {
    // No DAD inside: the bridge's link-local address sends the RAs at once.
    ns.run(['sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    ns.run(['ip', 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
    ns.run(['ip', 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
    ns.run(['ip', 'link', 'set', 'tap0', 'master', 'br0']);
    ns.run(['ip', 'addr', 'add', '10.123.0.1/24', 'dev', 'br0']);
    ns.run(['ip', 'addr', 'add', 'fd00:123::1/64', 'dev', 'br0', 'nodad']);
    ns.run(['ip', 'link', 'set', 'tap0', 'up']);
    ns.run(['ip', 'link', 'set', 'br0', 'up']);

    const dnsmasq = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns.name,
        'dnsmasq',
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--port=0',
        '--no-ping',
        '--bind-interfaces',
        '--interface=br0',
        '--dhcp-range=10.123.0.50,static,255.255.255.0',
        `--dhcp-host=${MAC},10.123.0.50,testvm,infinite`,
        '--dhcp-option=option:router,10.123.0.1',
        '--dhcp-option=option:dns-server,10.123.0.53',
        '--dhcp-option=option:domain-search,example.test',
        '--dhcp-option=option:mtu,1400',
        '--dhcp-range=fd00:123::50,fd00:123::50,64,infinite',
        '--enable-ra',
        '--ra-param=br0,10,1800',
        `--dhcp-leasefile=${join(dir, 'leases')}`,
        `--pid-file=${join(dir, 'dnsmasq.pid')}`,
        '--log-dhcp',
        `--log-facility=${join(dir, 'dnsmasq.log')}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(dnsmasq);
    let dnsmasqErr = '';
    dnsmasq.stderr?.on('data', (b: Buffer) => {
      dnsmasqErr += b.toString();
    });
    await sleep(300);
    assert.equal(dnsmasq.exitCode, null, `dnsmasq exited: ${dnsmasqErr}`);

    const startedAt = Date.now();
    const qemu = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns.name,
        'qemu-system-x86_64',
        '-accel',
        'tcg',
        '-m',
        '256',
        '-nodefaults',
        '-nographic',
        '-no-reboot',
        '-kernel',
        join(guestDir, 'vmlinuz'),
        '-initrd',
        join(guestDir, 'initrd.img'),
        '-append',
        `console=ttyS0 quiet panic=-1${append ? ` ${append}` : ''}`,
        '-netdev',
        'tap,id=n0,ifname=tap0,script=no,downscript=no',
        '-device',
        `virtio-net-pci,netdev=n0,mac=${MAC}`,
        '-serial',
        `file:${join(dir, 'console.log')}`,
        '-display',
        'none',
        '-monitor',
        'none',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(qemu);
    let qemuErr = '';
    qemu.stderr?.on('data', (b: Buffer) => {
      qemuErr += b.toString();
    });
    qemu.once('exit', (code, signal) => {
      if (!stopped) console.error(`qemu exited early (${code ?? signal}): ${qemuErr}`);
    });
    return { ns, dir, qemu, startedAt, console: () => consoleOf(dir), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

describe('test guest (bare qemu, TCG)', () => {
  let guestDir = '';

  before(
    () => {
      const started = Date.now();
      const r = spawnSync('bash', [join(repo, 'scripts/build-guest.sh')], {
        cwd: repo,
        encoding: 'utf8',
        timeout: 280_000,
      });
      assert.equal(r.status, 0, `build-guest.sh failed (${r.status ?? r.signal}):\n${r.stderr}`);
      const lines = r.stdout.trim().split('\n');
      guestDir = lines[lines.length - 1] ?? '';
      assert.ok(
        existsSync(join(guestDir, 'vmlinuz')) && existsSync(join(guestDir, 'initrd.img')),
        `no guest in "${guestDir}"`,
      );
      console.error(`# build-guest.sh: ${Date.now() - started} ms`);
    },
    { timeout: 300_000 },
  );

  after(async () => {
    for (const cleanup of [...cleanups]) await cleanup();
  });

  test('gets its DHCPv4 and DHCPv6 leases, answers ping and HTTP', { timeout: 180_000 }, async (t) => {
    const vm = await boot(guestDir, '');
    try {
      const readyAt = await waitFor(
        vm,
        'VIRTNET-READY',
        (s) => reports(s, 'VIRTNET-READY').length > 0,
        READY_TIMEOUT_MS,
      );
      t.diagnostic(`boot to VIRTNET-READY: ${readyAt - vm.startedAt} ms`);

      const lease4 = reports(vm.console(), 'VIRTNET-LEASE4');
      assert.ok(lease4.length > 0, `no VIRTNET-LEASE4 line:\n${vm.console()}`);
      const l4 = fields(lease4[0]!);
      assert.equal(l4.iface, 'eth0');
      assert.equal(l4.event, 'bound');
      assert.equal(l4.ip, '10.123.0.50/24');
      assert.equal(l4.router, '10.123.0.1');
      assert.equal(l4.dns, '10.123.0.53');
      assert.equal(l4.search, 'example.test');
      assert.equal(l4.mtu, '1400');
      assert.equal(l4.hostname, 'testvm');

      const routes = reports(vm.console(), 'VIRTNET-ROUTE');
      assert.ok(
        routes.some((r) => /^VIRTNET-ROUTE default via 10\.123\.0\.1 dev eth0/u.test(r)),
        `routes:\n${routes.join('\n')}`,
      );

      const v6At = await waitFor(vm, 'VIRTNET-LEASE6', (s) => reports(s, 'VIRTNET-LEASE6').length > 0, 25_000);
      t.diagnostic(`boot to VIRTNET-LEASE6: ${v6At - vm.startedAt} ms`);
      const l6 = fields(reports(vm.console(), 'VIRTNET-LEASE6')[0]!);
      assert.equal(l6.iface, 'eth0');
      assert.match(l6.ip ?? '', /^fd00:123::50\/\d+$/u);
      assert.match(l6.router ?? '', /^fe80::/u, 'the RA gave a default route');

      const ping4 = vm.ns.try(['ping', '-c1', '-W2', '10.123.0.50']);
      assert.equal(ping4.status, 0, `ping 10.123.0.50: ${ping4.stdout}${ping4.stderr}`);
      const ping6 = vm.ns.try(['ping', '-6', '-c1', '-W2', 'fd00:123::50']);
      assert.equal(ping6.status, 0, `ping fd00:123::50: ${ping6.stdout}${ping6.stderr}`);
      const http = vm.ns.try(['curl', '-s', '--max-time', '5', 'http://10.123.0.50/']);
      assert.equal(http.status, 0, `curl: exit ${http.status} ${http.stderr}`);
      assert.match(http.stdout, /virtnet guest testvm/u);
    } finally {
      await vm.stop();
    }
  });

  test('virtnet.renew=2 makes udhcpc renew', { timeout: 180_000 }, async (t) => {
    const vm = await boot(guestDir, 'virtnet.renew=2');
    try {
      const readyAt = await waitFor(
        vm,
        'VIRTNET-READY',
        (s) => reports(s, 'VIRTNET-READY').length > 0,
        READY_TIMEOUT_MS,
      );
      t.diagnostic(`boot to VIRTNET-READY: ${readyAt - vm.startedAt} ms`);
      const renewAt = await waitFor(
        vm,
        'a renew event',
        (s) => reports(s, 'VIRTNET-LEASE4').some((r) => fields(r).event === 'renew'),
        20_000,
      );
      t.diagnostic(`VIRTNET-READY to first renew: ${renewAt - readyAt} ms`);
      const renewed = reports(vm.console(), 'VIRTNET-LEASE4')
        .map(fields)
        .find((f) => f.event === 'renew');
      assert.equal(renewed?.ip, '10.123.0.50/24');
      assert.equal(renewed?.hostname, 'testvm');
    } finally {
      await vm.stop();
    }
  });
});
