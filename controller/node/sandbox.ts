/**
 * A VMI's sandbox, the standalone stand-in for its launcher pod: a network
 * namespace, a resolv.conf, the pod's attachments made through the CNI exec
 * protocol (netattach, exactly as Multus would make them from the pod's
 * annotations), and the launcher process started inside it.
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startDetached } from '../../lib/daemon.ts';
import { writeFileDurable } from '../../lib/durable.ts';
import { ANY_HOST_PATH } from '../../lib/host-paths.ts';
import { exec } from '../../lib/exec.ts';
import { createNetns, deleteNetns, netnsExists, netnsPath } from '../../lib/netns.ts';
import { terminateStarted } from '../../lib/process.ts';
import { cgroupName, createPodCgroup, joinCgroup, killCgroup, podCgroupPath } from '../../lib/cgroup.ts';
import { attachPod, detachPod, type AttachmentRequest, type PodRef } from '../../netattach/attach.ts';
import { cachedFor } from '../../netattach/cache.ts';
import { delList, type ConfList, type InProcessPlugin } from '../../netattach/invoke.ts';
import { isShim } from '../../cni/delegate.ts';
import { runPlugin } from '../../cni/skel.ts';
import { clusterDefaultNetwork, readConfDir, type NetworkAttachmentDefinition } from '../../netattach/nad.ts';
import { podAttachments } from '../../netattach/pod.ts';
import { networkStatus, type NetworkStatus } from '../../netattach/status.ts';
import {
  PRIVATE_MOUNTNS_ENV,
  PRIVATE_MOUNTNS_PENDING,
  PRIVATE_MOUNTNS_WRAPPER,
} from '../../launcher/domain/libvirtd.ts';
import { parseResolvConf } from '../../launcher/resolv.ts';
import { readStatus } from '../../launcher/status.ts';
import { cniPolicyEnv, defaultNetworkConfList, type NodeConfig } from './config.ts';
import { CNI_CACHE_DIR, type Store, type VmiRecord } from './store.ts';

export function podRef(rec: Pick<VmiRecord, 'object' | 'netns' | 'containerID'>): PodRef {
  const m = rec.object.metadata;
  return {
    namespace: m.namespace,
    name: `virt-launcher-${m.name}`,
    uid: m.uid,
    containerID: rec.containerID,
    netns: netnsPath(rec.netns),
  };
}

export function attachOptions(cfg: NodeConfig) {
  return {
    cniPath: cfg.cniPath,
    dataDir: join(cfg.stateDir, 'cni-invoke'),
    cacheDir: join(cfg.stateDir, CNI_CACHE_DIR),
    env: cniPolicyEnv(cfg),
    ...(cfg.cniNetns && { wrap: ['nsenter', `--net=${netnsPath(cfg.cniNetns)}`, '--'] }),
    inProcess: virtnetInProcess,
  };
}

/**
 * virtnet-bridge runs in this process, as in the CNI daemon: the runtime is Node already, and an exec of the shim
 * would start a second Node (about 50 ms of `up`'s pod-network step). Other plugins, IPAM included, are exec'd.
 */
function virtnetInProcess(binary: string): InProcessPlugin | undefined {
  return isShim(binary) ? (env, stdin) => runPlugin(env, stdin, { captureStderr: true }) : undefined;
}

/**
 * The cluster-default network; before `up` has written one, the one it will
 * write (ensureDefaultNetwork's 10-virtnet.conflist), read through the same
 * check as the file would be.
 */
export function clusterDefault(cfg: NodeConfig): ConfList {
  if (readConfDir(cfg.cniConfDir).length > 0) return clusterDefaultNetwork(cfg.cniConfDir);
  const text = JSON.stringify(defaultNetworkConfList(cfg.stateDir));
  return clusterDefaultNetwork(cfg.cniConfDir, () => [{ file: '10-virtnet.conflist', text }]);
}

