/**
 * Admission and concurrency for the CNI daemon's calls. A call is admitted
 * (a ticket) when its request header arrives, if fewer than
 * maxConcurrent + maxQueued calls are admitted and its declared size fits
 * the buffer budget; at most maxConcurrent admitted calls run at once, the
 * others wait in arrival order. Memory is thus bounded by the budget, not
 * by the size of a burst.
 */
export interface Ticket {
  /** Idempotent: the call's slot and bytes return to the gate. */
  release(): void;
}

export class CallGate {
  #admitted = 0;
  #running = 0;
  #bytes = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #idle: (() => void)[] = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
    readonly maxBufferedBytes: number,
  ) {}

  /** A ticket for a call of `bytes`, or undefined when the gate is full. */
  admit(bytes: number): Ticket | undefined {
    if (this.#admitted >= this.maxConcurrent + this.maxQueued) return undefined;
    if (this.#bytes + bytes > this.maxBufferedBytes) return undefined;
    this.#admitted++;
    this.#bytes += bytes;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.#admitted--;
        this.#bytes -= bytes;
        if (this.#admitted === 0) for (const wake of this.#idle.splice(0)) wake();
      },
    };
  }

  /**
   * Run `fn` when a slot is free; undefined without running it when `wanted` says, at its turn, that the caller
   * has gone meanwhile (an ADD nobody waits for would only leave work for the DEL).
   */
  async run<T>(wanted: () => boolean, fn: () => Promise<T>): Promise<T | undefined> {
    if (this.#running >= this.maxConcurrent) await new Promise<void>((wake) => this.#waiting.push(wake));
    else this.#running++;
    try {
      return wanted() ? await fn() : undefined;
    } finally {
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, so #running never dips and lets a newcomer jump the queue.
      if (next) next();
      else this.#running--;
    }
  }

  /** Resolves once no call is admitted. */
  idle(): Promise<void> {
    return this.#admitted === 0 ? Promise.resolve() : new Promise((wake) => this.#idle.push(wake));
  }

  get stats() {
    return { admitted: this.#admitted, running: this.#running, waiting: this.#waiting.length, bytes: this.#bytes };
  }
}
