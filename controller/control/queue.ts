/**
 * A work queue in the manner of client-go's workqueue: a key is queued at
 * most once however often it is added, is never processed by two workers at
 * once (an add while it is processed queues it again afterwards), and a
 * failing key comes back with exponential backoff, up to a bound; periodic
 * resyncs bring back anything dropped.
 */
export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxRetries?: number;
  onDrop?: (key: string, err: Error) => void;
}

export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly order: string[] = [];
  private readonly active = new Set<string>();
  private readonly again = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly idle: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly o: QueueOptions = {}) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.again.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.idle.shift()?.();
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    this.timers.add(t);
  }

  /** The delay before the next try of a key that failed `n` times. */
  backoff(n: number): number {
    return Math.min(this.o.maxDelayMs ?? 30_000, (this.o.baseDelayMs ?? 100) * 2 ** (n - 1));
  }

  /** Process keys until stop(); `handle` throwing means "retry later". */
  async run(handle: (key: string) => Promise<void>, workers = 2): Promise<void> {
    const worker = async () => {
      while (!this.stopped) {
        const key = this.order.shift();
        if (key === undefined) {
          await new Promise<void>((r) => this.idle.push(r));
          continue;
        }
        this.queued.delete(key);
        this.active.add(key);
        try {
          await handle(key);
          this.failures.delete(key);
        } catch (err) {
          const n = (this.failures.get(key) ?? 0) + 1;
          if (n > (this.o.maxRetries ?? 10)) {
            this.failures.delete(key);
            this.o.onDrop?.(key, err as Error);
          } else {
            this.failures.set(key, n);
            this.addAfter(key, this.backoff(n));
          }
        } finally {
          this.active.delete(key);
          if (this.again.delete(key)) this.add(key);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of this.idle.splice(0)) wake();
  }
}
