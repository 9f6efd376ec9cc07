/**
 * virtnet-launcher: runs inside one VM pod's network namespace, in a mount
 * namespace of its own.
 *   virtnet-launcher run --spec FILE --state-dir DIR [--resolv-conf FILE]
 *                        [--libvirt-cache DIR|none] [--network-only]
 *                        --allowed-host-path DIR... [--cgroup DIR]
 *   virtnet-launcher teardown --state-dir DIR     (after a crash)
 *   virtnet-launcher console --state-dir DIR      (the guest's serial console)
 * It runs until SIGTERM or SIGINT, then tears everything down.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { cgroupOf } from '../lib/cgroup.ts';
import { createLogger } from '../lib/log.ts';
import { interactive, relay } from '../lib/exec.ts';
import {
  mountsPropagateNowhere,
  PRIVATE_MOUNTNS_ENV,
  PRIVATE_MOUNTNS_PENDING,
  PRIVATE_MOUNTNS_WRAPPER,
} from './domain/libvirtd.ts';
import { Launcher } from './launcher.ts';
import { teardownPod } from './apply.ts';
import { killLeftovers } from './leftovers.ts';
import { readStatus } from './status.ts';
import { launcherSpecFrom } from './spec.ts';
import { VERSION } from '../lib/version.ts';

const DEFAULT_LIBVIRT_CACHE = '/var/cache/virtnet/libvirt-qemu';

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** JSON lines on stderr (lib/log.ts); the node runtime sends them to the VMI's launcher.log. */
const log = createLogger({ component: 'launcher' });

/**
 * libvirtd needs tmpfs over libvirt's directories, which must never reach
 * the host, so the launcher runs in a private mount namespace. The node
 * runtime starts it there already (PRIVATE_MOUNTNS_WRAPPER, marker
 * `pending`): one process. The env marker then holds the namespace's id.
 */
function inPrivateMountNamespace(): boolean {
  return process.env[PRIVATE_MOUNTNS_ENV] === readlinkSync('/proc/self/ns/mnt');
}

/**
 * Started without the wrapper (by hand, the tests' fixtures, a pod's own
 * container command): re-run under it as a child, relay signals, and exit
 * with the child's code. This costs a second Node process.
 */
function reexecInMountNamespace(argv: string[]): Promise<number> {
  const self = [process.execPath, ...process.execArgv, process.argv[1]!, ...argv];
  return relay([...PRIVATE_MOUNTNS_WRAPPER, ...self], {
    ...process.env,
    [PRIVATE_MOUNTNS_ENV]: PRIVATE_MOUNTNS_PENDING,
  });
}

/** First code in the new namespace: check that it is one (a `pending` set by hand is not), and record its id. */
function recordPrivateMountNamespace(): void {
  if (!mountsPropagateNowhere(readFileSync('/proc/self/mountinfo', 'utf8')))
    throw new Error(`${PRIVATE_MOUNTNS_ENV}=${PRIVATE_MOUNTNS_PENDING}, but this mount namespace has shared mounts`);
  process.env[PRIVATE_MOUNTNS_ENV] = readlinkSync('/proc/self/ns/mnt');
}

/** Every value of a repeatable flag. */
function allArgs(all: string[], name: string): string[] {
  return all.flatMap((a, i) => (a === name && all[i + 1] !== undefined ? [all[i + 1]!] : []));
}

/**
 * Wait until the node runtime has moved this process into the pod's cgroup
 * (lib/cgroup.ts) before anything is forked, so that every child (unshare,
 * dnsmasq, libvirtd, QEMU, virsh) is born in it. The launcher cannot move
 * itself: `ip netns exec` remounts /sys, and the cgroup2 mount under it is
 * not visible here; /proc/self/cgroup is.
 */
async function awaitPodCgroup(name: string | undefined): Promise<void> {
  if (name === undefined) return;
  if (!/^\/virtnet\/[a-z0-9][a-z0-9-]{0,62}$/u.test(name))
    throw new Error(`--cgroup: "${name}" is not a pod cgroup (/virtnet/<sandbox>)`);
  for (const end = Date.now() + 5000; cgroupOf() !== name; await new Promise((r) => setTimeout(r, 2))) {
    if (Date.now() > end)
      throw new Error(`--cgroup: not moved into ${name} within 5 s (in ${cgroupOf() ?? 'no v2 cgroup'})`);
  }
}

const VERBS = ['run', 'teardown', 'console'];

