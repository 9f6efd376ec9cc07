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

  /** The pty of the domain's serial console, for interactive attach. */
  async consolePty(name: string): Promise<string | undefined> {
    const r = await this.run(['ttyconsole', name], true);
    return r.exitCode === 0 ? r.stdout.trim() || undefined : undefined;
  }
}
