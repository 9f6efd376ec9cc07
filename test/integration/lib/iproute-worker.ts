/**
 * Runs inside a test's node namespace (iproute-spare.test.ts): batches
 * through the spare host ip(8) and deletions through deleteLink, printing
 * what it saw as one JSON document.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { execStats } from '../../../lib/exec.ts';
import { applyLinkOps, deleteLink, holdSpareHostBatch } from '../../../lib/iproute.ts';
import { linkNames } from '../../../lib/links.ts';

const [podNetns = ''] = process.argv.slice(2);
const release = holdSpareHostBatch();
await sleep(50);
const before = execStats.spawned;
const macs: string[] = [];
for (let i = 0; i < 5; i++) {
  const shown = await applyLinkOps([
    { op: 'bridge-add', name: `spbr${i}`, mac: `02:00:00:00:00:0${i}` },
    { op: 'link-show', name: `spbr${i}` },
  ]);
  macs.push(shown[0]?.[0]?.address ?? '');
  await sleep(20);
}
const spawnedForFive = execStats.spawned - before;

const veth = (name: string) =>
  applyLinkOps([
    {
      op: 'veth-add',
      name,
      mtu: 1500,
      mac: '02:00:00:00:01:01',
      peer: 'eth0',
      peerMac: '02:00:00:00:01:02',
      peerNetns: podNetns,
    },
  ]);
await veth('spv0');
const t0 = performance.now();
const del = deleteLink('spv0');
let finishedFirst = false;
void del.finished.then(() => (finishedFirst = true));
await del.gone;
const goneMs = performance.now() - t0;
const wasFinished = finishedFirst;
const listedAfterGone = linkNames().has('spv0');
// The names (the host side's and the peer's in the pod) are free again at once.
await veth('spv0');
await del.finished;
const finishedMs = performance.now() - t0;
await deleteLink('spv0').gone;

const none = deleteLink('spv-none');
const missing = {
  gone: await none.gone.then(
    () => 'resolved',
    (e: Error) => e.message,
  ),
  finished: await none.finished.then(
    () => 'resolved',
    (e: Error) => e.message,
  ),
};
// A failure while the link stays listed: loopback has no dellink (EOPNOTSUPP).
const lo = await deleteLink('lo').gone.then(
  () => 'resolved',
  (e: Error) => e.message,
);

await applyLinkOps(Array.from({ length: 20 }, (_, i) => ({ op: 'bridge-add' as const, name: `spburst${i}` })));
await Promise.all(Array.from({ length: 20 }, (_, i) => deleteLink(`spburst${i}`).gone));
const burstLeft = [...linkNames()].filter((n) => n.startsWith('spburst')).length;

release();
// No longer resident: an answer only once ip(8) has exited, so that no child outlives an exec'd plugin.
await veth('spv1');
const plain = deleteLink('spv1');
let plainFinished = false;
void plain.finished.then(() => (plainFinished = true));
await plain.gone;
await Promise.resolve();
const notResidentWaited = plainFinished;
process.stdout.write(
  JSON.stringify({
    macs,
    spawnedForFive,
    goneMs,
    finishedMs,
    wasFinished,
    listedAfterGone,
    missing,
    lo,
    burstLeft,
    notResidentWaited,
  }),
);
