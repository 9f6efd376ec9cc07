/** How `kubectl virtnet` words a failure: as kubectl does. */
import { ConnectError, ServerError } from '../kube/plugin-api.ts';

/** A failure as kubectl prints it; anything unexpected is still one `error:` line, not a stack. */
export function errorLine(err: unknown): string {
  if (err instanceof ServerError) return `Error from server${err.reason ? ` (${err.reason})` : ''}: ${err.message}`;
  if (err instanceof ConnectError) return err.message;
  return `error: ${(err as Error).message}`;
}
