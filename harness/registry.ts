/**
 * A real distribution registry (Debian's docker-registry) for the image
 * tests, through scripts/local-registry.sh: on a free 127.0.0.1 port, with
 * storage in a virtnet-test- temp dir (so test/final's leftover check sees a
 * registry or a directory a test forgot). Images are pushed with the
 * script (one disk) or built here for the odd cases (several layers or
 * disks, whiteouts, symlinks).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'local-registry.sh');

export interface TestRegistry {
  /** "127.0.0.1:PORT". */
  address: string;
  port: number;
  dir: string;
  /** Push DISKFILE as a containerDisk to `<address>/<name>`. */
  push(disk: string, name: string): void;
  /** Push an image made of `layers` to `<address>/<name>`. */
  pushLayers(name: string, layers: LayerSpec[]): void;
  /** PUT raw manifest bytes as `<address>/<repo>:<tag>` (a tag or a digest); returns the HTTP status. */
  putManifest(repo: string, tag: string, mediaType: string, body: string | Buffer): number;
  /** The manifest `<repo>:<tag>` as the registry stores it. */
  getManifest(repo: string, tag: string): string;
  stop(): void;
}

/** A file in a layer: copied from `source`, or `text`, or a symlink to `symlinkTo`; path relative to the image root. */
export interface LayerFile {
  path: string;
  source?: string;
  text?: string;
  symlinkTo?: string;
}

export type LayerSpec = LayerFile[];

/** A port the kernel just gave out and took back: free unless someone races us for it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Where the registry and its clients run: this process's network namespace, or a test node's. */
type Runner = (argv: string[]) => string;
const hostRunner: Runner = ([file, ...args]) =>
  execFileSync(file!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const netnsRunner =
  (netns: string): Runner =>
  (argv) =>
    hostRunner(['ip', 'netns', 'exec', netns, ...argv]);

function script(args: string[], run: Runner = hostRunner): string {
  return run(['bash', SCRIPT, ...args]);
}

function sha256Hex(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Write an OCI image layout of `layers` (uncompressed tar layers, owner 107:107) into `layout`, tagged "disk". */
export function buildLayout(layout: string, layers: LayerSpec[]): void {
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const blob = (file: string) => {
    const hex = sha256Hex(file);
    const size = statSync(file).size;
    renameSync(file, join(layout, 'blobs', 'sha256', hex));
    return { digest: `sha256:${hex}`, size };
  };
  const descriptors = layers.map((files, i) => {
    const root = join(layout, `root${i}`);
    mkdirSync(root);
    for (const f of files) {
      const target = join(root, f.path);
      mkdirSync(dirname(target), { recursive: true });
      if (f.symlinkTo !== undefined) symlinkSync(f.symlinkTo, target);
      else if (f.source !== undefined) copyFileSync(f.source, target);
      else writeFileSync(target, f.text ?? '');
    }
    const tar = join(layout, `layer${i}.tar`);
    execFileSync('tar', [
      '-C',
      root,
      '-cf',
      tar,
      '--sort=name',
      '--numeric-owner',
      '--owner=107',
      '--group=107',
      '--mtime=@0',
      '.',
    ]);
    rmSync(root, { recursive: true });
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...blob(tar) };
  });
  const configFile = join(layout, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: descriptors.map((d) => d.digest) },
    }),
  );
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(configFile) };
  const manifestFile = join(layout, 'manifest.json');
  writeFileSync(
    manifestFile,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers: descriptors,
    }),
  );
  const manifest = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...blob(manifestFile),
    annotations: { 'org.opencontainers.image.ref.name': 'disk' },
  };
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [manifest] }));
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
}

/**
 * Serve `dir` again with manifests' layer urls accepted when they match
 * `allow` (distribution's configuration, validation.manifests.urls.allow:
 * with none set it refuses every url). local-registry.sh writes no such
 * setting, so its registry is stopped, its config extended, and started
 * the way the script does (pid file, log), which its `stop` then handles.
 */
