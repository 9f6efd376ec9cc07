/**
 * Short names against a real registry (docker-registry on 127.0.0.1) with
 * Debian's skopeo 1.9.3, which ignores registries.conf's [aliases] and
 * unqualified-search-registries itself: virtnet resolves the name, skopeo
 * applies the rest of the same file (insecure = true) to the result.
 * As for skopeo, the host's drop-ins (/etc/containers/registries.conf.d,
 * ~/.config/containers/registries.conf.d) load after the explicit file:
 * these tests expect them to set no search registries or mode (Debian's
 * shortnames.conf sets only aliases, none for the names used here).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCache } from '../../../controller/node/images/cache.ts';
import { createProgress, type ProgressStream } from '../../../lib/progress.ts';
import { cacheState, qcow2Disk, rawDisk, sha256 } from '../../support/disks.ts';
import { freePort, registriesConf, startRegistry, type TestRegistry } from '../../../harness/registry.ts';

let reg: TestRegistry;
let work: string;
let qcow2: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'virtnet-test-short-names-'));
  reg = await startRegistry();
  qcow2 = qcow2Disk(work, 'disk.qcow2', rawDisk(work, 'disk.raw', 2, 'short-names'));
  reg.push(qcow2, 'virtnet/disk:1');
});

after(() => {
  reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
function cacheWith(toml: string): ImageCache {
  const conf = registriesConf(mkdtempSync(join(work, 'conf-')), toml);
  return new ImageCache({ root: join(work, `cache-${n++}`), skopeo: { registriesConf: conf } });
}

/** Progress steps as text, for what the user is told. */
function recorder(): { stream: ProgressStream; steps: string[] } {
  const steps: string[] = [];
  return {
    steps,
    stream: {
      isTTY: false,
      write: (s: string) => {
        steps.push(...s.split('\n').filter((l) => l !== ''));
        return true;
      },
    },
  };
}

test('an [aliases] entry in registries.conf pulls "debian-disk:1" from the aliased repository; both names are recorded', async () => {
  const cache = cacheWith(
    [
      '[aliases]',
      `"debian-disk" = "${reg.address}/virtnet/disk"`,
      '',
      '[[registry]]',
      `location = "${reg.address}"`,
      'insecure = true',
      '',
    ].join('\n'),
  );
  const out = recorder();
  const got = await cache.ensure({ image: 'debian-disk:1' }, undefined, createProgress(out.stream));
  got.release();
  assert.equal(got.pulled, true);
  assert.equal(sha256(got.image.file), sha256(qcow2), 'the disk is the pushed one, byte for byte');
  assert.deepEqual(got.image.references, [`${reg.address}/virtnet/disk:1`, 'debian-disk:1']);
  const meta = JSON.parse(readFileSync(join(cache.store.root, got.image.entry, 'meta.json'), 'utf8')) as {
    references: string[];
  };
  assert.deepEqual(meta.references, [`${reg.address}/virtnet/disk:1`, 'debian-disk:1']);
  assert.ok(
    out.steps.some((s) => s.includes(`short name debian-disk:1 is ${reg.address}/virtnet/disk:1 (alias from `)),
    out.steps.join('\n'),
  );
  assert.ok(
    out.steps.some((s) => s.includes(`checking ${reg.address}/virtnet/disk:1 in its registry`)),
    out.steps.join('\n'),
  );

  // IfNotPresent (tag "1"): the next ensure is served from the cache by the resolved name.
  const again = await cache.ensure({ image: 'debian-disk:1' });
  again.release();
  assert.equal(again.pulled, false);
  assert.equal(again.image.entry, got.image.entry);
  assert.deepEqual(
    cache.list().map((i) => i.references),
    [[`${reg.address}/virtnet/disk:1`, 'debian-disk:1']],
  );
});

