/**
 * containerDisk pull and prepare time, uncached and cached (issue 12,
 * "Measured"): a ~100 MiB qcow2 (incompressible data, so skopeo's gzip on
 * push does not shrink it) and its xz-compressed twin, pushed to a local
 * docker-registry and ensured through a registries.conf rewrite of
 * registry:5000. Prints one line per run.
 *   node --import tsx bench/images-pull.ts [MiB]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCache } from '../controller/node/images/cache.ts';
import { registriesConf, startRegistry } from '../harness/registry.ts';

const mib = Number(process.argv[2] ?? 100);
const reg = await startRegistry();
const work = mkdtempSync(join(tmpdir(), 'virtnet-test-bench-images-'));
try {
  execFileSync('bash', [
    '-c',
    'head -c "$1"M /dev/urandom > "$2/r.raw" && qemu-img convert -O qcow2 "$2/r.raw" "$2/big.qcow2" && xz -T0 -1 -c ' +
      '"$2/big.qcow2" > "$2/big.img"',
    '_',
    String(mib),
    work,
  ]);
  reg.push(join(work, 'big.qcow2'), 'kubevirt/big:1');
  reg.push(join(work, 'big.img'), 'kubevirt/bigxz:1');
  const conf = registriesConf(
    work,
    `[[registry]]\nprefix = "registry:5000"\nlocation = "${reg.address}"\ninsecure = true\n`,
  );
  for (const name of ['big', 'bigxz']) {
    const cache = new ImageCache({ root: join(work, `cache-${name}`), skopeo: { registriesConf: conf } });
    for (const policy of ['IfNotPresent', 'IfNotPresent', 'Always'] as const) {
      const t = performance.now();
      const got = await cache.ensure({ image: `registry:5000/kubevirt/${name}:1`, pullPolicy: policy });
      got.release();
      console.log(
        `${name === 'big' ? 'qcow2' : 'qcow2.xz'} ${mib} MiB ${policy}: ${got.pulled ? 'pulled' : 'cached'} in ` +
          `${Math.round(performance.now() - t)} ms`,
      );
    }
  }
} finally {
  reg.stop();
  rmSync(work, { recursive: true, force: true });
}
