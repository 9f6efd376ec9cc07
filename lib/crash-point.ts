/**
 * Deterministic crashes for the fault-injection tests (issue 11): a process
 * whose environment names a point in VIRTNET_TEST_CRASH_AT kills itself with
 * SIGKILL when it reaches that point, exactly as a kill -9 or a power loss
 * would stop it there. Points are "<component>.<step>.<when>", e.g.
 * "up.sandbox.journaled" or "launcher.dhcp.done". Unset, this is one string
 * compare: the node's admin owns the environment of every virtnet process,
 * so no VMI, NAD or guest can set it.
 */
export const CRASH_ENV = 'VIRTNET_TEST_CRASH_AT';

export function crashPoint(point: string): void {
  if (process.env[CRASH_ENV] === point) process.kill(process.pid, 'SIGKILL');
}
