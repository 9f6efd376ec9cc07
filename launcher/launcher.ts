/**
 * The launcher's life: discover the pod, plan, apply, serve DHCP, start
 * libvirtd and the domain, report leases; and the reverse on stop. Each step
 * hands the next a plain value, and its time goes into the status.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { onFileChange } from '../lib/watch.ts';
import { applyLiveSpec, type LiveContext } from './hotplug.ts';
import type { DhcpNic } from './dhcp/dnsmasq-config.ts';
import { discoverPod } from './discover.ts';
import { planPod } from './plan/pod.ts';
import { dhcpNicOf, type PodPlan } from './plan/types.ts';
import { applyPodPlan, freshMacs, probeDummyLinks, teardownPod } from './apply.ts';
import { DnsmasqSupervisor, dnsmasqFiles } from './dhcp/supervisor.ts';
import { parseLeases } from './dhcp/leases.ts';
import { chooseAccel } from './domain/accel.ts';
import { startLibvirtd, type Libvirtd } from './domain/libvirtd.ts';
import { renderDomainXml, type DomainDisk, type EfiFirmware } from './domain/xml.ts';
import { Virsh } from './domain/virsh.ts';
import { overlayFile, prepareDiskOverlay } from './domain/disk.ts';
import { buildSeedDisk } from './domain/seed.ts';
import { ovmfFiles } from './domain/firmware.ts';
import { domainName } from './names.ts';
import { nicStatus, writeStatus, type LauncherStatus } from './status.ts';
import { startTime, terminate } from '../lib/process.ts';
import { crashPoint } from '../lib/crash-point.ts';
import type { LauncherSpec } from './spec.ts';
import type { LauncherStep } from './steps.ts';
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import type { LogFields, Logger } from '../lib/log.ts';

/** OVMF for this VM, checked where QEMU will open it; its NVRAM lives with the VM's state. */
function efiFirmware(secureBoot: boolean, stateDir: string): EfiFirmware {
  const files = ovmfFiles(secureBoot);
  if (files.missing)
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `boot.firmware efi: ${files.missing} is missing; install Debian's package ovmf`,
    );
  return { code: files.code, varsTemplate: files.varsTemplate, nvram: join(stateDir, 'nvram.fd'), secureBoot };
}

export interface LauncherOptions {
  spec: LauncherSpec;
  stateDir: string;
  resolvConf: string;
  libvirtCacheDir?: string;
  /** Wire the network and serve DHCP, but start no VM (benchmarks, tests of the wiring). */
  networkOnly?: boolean;
  /** lib/log.ts's JSON lines; without one, nothing is logged. */
  log?: Logger;
  /** spec.json, watched while the VM runs: a higher generation there is a live change (launcher/hotplug.ts). */
  specFile?: string;
  /** spec.json read and checked again, as at the start (the allowed host paths included). */
  readSpec?: () => LauncherSpec;
}

export class Launcher {
  readonly status: LauncherStatus;
  private readonly started = performance.now();
  private dnsmasq: DnsmasqSupervisor | undefined;
  private libvirtd: Libvirtd | undefined;
  /** libvirtd on its way up, started beside the network steps (start()). */
  private libvirtdStarting: Promise<Libvirtd> | undefined;
  private virsh: Virsh | undefined;
  private plan: PodPlan | undefined;
  private stopLeaseWatch: (() => void) | undefined;
  private stopSpecWatch: (() => void) | undefined;
  /** The spec the running VM has: the start's, then each live change's. */
  private applied: LauncherSpec;
  /** Live changes run one at a time, in the order their files were seen. */
  private liveChain: Promise<void> = Promise.resolve();
  private dummyLinks = false;

  constructor(private readonly opts: LauncherOptions) {
    this.status = { phase: 'Starting', pid: process.pid, nics: [], steps: [], warnings: [] };
    this.applied = opts.spec;
  }

  private log(msg: string, fields: LogFields = {}): void {
    this.opts.log?.info(fields, msg);
  }

