/**
 * The plugin's log through its entry point (runPlugin): lib/log.ts lines
 * with component "cni", the error with its stack, the `logLevel` setting,
 * and the "operation" line the node agent's CNI metric reads from it.
 * No kernel: the calls fail on their cniVersion, after the log is made.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlugin } from '../../../cni/skel.ts';
import { parseConfig } from '../../../cni/config.ts';
import { NodeMetrics } from '../../../controller/agent/node-metrics.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-loglevel-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logRoot = join(dir, 'log');
mkdirSync(logRoot);
const POLICY = join(dir, 'policy.json');
writeFileSync(POLICY, JSON.stringify({ dataRoots: [join(dir, 'data')], logRoot }));
const dataDir = join(dir, 'data');
let n = 0;

/** A CHECK that cniVersion 0.3.1 refuses (code 1), logged to a file of its own. */
async function refusedCheck(logLevel?: string): Promise<string> {
  const logFile = join(logRoot, `check-${n++}.log`);
  const conf = {
    cniVersion: '0.3.1',
    name: 'lognet',
    type: 'virtnet-bridge',
    dataDir,
    logFile,
    ...(logLevel && { logLevel }),
  };
  const out = await runPlugin(
    {
      CNI_COMMAND: 'CHECK',
      CNI_CONTAINERID: 'ctr-1',
      CNI_NETNS: '/var/run/netns/virtnet-unit-none',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/nonexistent',
      VIRTNET_CNI_POLICY: POLICY,
    },
    JSON.stringify(conf),
  );
  assert.match(out.stdout, /"msg":"config version does not allow CHECK"/u);
  return logFile;
}

const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown> & { err?: Record<string, unknown> });

test('the plugin logs lib/log.ts lines: the error with type and stack, then the operation line', async () => {
  const [error, operation] = lines(await refusedCheck());
  assert.deepEqual(
    [error!.level, error!.component, error!.verb, error!.network, error!.msg],
    [50, 'cni', 'CHECK', 'lognet', 'config version does not allow CHECK'],
  );
  assert.equal(error!.err!.type, 'VirtnetError');
  assert.equal(error!.err!.code, 1);
  assert.match(String(error!.err!.stack), /^VirtnetError: config version does not allow CHECK\n\s+at /u);
  assert.deepEqual([operation!.level, operation!.msg, operation!.result], [30, 'operation', 'error']);
  assert.equal(typeof operation!.time, 'number');
});

test('logLevel: error keeps the error and drops the info lines; silent writes nothing', async () => {
  assert.deepEqual(
    lines(await refusedCheck('error')).map((l) => l.level),
    [50],
  );
  assert.equal(existsSync(await refusedCheck('silent')), false);
  assert.equal(parseConfig(JSON.stringify({ cniVersion: '1.1.0', name: 'a', logLevel: 'debug' })).logLevel, 'debug');
  assert.throws(
    () => parseConfig(JSON.stringify({ cniVersion: '1.1.0', name: 'a', logLevel: 'loud' })),
    /^VirtnetError: logLevel: "loud" must be one of trace, debug, info, warn, error, fatal, silent$/u,
  );
});

test("the node agent's CNI duration metric reads the plugin's operation line", async () => {
  const file = join(logRoot, 'metrics.log');
  const metrics = new NodeMetrics();
  metrics.followCniLog(file);
  const written = await refusedCheck();
  writeFileSync(file, readFileSync(written));
  metrics.readCniLog();
  assert.match(
    await metrics.registry.metrics(),
    /virtnet_cni_operation_duration_seconds_count\{verb="CHECK",result="error"\} 1\n/u,
  );
});
