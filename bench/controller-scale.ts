/**
 * The controller at scale (issue 13): the real Controller (client-node
 * KubeApi, real list-watches) in a process of its own, against the
 * in-process test API server holding `--vmis` VMIs of four kinds
 * (masquerade or bridge on the pod network, each with and without a
 * secondary network from one of 8 NADs). Each run has a fresh server and
 * controller, and three phases:
 *  1. cold start: every VMI is there when the controller starts; until each
 *     has its launcher pod and the status the controller writes from it
 *     (Scheduling: a pod with no node yet);
 *  2. resync: one full pass over the settled VMIs (the resync timer's work;
 *     every reconcile a no-op);
 *  3. Running: the bench plays kubelet, Multus and node agent for every pod
 *     (bound to a node, network-status and the launcher's report, Running),
 *     until every VMI's status is Running.
 * Per-VMI latencies are pooled over the runs; per-run figures are shown with
 * their median. RSS and CPU time are the controller process's (getrusage(2));
 * API requests are the controller's as the server logged them, without the
 * bench's own pod writes. A phase ends when the server has been quiet for
 * QUIET_MS (the controller's Events, written one at a time, come last).
 *   node --import tsx bench/controller-scale.ts [--vmis 500] [--runs 3] [--cpu-prof DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeTestServer, type KubeTestServer } from '../harness/kube/api-server.ts';
import { VMI_LABEL } from '../controller/render/pod.ts';
import { ControllerProcess, killControllers } from './controller-process-handle.ts';
import type { ProcessUsage } from './controller-process.ts';
import { report, summaryLine, type Phase, type RunResult } from './controller-scale-report.ts';
import { runBench } from './harness.ts';
import { nowMs, watchResource, type ResourceWatch } from './kube-watch.ts';
import {
  inPool,
  isBenchRequest,
  KINDS,
  NADS,
  requestKind,
  runPod,
  seed,
  vmiIndex,
  vmiName,
  vmiOfPod,
} from './scale-cluster.ts';
import { round2 } from './stats.ts';

function intArg(args: string[], flag: string, dflt: number, min: number): number {
  const at = args.indexOf(flag);
  if (at < 0) return dflt;
  const text = args[at + 1];
  const v = Number(text);
  if (!Number.isInteger(v) || v < min)
    throw new Error(`${flag} ${text ?? '(missing)'}: must be an integer of at least ${min}`);
  return v;
}

interface Options {
  vmis: number;
  runs: number;
  profileDir: string | undefined;
}

function parseArgs(args: string[]): Options {
  // --cpu-prof DIR: the controller process writes a V8 CPU profile there (node --cpu-prof), one per run.
  const profileDir = args.includes('--cpu-prof') ? args[args.indexOf('--cpu-prof') + 1] : undefined;
  if (args.includes('--cpu-prof') && !profileDir)
    throw new Error('--cpu-prof (missing): must name a directory for the profiles');
  return { vmis: intArg(args, '--vmis', 500, 1), runs: intArg(args, '--runs', 3, 1), profileDir };
}

const {
  vmis: VMIS,
  runs: RUNS,
  profileDir: PROFILE_DIR,
} = (() => {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    return process.exit(2);
  }
})();
/** How long a phase may take before the bench gives up: a guard, not a target. */
const PHASE_TIMEOUT_MS = Math.max(60_000, VMIS * 120);
const QUIET_MS = 400;
const VMI_LIST_PATH = '/apis/virtnet.io/v1alpha1/virtualmachineinstances';

const MiB = (bytes: number) => bytes / 2 ** 20;

/** The moment the server answered each logged request, by index: its log has no times of its own. */
function timeRequests(server: KubeTestServer): number[] {
  const at: number[] = [];
  const log = server.requests;
  const push = log.push.bind(log);
  log.push = (...items) => {
    for (let i = 0; i < items.length; i++) at.push(nowMs());
    return push(...items);
  };
  return at;
}