  /** A child to reap after a crash where there is no cgroup v2: its pid with its start time (launcher/leftovers.ts). */
  private recordPid(kind: keyof NonNullable<LauncherStatus['pids']>, pid: number): void {
    this.status.pids = { ...this.status.pids, [kind]: pid };
    const start = startTime(pid);
    if (start) this.status.pidStarts = { ...this.status.pidStarts, [kind]: start };
  }

  private save(): void {
    writeStatus(this.opts.stateDir, this.status);
  }

  private async step<T>(name: LauncherStep, fn: () => Promise<T> | T): Promise<T> {
    const t = performance.now();
    crashPoint(`launcher.${name}.start`);
    const out = await fn();
    crashPoint(`launcher.${name}.done`);
    this.status.steps.push({ name, ms: +(performance.now() - t).toFixed(1) });
    this.log('step', { step: name, ms: this.status.steps.at(-1)!.ms });
    this.save();
    return out;
  }

  async start(): Promise<void> {
    const { spec, stateDir } = this.opts;
    try {
      // libvirtd needs nothing of the pod's network, so its start (about 40 ms) runs beside the network steps.
      if (!this.opts.networkOnly) this.libvirtdStarting = this.launchLibvirtd();
      const pod = await this.step('discover', () => discoverPod(this.opts.resolvConf));
      const plan = await this.step('plan', async () => {
        this.dummyLinks = await probeDummyLinks();
        return planPod(spec, pod, { dummyLinks: this.dummyLinks, freshMacs: freshMacs(spec.interfaces.length) });
      });
      this.plan = plan;
      this.status.warnings.push(...plan.warnings);
      this.status.nics = plan.nics.map(nicStatus);
      await this.step('network', () => applyPodPlan(stateDir, pod, plan));
      this.status.tapReadyAtMs = +(performance.now() - this.started).toFixed(1);
      const dhcpNics = plan.nics.flatMap((n) => dhcpNicOf(n) ?? []);
      if (dhcpNics.length) {
        await this.step('dhcp', () => {
          this.dnsmasq = new DnsmasqSupervisor(dnsmasqFiles(stateDir), (m) => this.opts.log?.warn(m));
          this.status.warnings.push(...this.dnsmasq.configure(dhcpNics));
          this.dnsmasq.start();
          if (this.dnsmasq.pid) this.recordPid('dnsmasq', this.dnsmasq.pid);
        });
        this.watchLeases();
      }
      if (!this.opts.networkOnly) await this.startVm();
      this.status.phase = 'Running';
      this.status.observedGeneration = spec.generation ?? 0;
      this.save();
      this.watchSpec();
    } catch (err) {
      this.status.phase = 'Failed';
      this.status.error = (err as Error).message;
      this.save();
      await this.stop().catch(() => undefined);
      this.status.phase = 'Failed';
      this.save();
      throw err;
    }
  }