/** The attachments of a pod with these annotations (throws AttachError naming the field). */
export function planAttachments(
  cfg: NodeConfig,
  store: Store,
  namespace: string,
  annotations: Record<string, string>,
  extraNad: (ns: string, name: string) => NetworkAttachmentDefinition | undefined = () => undefined,
): AttachmentRequest[] {
  return podAttachments(
    { namespace, annotations },
    {
      clusterDefault: clusterDefault(cfg),
      lookupNad: (ns, name) => extraNad(ns, name) ?? store.readObject<NetworkAttachmentDefinition>('nads', ns, name),
      confDir: cfg.cniConfDir,
      namespaceIsolation: false,
      globalNamespaces: ['default'],
    },
  );
}

/**
 * The guest's DNS on a standalone node: the host's nameservers, except
 * loopback ones (127.0.0.53 and the like answer only on the host itself),
 * with the VMI's dnsConfig applied as a pod's would be (dnsPolicy None uses
 * only dnsConfig).
 */
export function sandboxResolvConf(
  hostResolv: string,
  dnsPolicy: string | undefined,
  dnsConfig: { nameservers?: string[]; searches?: string[] } | undefined,
): string {
  const host = parseResolvConf(hostResolv);
  const base =
    dnsPolicy === 'None'
      ? { nameservers: [], search: [] }
      : { nameservers: host.nameservers.filter((n) => !/^(127\.|::1$)/u.test(n)), search: host.search };
  const nameservers = [...base.nameservers, ...(dnsConfig?.nameservers ?? [])].slice(0, 3);
  const search = [...new Set([...base.search, ...(dnsConfig?.searches ?? [])])];
  return (
    [...nameservers.map((n) => `nameserver ${n}`), ...(search.length ? [`search ${search.join(' ')}`] : [])].join(
      '\n',
    ) + '\n'
  );
}

export async function createSandbox(rec: VmiRecord, resolvConf: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileDurable(join(dir, 'resolv.conf'), resolvConf);
  await createNetns(rec.netns);
}

export async function attachSandbox(cfg: NodeConfig, rec: VmiRecord): Promise<NetworkStatus[]> {
  const attached = await attachPod(podRef(rec), rec.attachments, attachOptions(cfg));
  return attached.flatMap((a) => networkStatus(a.request.name, a.result, a.request.isDefault));
}

/** Where one launcher's files are: its spec, its state directory and the pod's resolv.conf. */
export interface LauncherFiles {
  spec: string;
  stateDir: string;
  resolvConf: string;
}

/**
 * The launcher's command: `ip netns exec` (ip-netns(8); it execs in place
 * unless -batch) into the pod's netns, then PRIVATE_MOUNTNS_WRAPPER, which
 * execs in place too, then Node. The pid started is therefore the launcher's
 * own Node process, the one moved into the pod cgroup and the one SIGTERM
 * reaches: no relaying parent (a second Node process, ~45 MiB) as when the
 * launcher has to re-run itself.
 */
export function launcherArgv(cfg: NodeConfig, netns: string, files: LauncherFiles, cgroup?: string): string[] {
  const allowed = cfg.allowedHostPaths ?? [ANY_HOST_PATH];
  return [
    'ip',
    'netns',
    'exec',
    netns,
    ...PRIVATE_MOUNTNS_WRAPPER,
    process.execPath,
    cfg.launcher,
    'run',
    '--spec',
    files.spec,
    '--state-dir',
    files.stateDir,
    '--resolv-conf',
    files.resolvConf,
    '--libvirt-cache',
    cfg.libvirtCache,
    ...allowed.flatMap((d) => ['--allowed-host-path', d]),
    ...(cgroup ? ['--cgroup', cgroup] : []),
  ];
}

/** The launcher's environment: the marker that tells it the wrapper has made its mount namespace. */
export function launcherEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, [PRIVATE_MOUNTNS_ENV]: PRIVATE_MOUNTNS_PENDING };
}

/**
 * Start the launcher in the pod's cgroup (lib/cgroup.ts): its pid is moved
 * there at once, and the launcher waits to see itself there before it forks
 * anything, so every process of the pod is born inside.
 */
