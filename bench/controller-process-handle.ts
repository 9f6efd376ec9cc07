/**
 * The parent's side of bench/controller-process.ts: fork it, ask it things
 * over IPC and wait for the answer, stop it, and make sure it is gone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromController, ProcessUsage, ToController } from './controller-process.ts';

const SCRIPT = fileURLToPath(new URL('./controller-process.ts', import.meta.url));

/** Every controller process not yet exited, for a cleanup that must not leave one behind (Ctrl-C, a failure). */
const live = new Set<ChildProcess>();
export function killControllers(): void {
  for (const child of live) child.kill('SIGKILL');
}

export class ControllerProcess {
  private stopped: Promise<{ stopMs: number }> | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<number | null>,
  ) {}

  /**
   * Forks the controller process (`nodeArgs` for node itself, e.g. --cpu-prof); answers once its modules are loaded.
   */
  static async spawn(nodeArgs: string[] = []): Promise<ControllerProcess> {
    const child = fork(SCRIPT, [], {
      execArgv: [...nodeArgs, '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    live.add(child);
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        live.delete(child);
        resolve(code);
      }),
    );
    const proc = new ControllerProcess(child, exited);
    await proc.answer('loaded', 30_000);
    return proc;
  }

  /** The next message of type `type` (a `failed` one, an exit or the timeout reject). */
  private answer<T extends FromController['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<FromController, { type: T }>> {
    return new Promise((resolve, reject) => {
      const finish = (err: Error | undefined, m?: Extract<FromController, { type: T }>) => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        if (err) reject(err);
        else resolve(m!);
      };
      const onMessage = (m: FromController) => {
        if (m.type === 'failed') finish(new Error(`controller process: ${m.message}`));
        else if (m.type === type) finish(undefined, m as Extract<FromController, { type: T }>);
      };
      const onExit = (code: number | null) =>
        finish(new Error(`controller process exited (code ${code}) before answering ${type}`));
      const timer = setTimeout(
        () => finish(new Error(`controller process: no ${type} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.child.on('message', onMessage);
      this.child.on('exit', onExit);
    });
  }

  ask<T extends FromController['type']>(
    m: ToController,
    answer: T,
    timeoutMs: number,
  ): Promise<Extract<FromController, { type: T }>> {
    if (!this.child.connected)
      return Promise.reject(new Error(`controller process: asked ${m.type} after it disconnected`));
    const reply = this.answer(answer, timeoutMs);
    this.child.send(m);
    return reply;
  }

  async usage(): Promise<ProcessUsage> {
    return (await this.ask({ type: 'usage' }, 'usage', 10_000)).usage;
  }

  /**
   * Stops the controller (its watches end, pending events are written) and
   * waits for the process to exit by itself: one that does not within 10 s
   * holds a handle open, which is a finding, reported. Once only: a second
   * call answers as the first.
   */
  stop(): Promise<{ stopMs: number }> {
    this.stopped ??= this.stopOnce();
    return this.stopped;
  }

  private async stopOnce(): Promise<{ stopMs: number }> {
    const { stopMs } = await this.ask({ type: 'stop' }, 'stopped', 15_000);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), 10_000);
    });
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.child.kill('SIGKILL');
      throw new Error(
        'the controller process did not exit within 10 s of Controller.stop(): something holds its event loop',
      );
    }
    return { stopMs };
  }
}