const HELP = `Usage: virtnet-launcher run|teardown|console [options]

Runs one VM in its pod's network namespace, as the node runtime starts it in each launcher pod,
until SIGTERM or SIGINT; then tears everything down.

Commands:
  run --spec FILE --state-dir DIR   wire the NICs, serve DHCP, start the VM
      [--resolv-conf FILE] [--libvirt-cache DIR|none] [--network-only]
      [--allowed-host-path DIR]... [--cgroup /virtnet/SANDBOX]
  teardown --state-dir DIR          after a crash: stop what still runs, put the pod's network back
  console --state-dir DIR           the guest's serial console (Ctrl-] detaches)

Options:
  --version   print the version
  -h, --help  display this help

Examples:
  # Run the VM of a spec whose disks are under /var/lib/virtnet
  virtnet-launcher run --spec spec.json --state-dir /run/vm --allowed-host-path /var/lib/virtnet
  # Attach to its serial console
  virtnet-launcher console --state-dir /run/vm
`;

/** --help and --version answer on stdout (exit 0); no verb or an unknown one is a usage error (exit 2). */
function answerByHand(verb: string | undefined, args: string[]): number | undefined {
  if (verb === '--help' || verb === '-h' || args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (verb === '--version') {
    process.stdout.write(`virtnet-launcher ${VERSION}\n`);
    return 0;
  }
  if (verb !== undefined && VERBS.includes(verb)) return undefined;
  const problem = verb === undefined ? 'no command given' : `unknown command '${verb}'`;
  process.stderr.write(`error: ${problem}; use run, teardown or console\nSee 'virtnet-launcher --help'.\n`);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...args] = argv;
  const answered = answerByHand(verb, args);
  if (answered !== undefined) return answered;
  if (verb === 'run' && !inPrivateMountNamespace()) await awaitPodCgroup(arg(args, '--cgroup'));
  if (verb === 'run' && !inPrivateMountNamespace()) {
    if (process.env[PRIVATE_MOUNTNS_ENV] !== PRIVATE_MOUNTNS_PENDING) return reexecInMountNamespace(argv);
    recordPrivateMountNamespace();
  }
  const stateDir = arg(args, '--state-dir');
  if (!stateDir?.startsWith('/')) throw new Error('--state-dir: an absolute path is required');
  if (verb === 'teardown') {
    // After a crash: reap what still runs, then put the pod's network back.
    const killed = await killLeftovers(stateDir);
    if (killed.length) log.info({ pids: killed }, 'killed leftover processes');
    await teardownPod(stateDir);
    return 0;
  }
  if (verb === 'console') {
    // Attach to the guest's serial console (Ctrl-] detaches), as virsh console does.
    const status = readStatus(stateDir);
    if (!status?.libvirtUri || !status.domain) throw new Error(`no running VM in ${stateDir}`);
    return interactive(['virsh', '-c', status.libvirtUri, 'console', status.domain]);
  }
  if (verb !== 'run') throw new Error(`unknown verb ${verb ?? '(none)'}; use run or teardown`);
  const specFile = arg(args, '--spec');
  if (!specFile) throw new Error('--spec: required');
  const readSpec = () =>
    launcherSpecFrom(readFileSync(specFile, 'utf8'), allArgs(args, '--allowed-host-path'), `--spec ${specFile}`);
  const spec = readSpec();
  // QEMU's capability cache is shared by the node's launchers unless told
  // otherwise: a fresh one costs each pod a ~3.5 s probe (README, benchmarks).
  const cacheArg = arg(args, '--libvirt-cache') ?? DEFAULT_LIBVIRT_CACHE;
  const cache = cacheArg === 'none' ? undefined : cacheArg;
  if (cache && !cache.startsWith('/')) throw new Error('--libvirt-cache: an absolute path or none');
  const launcher = new Launcher({
    spec,
    stateDir,
    log: log.child({ vmi: `${spec.namespace}/${spec.name}` }),
    resolvConf: arg(args, '--resolv-conf') ?? '/etc/resolv.conf',
    networkOnly: args.includes('--network-only'),
    ...(cache && { libvirtCacheDir: cache }),
    specFile,
    readSpec,
  });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= launcher.stop().then(
      () => log.info('stopped'),
      (e: Error) => log.error({ err: e }, `stop: ${e.message}`),
    ));
  process.on('SIGTERM', () => void stop().then(() => process.exit(0)));
  process.on('SIGINT', () => void stop().then(() => process.exit(0)));
  await launcher.start();
  log.info('running');
  await new Promise<never>(() => {});
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    log.fatal({ err }, `failed: ${err.message}`);
    process.exit(1);
  },
);