export function startLauncher(
  cfg: NodeConfig,
  rec: VmiRecord,
  vmiDir: string,
  launcherDir: string,
  spec: unknown,
): number {
  mkdirSync(launcherDir, { recursive: true });
  const specFile = join(launcherDir, 'spec.json');
  // 0600 and durable: it holds the VMI's spec, cloud-init user data included.
  writeFileDurable(specFile, JSON.stringify(spec, null, 2));
  const cgroup = createPodCgroup(rec.netns);
  const files = { spec: specFile, stateDir: launcherDir, resolvConf: join(vmiDir, 'resolv.conf') };
  const argv = launcherArgv(cfg, rec.netns, files, cgroup ? cgroupName(cgroup) : undefined);
  const pid = startDetached(argv, join(launcherDir, 'launcher.log'), launcherEnv());
  if (cgroup) {
    try {
      joinCgroup(cgroup, pid);
    } catch {
      // Already exited: there is nothing of it to contain.
    }
  }
  return pid;
}

/**
 * Everything of one sandbox, in reverse and best-effort: the launcher (its
 * SIGTERM handler tears the pod down; after a crash its teardown verb reaps
 * QEMU, libvirtd and dnsmasq), the attachments (from the result cache; and
 * any requested one the cache lacks, whose ADD was cut short), and the
 * namespace. Returns the problems met; `incomplete` when something may
 * still hold an IP or run (a failed DEL, a cgroup that would not empty), so
 * the record must be kept for another try.
 */
export async function destroySandbox(
  cfg: NodeConfig,
  rec: VmiRecord,
  launcherDir: string,
): Promise<{ problems: string[]; incomplete: boolean }> {
  const problems: string[] = [];
  let incomplete = false;
  // The launcher's own SIGTERM handler stops the VM and restores the pod; it is named by pid and
  // start time, never by its command line (an operator's `tail -f` of its log would match that).
  if (rec.launcherPid && rec.launcherStart) await terminateStarted(rec.launcherPid, rec.launcherStart, 30_000);
  // Whatever still runs in the pod's cgroup (a QEMU that libvirtd started as `up` was killed) dies with it.
  const cgroup = podCgroupPath(rec.netns);
  // A cgroup that will not empty (a QEMU stuck in D state) keeps the record, as a failed DEL does:
  // dropping it would leave a process that nothing knows of.
  if (cgroup)
    await killCgroup(cgroup).catch((e: Error) => {
      problems.push(e.message);
      incomplete = true;
    });
  const netns = netnsPath(rec.netns);
  const phase = readStatus(launcherDir)?.phase;
  if (netnsExists(netns) && phase !== undefined && phase !== 'Stopped') {
    // After a crash: the pod's network back, and (without cgroup v2) the recorded children reaped.
    const r = await exec(
      ['ip', 'netns', 'exec', rec.netns, process.execPath, cfg.launcher, 'teardown', '--state-dir', launcherDir],
      { allowFailure: true, timeoutMs: 60_000 },
    );
    if (r.exitCode !== 0) problems.push(`launcher teardown: ${r.stderr.trim().split('\n').at(-1)}`);
  }
  const pod = podRef(rec);
  const o = attachOptions(cfg);
  const cached = new Set(cachedFor(o.cacheDir, rec.containerID).map((e) => e.ifName));
  const detached = await detachPod(pod, o);
  // detachPod drops the cache even when a DEL fails: a retry then works from the journaled requests.
  if (detached.length) cached.clear();
  problems.push(...detached.map((e) => e.message));
  incomplete ||= detached.length > 0;
  // An ADD cut short left no cache entry: DEL it from the journaled request (DEL is idempotent, and releases IPAM).
  for (const a of [...rec.attachments].reverse().filter((x) => !cached.has(x.ifname))) {
    const err = await delList(
      a.list,
      { containerID: rec.containerID, netns: netnsExists(netns) ? netns : '', ifname: a.ifname },
      o,
    );
    if (err) problems.push(err.message);
    incomplete ||= err !== undefined;
  }
  await deleteNetns(rec.netns).catch((e: Error) => problems.push(e.message));
  return { problems, incomplete };
}

export function hostResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}
