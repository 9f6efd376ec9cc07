/**
 * The launcher's report as it travels on its pod (annotation
 * virtnet.io/launcher-status): what the controller needs for the VMI's
 * status, compact, and stable while nothing changes (so that an unchanged
 * report is never rewritten). A launcher that is gone reports Failed.
 */
import type { LauncherStatus } from '../../launcher/status.ts';

export function launcherReport(st: LauncherStatus | undefined, alive: boolean): string {
  if (!st) return JSON.stringify({ phase: 'Starting', nics: [], steps: [] });
  return JSON.stringify({
    phase: alive ? st.phase : 'Failed',
    ...(st.error && { error: st.error }),
    ...(st.accel && { accel: st.accel }),
    ...(st.liveError && { liveError: st.liveError }),
    nics: st.nics,
    steps: st.steps,
  });
}
