/**
 * One contender of the lock test (lockfile-processes.test.ts), as its own
 * process: `rounds` times it takes the lock, marks itself inside (an
 * O_EXCL file, so an overlap shows at once) and logs "enter"/"leave". A
 * "die" contender logs "die" once it holds the lock and kills itself with
 * SIGKILL, leaving a stale lock for the others to take over.
 * argv: <lock module> <lock file> <log file> <inside marker> <rounds> <hold|die>
 */
import { appendFileSync, closeSync, openSync, rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [modulePath, lock, log, inside, rounds, mode] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const { withLock } = (await import(pathToFileURL(modulePath).href)) as typeof import('../../../lib/lockfile.ts');
const say = (what: string) => appendFileSync(log, `${what} ${process.pid}\n`);

for (let round = 0; round < Number(rounds); round++) {
  await withLock(
    lock,
    async () => {
      say('enter');
      if (mode === 'die') {
        say('die');
        process.kill(process.pid, 'SIGKILL');
      }
      let alone = true;
      try {
        closeSync(openSync(inside, 'wx'));
      } catch {
        alone = false;
        say('overlap');
      }
      await new Promise((r) => setTimeout(r, Math.random() * 2));
      if (alone) rmSync(inside);
      say('leave');
    },
    60_000,
  );
}
