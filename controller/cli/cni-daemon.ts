/**
 * `virtnet cni-daemon`: the resident CNI daemon in the foreground, for a
 * node without the cluster's node agent (which runs the same daemon inside
 * itself). It serves the shim until SIGTERM or SIGINT, then lets the calls
 * in progress finish and removes its socket.
 */
import { createLogger, type LevelSetting } from '../../lib/log.ts';
import { DEFAULT_LIMITS, startCniDaemon } from '../../cni/daemon/server.ts';
import { EXIT } from '../view/command.ts';

export interface CniDaemonFlags {
  socket: string;
  maxConcurrent: number;
  maxQueued: number;
  logLevel: LevelSetting;
}

export async function cniDaemon(f: CniDaemonFlags): Promise<number> {
  const log = createLogger({ component: 'cni-daemon', level: f.logLevel });
  const daemon = await startCniDaemon({ ...DEFAULT_LIMITS, ...f, log });
  const stop = () => void daemon.close();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await daemon.closed;
  log.info({ socket: f.socket }, 'CNI daemon stopped');
  return EXIT.ok;
}