function allowLayerUrls(dir: string, port: number, allow: string, run: Runner): void {
  const reg = join(dir, 'reg');
  script(['stop', reg], run);
  const config = join(reg, 'config.yml');
  // YAML single quotes: the pattern's backslashes and colons are taken as they are.
  writeFileSync(
    config,
    `${readFileSync(config, 'utf8')}validation:\n  manifests:\n    urls:\n      allow:\n        - ` +
      `'${allow.replaceAll("'", "''")}'\n`,
  );
  run([
    'bash',
    '-c',
    'docker-registry serve "$1" >"$2" 2>&1 </dev/null & echo $! >"$3"',
    '_',
    config,
    join(reg, 'registry.log'),
    join(reg, 'registry.pid'),
  ]);
  for (let i = 0; i < 100; i++) {
    try {
      run(['curl', '-fsS', '-o', '/dev/null', `http://127.0.0.1:${port}/v2/`]);
      return;
    } catch {
      execFileSync('sleep', ['0.1']);
    }
  }
  throw new Error(
    `docker-registry did not answer on 127.0.0.1:${port} after its restart: ` +
      `${readFileSync(join(reg, 'registry.log'), 'utf8').slice(-500)}`,
  );
}

/**
 * Start a registry; with `netns`, inside that network namespace (a test
 * node's: its CLI reaches the registry on the node's own 127.0.0.1); with
 * `allowLayerUrls`, one that stores manifests whose layers have urls
 * matching that pattern (a foreign layer, which a pull must refuse).
 */
export async function startRegistry(o: { netns?: string; allowLayerUrls?: string } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-registry-'));
  const run = o.netns ? netnsRunner(o.netns) : hostRunner;
  let lastError: unknown;
  // The port can be taken between freePort and the registry's bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    // A fresh namespace has every port free; the host's are probed.
    const port = o.netns ? 5000 + attempt : await freePort();
    try {
      script(['start', join(dir, 'reg'), String(port)], run);
      if (o.allowLayerUrls !== undefined) allowLayerUrls(dir, port, o.allowLayerUrls, run);
      return registryAt(dir, port, run);
    } catch (err) {
      lastError = err;
      script(['stop', join(dir, 'reg')], run);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

function registryAt(dir: string, port: number, run: Runner): TestRegistry {
  const address = `127.0.0.1:${port}`;
  const url = (repo: string, tag: string) => `http://${address}/v2/${repo}/manifests/${tag}`;
  return {
    address,
    port,
    dir,
    push(disk, name) {
      script(['push', disk, `${address}/${name}`, '--insecure'], run);
    },
    pushLayers(name, layers) {
      const layout = mkdtempSync(join(dir, 'layout-'));
      try {
        buildLayout(layout, layers);
        run([
          'skopeo',
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          `oci:${layout}:disk`,
          `docker://${address}/${name}`,
        ]);
      } finally {
        rmSync(layout, { recursive: true, force: true });
      }
    },
    putManifest(repo, tag, mediaType, body) {
      // From a file: argv cannot carry bytes that are not UTF-8.
      const file = join(mkdtempSync(join(dir, 'manifest-')), 'body');
      writeFileSync(file, body);
      try {
        const out = run([
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-X',
          'PUT',
          '-H',
          `Content-Type: ${mediaType}`,
          '--data-binary',
          `@${file}`,
          url(repo, tag),
        ]);
        return Number(out);
      } finally {
        rmSync(dirname(file), { recursive: true, force: true });
      }
    },
    getManifest(repo, tag) {
      return run(['curl', '-sf', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', url(repo, tag)]);
    },
    stop() {
      script(['stop', join(dir, 'reg')], run);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A registries.conf(5) file in `dir` from TOML text; returns its path. */
export function registriesConf(dir: string, toml: string): string {
  const file = join(dir, 'registries.conf');
  writeFileSync(file, toml);
  return file;
}

/**
 * Tear down a test node that runs a registry in its namespace, and the
 * test's directory: the registry first (it lives in the namespace), and each
 * step even if one before it failed.
 */
export function stopNodeWithRegistry(
  registry: TestRegistry | undefined,
  node: { destroy(): void } | undefined,
  dir: string,
): void {
  try {
    registry?.stop();
  } finally {
    try {
      node?.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
