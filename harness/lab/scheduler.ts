/**
 * The lab's scheduler, in kube-scheduler's seat for launcher pods: each
 * unbound one goes to a Ready node whose labels match the pod's
 * nodeSelector (kubernetes.io/hostname among them), the one with the fewest
 * launcher pods, ties by name, so VMIs spread over the nodes. A pod no node
 * fits stays Pending with a PodScheduled=False condition saying why, as the
 * real scheduler leaves it. The kubelets run with --bound-only.
 */
import type { Logger } from 'pino';
import type { NodeObject, Pod } from '../../controller/api/kube-objects.ts';
import { waitSynced, type KubeApi, type Watched } from '../../controller/kube/kube.ts';
import { VMI_LABEL } from '../../controller/render/pod.ts';

type Obj = Record<string, any>;

const isReady = (node: Obj) =>
  (node.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
const fits = (node: Obj, selector: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => node.metadata.labels?.[k] === v);

/** The node for a pod, or why there is none. Pure: the placement rule alone. */
export function chooseNode(pod: Obj, nodes: Obj[], pods: Obj[]): { node: string } | { reason: string } {
  const selector = (pod.spec?.nodeSelector ?? {}) as Record<string, string>;
  const candidates = nodes
    .filter((n) => isReady(n) && fits(n, selector))
    .map((n) => n.metadata.name as string)
    .sort();
  if (candidates.length === 0) {
    return {
      reason: `0/${nodes.length} nodes are available: none is Ready with the labels ${JSON.stringify(selector)}`,
    };
  }
  const load = (name: string) => pods.filter((p) => p.spec?.nodeName === name && !p.metadata.deletionTimestamp).length;
  return { node: candidates.reduce((best, n) => (load(n) < load(best) ? n : best)) };
}

export class LabScheduler {
  private readonly pods: Watched<Pod>;
  private readonly nodes: Watched<NodeObject>;
  private readonly said = new Map<string, string>();
  /** One placement at a time: each sees the bindings before it. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly api: KubeApi,
    private readonly log: Logger,
  ) {
    this.pods = api.watch('pods', VMI_LABEL);
    this.nodes = api.watch('nodes');
  }

  async start(): Promise<void> {
    await Promise.all([this.pods.start(), this.nodes.start()]);
    await Promise.all([waitSynced(this.pods), waitSynced(this.nodes)]);
    const later = (p: Obj) => this.enqueue(p);
    this.pods.on('add', later);
    this.pods.on('update', later);
    // A node that appears or becomes Ready may fit pods left Pending.
    this.nodes.on('add', () => this.pods.list().forEach(later));
    this.nodes.on('update', () => this.pods.list().forEach(later));
    this.pods.list().forEach(later);
  }

  async stop(): Promise<void> {
    await this.queue;
    await Promise.all([this.pods.stop(), this.nodes.stop()]);
  }

  private enqueue(pod: Obj): void {
    this.queue = this.queue
      .then(() => this.place(pod))
      .catch((err: Error) => this.log.warn({ pod: pod.metadata?.name, err: err.message }, 'not scheduled'));
  }

  private async place(seen: Obj): Promise<void> {
    const pod = this.pods.get(seen.metadata.name, seen.metadata.namespace);
    if (!pod || pod.spec?.nodeName || pod.metadata.deletionTimestamp) return;
    const choice = chooseNode(pod, this.nodes.list(), this.pods.list());
    const namespace = pod.metadata.namespace ?? 'default';
    const id = `${namespace}/${pod.metadata.name}`;
    if ('reason' in choice) {
      if (this.said.get(id) === choice.reason) return;
      this.said.set(id, choice.reason);
      await this.api.updatePod(
        namespace,
        pod.metadata.name,
        (p) => {
          p.status = {
            ...p.status,
            phase: 'Pending',
            conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: choice.reason }],
          };
        },
        { status: true },
      );
      return;
    }
    await this.api.updatePod(namespace, pod.metadata.name, (p) => {
      p.spec = { ...p.spec, nodeName: p.spec?.nodeName ?? choice.node };
    });
    // Wait for the binding to come back through the watch: the next placement counts it.
    const deadline = Date.now() + 5000;
    while (!this.pods.get(pod.metadata.name, pod.metadata.namespace)?.spec?.nodeName && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    this.log.info({ pod: id, node: choice.node }, 'scheduled');
  }
}