test('the cache is keyed by the resolved name: when the alias moves, the short name moves to the new image', async () => {
  const other = qcow2Disk(work, 'other.qcow2', rawDisk(work, 'other.raw', 2, 'other'));
  reg.push(other, 'virtnet/other:1');
  const root = join(work, `cache-${n++}`);
  const aliasTo = (repo: string) =>
    new ImageCache({
      root,
      skopeo: {
        registriesConf: registriesConf(
          mkdtempSync(join(work, 'conf-')),
          `[aliases]\n"debian-disk" = "${reg.address}/${repo}"\n\n[[registry]]\nlocation = ` +
            `"${reg.address}"\ninsecure = true\n`,
        ),
      },
    });
  const first = await aliasTo('virtnet/disk').ensure({ image: 'debian-disk:1' });
  first.release();
  const moved = await aliasTo('virtnet/other').ensure({ image: 'debian-disk:1' });
  moved.release();
  assert.equal(moved.pulled, true, 'not served by the entry the old alias pulled');
  assert.equal(sha256(moved.image.file), sha256(other));
  const byDisk = new Map(new ImageCache({ root }).list().map((i) => [sha256(i.file), i.references]));
  assert.deepEqual(
    byDisk.get(sha256(qcow2)),
    [`${reg.address}/virtnet/disk:1`],
    'the old entry keeps only its resolved name',
  );
  assert.deepEqual(byDisk.get(sha256(other)), [`${reg.address}/virtnet/other:1`, 'debian-disk:1']);
});

test(
  'one unqualified-search registry: a short name resolves to it, and a name it lacks fails naming the resolved ' +
    'reference',
  async () => {
    // skopeo alone would send both names to Docker Hub.
    const cache = cacheWith(
      [
        `unqualified-search-registries = ["${reg.address}"]`,
        '',
        '[[registry]]',
        `location = "${reg.address}"`,
        'insecure = true',
        '',
      ].join('\n'),
    );
    const got = await cache.ensure({ image: 'virtnet/disk:1' });
    got.release();
    assert.deepEqual(got.image.references, [`${reg.address}/virtnet/disk:1`, 'virtnet/disk:1']);
    await assert.rejects(cache.ensure({ image: 'debian-disk:1' }), {
      name: 'SkopeoError',
      message: new RegExp(`^image ${reg.address.replace(/\./gu, '\\.')}/debian-disk:1: manifest unknown`, 'u'),
    });
  },
);

test(
  'permissive mode (the default) tries each search registry in order; enforcing refuses the ambiguity and leaves ' +
    'nothing',
  async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const registries = [`unqualified-search-registries = ["${dead}", "${reg.address}"]`, ''];
    const insecure = [
      '[[registry]]',
      `location = "${dead}"`,
      'insecure = true',
      '',
      '[[registry]]',
      `location = "${reg.address}"`,
      'insecure = true',
      '',
    ];
    const permissive = cacheWith([...registries, ...insecure].join('\n'));
    const got = await permissive.ensure({ image: 'virtnet/disk:1' });
    got.release();
    assert.equal(got.pulled, true);
    assert.deepEqual(got.image.references, [`${reg.address}/virtnet/disk:1`, 'virtnet/disk:1']);

    const enforcing = cacheWith([...registries, 'short-name-mode = "enforcing"', '', ...insecure].join('\n'));
    await assert.rejects(enforcing.ensure({ image: 'virtnet/disk:1' }), {
      name: 'VirtnetError',
      message: new RegExp(
        `^short name virtnet/disk:1 is ambiguous: it could come from ${dead}, ${reg.address}; give a fully ` +
          `qualified image name or add an alias in \\[aliases\\]`,
        'u',
      ),
    });
    assert.deepEqual(cacheState(enforcing.store.root), { entries: [], tmp: [], pins: [] });

    // Every candidate failing gives one error naming each.
    const none = cacheWith([...registries, ...insecure].join('\n'));
    await assert.rejects(none.ensure({ image: 'virtnet/missing:1' }), (err: Error) => {
      assert.match(err.message, /^image virtnet\/missing:1: no unqualified-search registry serves it: /u);
      assert.match(
        err.message,
        new RegExp(`image ${dead}/virtnet/missing:1: registry ${dead} is down or unreachable`, 'u'),
      );
      assert.match(err.message, new RegExp(`image ${reg.address}/virtnet/missing:1: manifest unknown`, 'u'));
      return true;
    });
    assert.deepEqual(cacheState(none.store.root), { entries: [], tmp: [], pins: [] });
  },
);
