/** The libvirt driver: virsh(1) with an explicit URI, argv only. */
import { exec } from '../../lib/exec.ts';

export class Virsh {
  constructor(readonly uri: string) {}

  private run(args: string[], allowFailure = false) {
    return exec(['virsh', '-q', '-c', this.uri, ...args], { timeoutMs: 120_000, allowFailure });
  }

  /** Start a transient domain from an XML file. */
  async create(xmlFile: string): Promise<void> {
    await this.run(['create', xmlFile]);
  }

  /** Stop a domain now; succeeds when it is already gone. */
  async destroy(name: string): Promise<void> {
    const r = await this.run(['destroy', name], true);
    if (r.exitCode !== 0 && !/not found|no domain|not running/iu.test(r.stderr)) {
      await this.run(['destroy', name]);
    }
  }

  async state(name: string): Promise<string | undefined> {
    const r = await this.run(['domstate', name], true);
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  }

  /** Hot-plug a device into the running domain (virsh attach-device --live). */
  async attachDevice(name: string, xmlFile: string): Promise<void> {
    await this.run(['attach-device', name, xmlFile, '--live']);
  }

  /**
   * Ask the guest to release a device given by its XML (virsh detach-device --live). libvirt waits a few
   * seconds for the guest's release before it returns (qemuDomainWaitForDeviceRemoval), so a guest that lets
   * go at once is gone on return; hasAlias tells.
   */
  async detachDevice(name: string, xmlFile: string): Promise<{ ok: boolean; stderr: string }> {
    const r = await this.run(['detach-device', name, xmlFile, '--live'], true);
    return { ok: r.exitCode === 0, stderr: r.stderr.trim() };
  }

  /**
   * Ask the guest to release a device (virsh detach-device-alias --live). libvirt returns once QEMU has sent
   * the unplug request, before the guest acts on it: hasAlias tells when the device is really gone.
   */
  async detachAlias(name: string, alias: string): Promise<{ ok: boolean; stderr: string }> {
    const r = await this.run(['detach-device-alias', name, alias, '--live'], true);
    return { ok: r.exitCode === 0, stderr: r.stderr.trim() };
  }

  /** Change a device of the running domain in place, a NIC's link state say (virsh update-device --live). */
  async updateDevice(name: string, xmlFile: string): Promise<void> {
    await this.run(['update-device', name, xmlFile, '--live']);
  }

  /** Whether the running domain's live XML still has a device with this alias. */
  async hasAlias(name: string, alias: string): Promise<boolean> {
    const r = await this.run(['dumpxml', name]);
    return r.stdout.includes(`<alias name='${alias}'/>`);
  }

  /** The pty of the domain's serial console, for interactive attach. */
  async consolePty(name: string): Promise<string | undefined> {
    const r = await this.run(['ttyconsole', name], true);
    return r.exitCode === 0 ? r.stdout.trim() || undefined : undefined;
  }
}