/** The first time each VMI was seen in each phase, from the bench's own watch. */
class PhaseLog {
  private readonly at = new Map<string, Map<string, number>>();
  saw(phase: string, name: string, t: number): void {
    const m = this.at.get(phase) ?? new Map<string, number>();
    if (!m.has(name)) m.set(name, t);
    this.at.set(phase, m);
  }
  of(phase: string): Map<string, number> {
    return this.at.get(phase) ?? new Map();
  }
}

function requireAll(names: string[], times: Map<string, number>, what: string): number[] {
  return names.map((name) => {
    const t = times.get(name);
    if (t === undefined) throw new Error(`${name}: no ${what} seen`);
    return t;
  });
}

/** Where a phase starts or ends: the controller's counters, this process's CPU, the server's request count. */
interface Mark {
  usage: ProcessUsage;
  hostCpu: NodeJS.CpuUsage;
  request: number;
}

/** One run: a fresh server with the VMIs, the bench's watches on pods and VMIs, one controller process. */
class ScaleRun {
  readonly names: string[];
  readonly podCreated = new Map<string, number>();
  readonly phases = new PhaseLog();
  readonly result: RunResult = {
    samples: {},
    figures: {},
    requests: { 'cold start': new Map(), resync: new Map(), Running: new Map() },
  };
  private watches: ResourceWatch[] = [];
  private proc: ControllerProcess | undefined;

  private constructor(
    readonly server: KubeTestServer,
    readonly at: number[],
    readonly n: number,
  ) {
    this.names = Array.from({ length: n }, (_, i) => vmiName(i));
  }

  static async open(n: number): Promise<ScaleRun> {
    // As etcd's history: a watch resumes, never 410s mid-run.
    const server = await startKubeTestServer({ historyLimit: 20 * n + 1000 });
    return new ScaleRun(server, timeRequests(server), n);
  }

  get controller(): ControllerProcess {
    if (!this.proc) throw new Error('no controller process');
    return this.proc;
  }

  get pods(): ResourceWatch {
    return this.watches[0]!;
  }
  get vmis(): ResourceWatch {
    return this.watches[1]!;
  }

  async prepare(): Promise<void> {
    await seed(this.server.url, this.n);
    this.watches.push(
      await watchResource(this.server.url, '/api/v1/pods', { labelSelector: VMI_LABEL }, (type, o, t) => {
        if (type === 'ADDED' && !this.podCreated.has(vmiOfPod(o))) this.podCreated.set(vmiOfPod(o), t);
      }),
    );
    this.watches.push(
      await watchResource(this.server.url, VMI_LIST_PATH, {}, (_type, o, t) => {
        if (o.status?.phase) this.phases.saw(o.status.phase, o.metadata.name, t);
      }),
    );
    await this.vmis.until(() => this.vmis.objects.size === this.n, `${this.n} VMIs in the bench's watch`, 10_000);
    this.proc = await ControllerProcess.spawn(PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []);
  }

  async mark(): Promise<Mark> {
    return { usage: await this.controller.usage(), hostCpu: process.cpuUsage(), request: this.server.requests.length };
  }

  /** Until every VMI is in `phase`; a Failed one fails the bench at once, with its reason. */
  untilAll(phase: string): Promise<void> {
    const failed = () => {
      for (const v of this.vmis.objects.values())
        if (v.status?.phase === 'Failed') return `${v.metadata.name} failed: ${v.status.reason}`;
      return undefined;
    };
    return this.vmis.until(() => this.phases.of(phase).size === this.n, `every VMI ${phase}`, PHASE_TIMEOUT_MS, failed);
  }

