/**
 * Looking inside a real guest through its serial console: a cloud-init
 * runcmd added to a VMI's user data waits until the guest's network is
 * what the test expects (or 90 s pass), then prints what the guest's own
 * tools say (hostname, addresses, links, routes, DNS) to /dev/ttyS0, each
 * line tagged, so that `virtnet logs` carries it out of the VM.
 */
import { parse, stringify } from 'yaml';

type Obj = Record<string, any>;

const TAG = 'VNP';

/** The shell a probe runs: `ready` is a shell condition polled once a second. */
function probeScript(name: string, ready: string): string {
  const report = [
    'echo "hostname $(hostname)"',
    'ip -o addr show',
    'ip -o link show',
    'ip -4 route show',
    'ip -6 route show',
    'resolvectl dns',
    'resolvectl domain',
    'cat /etc/resolv.conf',
    'cloud-init status --long',
  ].join('; ');
  return (
    `for i in $(seq 90); do ${ready} && break; sleep 1; done; { echo "ready $i"; ${report}; } 2>&1 | sed ` +
    `"s/^/${TAG} ${name} /" > /dev/ttyS0; echo "${TAG} ${name} END" > /dev/ttyS0`
  );
}

/** A VMI document with the probe added to its cloud-init user data (a #cloud-config). */
export function withProbe(doc: Obj, ready: string): Obj {
  const volume = (doc.spec.volumes as Obj[]).find((v) => v.cloudInitNoCloud ?? v.cloudInitConfigDrive);
  const ci = volume!.cloudInitNoCloud ?? volume!.cloudInitConfigDrive;
  const config = (parse(ci.userData ?? '#cloud-config\n') ?? {}) as Obj;
  config.runcmd = [...(config.runcmd ?? []), ['sh', '-c', probeScript(doc.metadata.name, ready)]];
  ci.userData = `#cloud-config\n${stringify(config)}`;
  return doc;
}

/** The probe's report of VMI `name` in a console log, once it ended; without the tag. */
export function probeReport(log: string, name: string): string[] | undefined {
  const lines = log
    .replace(/\r/gu, '')
    .split('\n')
    .map((l) => l.slice(Math.max(0, l.indexOf(`${TAG} ${name} `))))
    .filter((l) => l.startsWith(`${TAG} ${name} `))
    .map((l) => l.slice(`${TAG} ${name} `.length));
  return lines.includes('END') ? lines.slice(0, lines.indexOf('END')) : undefined;
}

/** `ip -o addr` lines of one link: "inet 10.0.2.2/24", "inet6 fd10:0:2::2/120", … */
export function addresses(report: readonly string[], dev: string): string[] {
  return report.flatMap((l) => {
    const m = new RegExp(`^\\d+: ${dev}\\s+(inet6?) (\\S+) .*scope (\\w+)`, 'u').exec(l);
    return m ? [`${m[1]} ${m[2]} ${m[3]}`] : [];
  });
}

export function mtuOf(report: readonly string[], dev: string): number | undefined {
  const line = report.find((l) => new RegExp(`^\\d+: ${dev}: `, 'u').test(l));
  const m = line && /\bmtu (\d+)/u.exec(line);
  return m ? Number(m[1]) : undefined;
}