  private async startVm(): Promise<void> {
    const { spec, stateDir } = this.opts;
    const probeKernel = 'kernel' in spec.boot ? spec.boot.kernel : undefined;
    // Recorded inside the step, so that its report already names the choice.
    const accel = await this.step('accel', async () => {
      const chosen = await chooseAccel(probeKernel);
      this.status.accel = chosen.accel;
      this.status.accelReason = chosen.reason;
      return chosen;
    });
    if (accel.accel === 'tcg') this.status.warnings.push(`using TCG (software emulation): ${accel.reason}`);
    this.libvirtd = await this.step('libvirtd', () => this.libvirtdStarting ?? this.launchLibvirtd());
    this.status.libvirtUri = this.libvirtd.uri;
    this.virsh = new Virsh(this.libvirtd.uri);
    const name = domainName(spec);
    const consoleLog = join(stateDir, 'console.log');
    const disks = await this.step('disks', () => this.prepareDisks());
    const xml = renderDomainXml({
      name,
      accel: accel.accel,
      memoryMiB: spec.memoryMiB,
      cpus: spec.cpus,
      disks,
      ...('kernel' in spec.boot && { kernel: spec.boot }),
      ...(!('kernel' in spec.boot) &&
        spec.boot.firmware === 'efi' && { efi: efiFirmware(spec.boot.secureBoot ?? true, stateDir) }),
      nics: this.plan?.nics ?? [],
      consoleLog,
      emulator: '/usr/bin/qemu-system-x86_64',
      ...(spec.hotplugPorts !== undefined && { hotplugPorts: spec.hotplugPorts }),
    });
    const xmlFile = join(stateDir, 'domain.xml');
    writeFileSync(xmlFile, xml);
    await this.step('boot', () => this.virsh!.create(xmlFile));
    this.status.domain = name;
    // libvirt daemonizes QEMU; its pid file lives in our private /run/libvirt.
    const qemuPid = Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, 'utf8').trim());
    if (qemuPid > 1) this.recordPid('qemu', qemuPid);
    this.status.consoleLog = consoleLog;
  }

  /**
   * The VM's disks: an overlay of its own over each node file (it never
   * writes to an image it shares, domain/disk.ts), then the cloud-init seed.
   */
  private async prepareDisks(): Promise<DomainDisk[]> {
    const { spec, stateDir } = this.opts;
    const disks: DomainDisk[] = [];
    for (const [i, d] of (spec.disks ?? []).entries()) {
      const file = await prepareDiskOverlay(d.file, d.format, overlayFile(stateDir, i));
      disks.push({
        file,
        format: 'qcow2',
        device: d.device,
        bus: d.bus,
        ...(d.bootOrder !== undefined && { bootOrder: d.bootOrder }),
      });
    }
    if (spec.cloudInit) disks.push(await buildSeedDisk(spec.cloudInit, this.plan?.nics ?? [], stateDir));
    return disks;
  }

  private watchLeases(): void {
    const file = dnsmasqFiles(this.opts.stateDir).leases;
    const check = () => {
      if (!existsSync(file)) return;
      const leases = parseLeases(readFileSync(file, 'utf8'));
      let changed = false;
      for (const nic of this.status.nics) {
        const plan = this.plan?.nics.find((n) => n.name === nic.name)?.dhcp;
        if (!plan) continue;
        const got4 = plan.ipv4 !== undefined && leases.v4.get(nic.mac) === plan.ipv4.address;
        const got6 = plan.ipv6 !== undefined && leases.v6.has(plan.ipv6.address.toLowerCase());
        if (got4 !== nic.leased4 || got6 !== nic.leased6) {
          nic.leased4 = got4;
          nic.leased6 = got6;
          nic.leasedAtMs ??= +(performance.now() - this.started).toFixed(0);
          changed = true;
          this.log('lease', { nic: nic.name, ipv4: got4, ipv6: got6 });
        }
      }
      if (this.dnsmasq && this.status.dnsmasqRestarts !== this.dnsmasq.restarts) {
        this.status.dnsmasqRestarts = this.dnsmasq.restarts;
        if (this.dnsmasq.pid) this.recordPid('dnsmasq', this.dnsmasq.pid);
        changed = true;
      }
      if (changed) this.save();
    };
    // dnsmasq rewrites its lease file on each lease (dnsmasq(8) --dhcp-leasefile): woken by that, a lease is seen
    // within milliseconds instead of a poll's half-period on average.
    this.stopLeaseWatch = onFileChange(dirname(file), basename(file), 250, check);
  }

  /** Serve exactly these NICs: a new config needs a new dnsmasq, which keeps the lease file (dhcp/supervisor.ts). */
  private async serveDhcp(nics: DhcpNic[]): Promise<void> {
    if (this.dnsmasq) await this.dnsmasq.stop();
    if (!nics.length) return;
    this.dnsmasq ??= new DnsmasqSupervisor(dnsmasqFiles(this.opts.stateDir), (m) => this.opts.log?.warn(m));
    this.status.warnings.push(...this.dnsmasq.configure(nics));
    this.dnsmasq.start();
    if (this.dnsmasq.pid) this.recordPid('dnsmasq', this.dnsmasq.pid);
    if (!this.stopLeaseWatch) this.watchLeases();
    await this.dnsmasq.ready();
  }

  private watchSpec(): void {
    const { specFile, readSpec } = this.opts;
    if (!specFile || !readSpec) return;
    const seen = () => (this.liveChain = this.liveChain.then(() => this.applyLive(readSpec)));
    this.stopSpecWatch = onFileChange(dirname(specFile), basename(specFile), 1000, seen);
  }

  /** One look at spec.json: a higher generation than the one applied is applied now, and reported. */
  private async applyLive(readSpec: () => LauncherSpec): Promise<void> {
    if (this.status.phase !== 'Running') return;
    let next: LauncherSpec;
    try {
      next = readSpec();
    } catch (e) {
      // A half-written or hostile file changes nothing; the one after it may.
      this.status.liveError = (e as Error).message;
      this.save();
      return;
    }
    const generation = next.generation ?? 0;
    if (generation <= (this.status.observedGeneration ?? 0)) return;
    const t = performance.now();
    const ctx = this.liveContext();
    let errors: string[];
    try {
      errors = await applyLiveSpec(ctx, this.applied, next);
      this.applied = next;
    } catch (e) {
      errors = [(e as Error).message];
    }
    this.status.observedGeneration = generation;
    if (errors.length) this.status.liveError = errors.join('; ');
    else delete this.status.liveError;
    this.log('live change', { generation, ms: +(performance.now() - t).toFixed(1), errors });
    this.save();
  }

  private liveContext(): LiveContext {
    if (!this.plan) throw new Error('live change before the pod was planned');
    const domain = this.status.domain;
    return {
      stateDir: this.opts.stateDir,
      resolvConf: this.opts.resolvConf,
      dummyLinks: this.dummyLinks,
      plan: this.plan,
      status: this.status,
      ...(this.virsh && domain && { vm: { virsh: this.virsh, domain } }),
      serveDhcp: (nics) => this.serveDhcp(nics),
      save: () => this.save(),
    };
  }

  /** startLibvirtd with this launcher's options, its pid recorded as soon as it is known. */
  private launchLibvirtd(): Promise<Libvirtd> {
    const { stateDir, libvirtCacheDir } = this.opts;
    const starting = startLibvirtd({ stateDir, ...(libvirtCacheDir && { sharedCacheDir: libvirtCacheDir }) }).then(
      (libvirtd) => {
        this.recordPid('libvirtd', libvirtd.daemon.pid);
        return libvirtd;
      },
    );
    // Awaited later, by startVm() or stop(); meanwhile a failure must not count as unhandled.
    starting.catch(() => undefined);
    return starting;
  }

  /** Destroy the domain, stop libvirtd and dnsmasq, restore the pod. Idempotent. */
  async stop(): Promise<void> {
    const t = performance.now();
    this.stopLeaseWatch?.();
    // A live change under way is not awaited: the teardown below undoes what it made (its NICs are journaled).
    this.stopSpecWatch?.();
    const errors: Error[] = [];
    // QEMU gets SIGTERM, as `virsh destroy` would give it, but directly: it exits in milliseconds,
    // while libvirt's destroy and a clean libvirtd shutdown took about 2 s more (measured here).
    // This libvirtd keeps nothing worth a clean shutdown: its state is a tmpfs of this pod's own
    // mount namespace, gone with the launcher. So it gets a short grace.
    const qemu = this.status.pids?.qemu;
    if (qemu && this.status.domain) await terminate(qemu, `guest=${this.status.domain},`, 5000);
    else if (this.virsh && this.status.domain)
      await this.virsh.destroy(this.status.domain).catch((e: Error) => errors.push(e));
    // A start that failed before the VM's turn still has a libvirtd on its way up, or up.
    const libvirtd = this.libvirtd ?? (await this.libvirtdStarting?.catch(() => undefined));
    await libvirtd?.stop(qemu ? 200 : 5000).catch((e: Error) => errors.push(e));
    await this.dnsmasq?.stop().catch((e: Error) => errors.push(e));
    await teardownPod(this.opts.stateDir).catch((e: Error) => errors.push(e));
    this.status.phase = 'Stopped';
    this.status.teardownMs = +(performance.now() - t).toFixed(1);
    this.save();
    if (errors.length) throw errors[0];
  }
}