  /** The request count once the server has had no request for QUIET_MS. */
  async quiet(): Promise<number> {
    const deadline = Date.now() + PHASE_TIMEOUT_MS;
    let [seen, since] = [this.server.requests.length, Date.now()];
    while (Date.now() - since < QUIET_MS) {
      if (Date.now() > deadline)
        throw new Error(`the API server never went quiet for ${QUIET_MS} ms within ${PHASE_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 25));
      if (this.server.requests.length !== seen) [seen, since] = [this.server.requests.length, Date.now()];
    }
    return seen;
  }

  /** The phase's cost: controller CPU and reconciles, this process's CPU, the controller's requests. */
  async account(phase: Phase, from: Mark, to: Mark, label: string = phase): Promise<number[]> {
    const cpu = (u: ProcessUsage) => u.userCpuMs + u.systemCpuMs;
    const host = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
    Object.assign(this.result.figures, {
      [`controller CPU, ${label} (ms)`]: cpu(to.usage) - cpu(from.usage),
      [`API server + bench process CPU, ${label} (ms)`]: host(to.hostCpu) - host(from.hostCpu),
      [`controller VMI reconciles, ${label}`]: to.usage.vmiReconciles - from.usage.vmiReconciles,
    });
    for (const r of this.server.requests.slice(from.request, to.request)) {
      const kind = requestKind(r);
      if (!isBenchRequest(kind))
        this.result.requests[phase].set(kind, (this.result.requests[phase].get(kind) ?? 0) + 1);
    }
    const answer = await this.controller.ask(
      { type: 'durations', from: from.usage.vmiReconciles, to: to.usage.vmiReconciles },
      'durations',
      10_000,
    );
    return answer.durationsMs;
  }

  async close(): Promise<void> {
    await this.proc?.stop().catch(() => killControllers());
    for (const w of this.watches) w.close();
    await this.server.close();
  }
}

async function coldStart(run: ScaleRun, dir: string): Promise<Mark> {
  const before = await run.mark();
  const { startAt, syncedAt } = await run.controller.ask(
    { type: 'start', kubeconfig: run.server.kubeconfigFile(dir) },
    'started',
    30_000,
  );
  await run.untilAll('Scheduling');
  if (run.pods.objects.size !== run.n)
    throw new Error(`${run.pods.objects.size} launcher pods for ${run.n} VMIs: duplicates`);
  const end = await run.quiet();
  const after = await run.mark();
  const list = run.server.requests.findIndex(
    (r, i) => i >= before.request && r.method === 'GET' && r.path === VMI_LIST_PATH && !r.query.includes('watch'),
  );
  if (list < 0) throw new Error("the controller's VMI list is not in the server's request log");
  const pods = requireAll(run.names, run.podCreated, 'launcher pod');
  const statuses = requireAll(run.names, run.phases.of('Scheduling'), 'Scheduling status');
  const lastStatus = Math.max(...statuses);
  Object.assign(run.result.figures, {
    'cold start: start() → caches synced (ms)': syncedAt - startAt,
    'cold start: start() → first launcher pod (ms)': Math.min(...pods) - startAt,
    'cold start: start() → last launcher pod (ms)': Math.max(...pods) - startAt,
    'cold start: start() → last VMI status Scheduling (ms)': lastStatus - startAt,
    'cold start: VMIs reconciled per second (to the last status)': run.n / ((lastStatus - startAt) / 1000),
    'cold start: start() → API server quiet (events written) (ms)': run.at[end - 1]! - startAt,
    'controller RSS before start(), modules loaded (MiB)': MiB(before.usage.rssBytes),
    'controller RSS after cold start (MiB)': MiB(after.usage.rssBytes),
  });
  Object.assign(run.result.samples, {
    'cold start: VMI list answered → launcher pod created': pods.map((t) => t - run.at[list]!),
    'cold start: VMI list answered → status Scheduling seen': statuses.map((t) => t - run.at[list]!),
    'cold start: one VMI reconcile, its API calls included': await run.account('cold start', before, after),
  });
  return after;
}

async function resyncPass(run: ScaleRun, before: Mark): Promise<Mark> {
  const pass = await run.controller.ask(
    { type: 'resync', expect: run.n, timeoutMs: PHASE_TIMEOUT_MS },
    'resynced',
    PHASE_TIMEOUT_MS + 5000,
  );
  await run.quiet();
  const after = await run.mark();
  const ms = pass.lastEndAt - pass.triggeredAt;
  Object.assign(run.result.figures, {
    'resync: one pass over every VMI (ms)': ms,
    'resync: reconciles per second': run.n / (ms / 1000),
  });
  await run.account('resync', before, after, 'resync pass');
  run.result.samples['resync: one VMI reconcile (no change)'] = pass.durationsMs;
  return after;
}

async function running(run: ScaleRun, before: Mark): Promise<Mark> {
  const start = nowMs();
  await inPool(
    [...run.pods.objects.values()],
    8,
    async (pod) => void (await runPod(run.server.url, pod, vmiIndex(vmiOfPod(pod)))),
  );
  const written = nowMs();
  await run.untilAll('Running');
  const end = await run.quiet();
  const after = await run.mark();
  // When the server answered each pod's Running (the node's report), by VMI.
  const podVmi = new Map([...run.pods.objects.values()].map((p) => [p.metadata.name, vmiOfPod(p)]));
  const reported = new Map<string, number>();
  run.server.requests.forEach((r, i) => {
    if (i >= before.request && requestKind(r) === 'PUT pods/status')
      reported.set(podVmi.get(r.path.split('/').at(-2)!) ?? '', run.at[i]!);
  });
  const seen = requireAll(run.names, run.phases.of('Running'), 'Running status');
  const sent = requireAll(run.names, reported, 'pod status write');
  const last = Math.max(...seen);
  Object.assign(run.result.figures, {
    'Running: first pod write → last VMI Running (ms)': last - start,
    "Running: first pod write → the bench's last pod write (ms)": written - start,
    'Running: VMIs per second': run.n / ((last - start) / 1000),
    'Running: first pod write → API server quiet (events written) (ms)': run.at[end - 1]! - start,
  });
  Object.assign(run.result.samples, {
    'Running: pod status Running answered → VMI Running seen': seen.map((t, i) => t - sent[i]!),
    'Running: one VMI reconcile, its API calls included': await run.account('Running', before, after),
  });
  return after;
}

async function runOnce(n: number, dir: string): Promise<RunResult> {
  const run = await ScaleRun.open(n);
  try {
    await run.prepare();
    const first = await run.mark();
    const last = await running(run, await resyncPass(run, await coldStart(run, dir)));
    const { stopMs } = await run.controller.stop();
    Object.assign(run.result.figures, {
      'controller RSS at the end (MiB)': MiB(last.usage.rssBytes),
      'controller peak RSS (MiB)': MiB(last.usage.maxRssBytes),
      'controller heap used at the end (MiB)': MiB(last.usage.heapUsedBytes),
      'controller reconcile errors (retried)': last.usage.reconcileErrors,
      'controller TCP connections opened, all phases': last.usage.connections - first.usage.connections,
      'Controller.stop() (ms)': stopMs,
    });
    return run.result;
  } finally {
    await run.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'virtnet-bench-scale-'));
runBench(
  async () => {
    const t = nowMs();
    const results: RunResult[] = [];
    for (let i = 0; i < RUNS; i++) results.push(await runOnce(VMIS, dir));
    const title =
      `controller at scale (${new Date().toISOString()}): ${VMIS} VMIs (${KINDS.join(', ')}; ${NADS} NADs), ` +
      `${RUNS} run(s), the in-process test API server`;
    for (const line of report(results, title)) console.log(line);
    console.log(`\n${summaryLine(results, VMIS)}`);
    console.log(`(bench wall time ${round2((nowMs() - t) / 1000)} s)`);
  },
  () => {
    killControllers();
    rmSync(dir, { recursive: true, force: true });
  },
);
