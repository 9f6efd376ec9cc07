/**
 * KVM or TCG. /dev/kvm can exist where KVM does not work: on these machines
 * the CPU has no vmx/svm and `-accel kvm` spins without booting
 * (shared/reference/measured-here.md). So KVM is used only when a short boot probe of the
 * VM's own kernel finishes; otherwise TCG, with the reason.
 */
import { existsSync, readFileSync } from 'node:fs';
import { exec } from '../../lib/exec.ts';

export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  reason: string;
}

export async function chooseAccel(probeKernel: string | undefined, timeoutMs = 8000): Promise<AccelChoice> {
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', reason: 'no /dev/kvm' };
  const flags = readFileSync('/proc/cpuinfo', 'utf8');
  if (!/\b(vmx|svm)\b/u.test(flags)) return { accel: 'tcg', reason: 'the CPU shows no vmx/svm flag' };
  if (!probeKernel) return { accel: 'tcg', reason: 'KVM could not be verified without a kernel to probe' };
  // The kernel panics at once without a root filesystem; panic=-1 reboots and -no-reboot exits.
  const r = await exec(
    [
      'qemu-system-x86_64',
      '-accel',
      'kvm',
      '-M',
      'q35',
      '-m',
      '128',
      '-display',
      'none',
      '-serial',
      'none',
      '-monitor',
      'none',
      '-no-reboot',
      '-kernel',
      probeKernel,
      '-append',
      'panic=-1',
    ],
    { timeoutMs, allowFailure: true },
  ).catch(() => undefined);
  if (r && r.exitCode === 0) return { accel: 'kvm', reason: 'a KVM boot probe finished' };
  return { accel: 'tcg', reason: `a KVM boot probe did not finish within ${timeoutMs} ms` };
}
