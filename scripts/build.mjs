// Bundles the executables with esbuild, each one CommonJS file with a shebang.
// The CNI executable named after its type (SPEC.md: the binary name is `type`)
// is the static C shim (scripts/build-shim.mjs); the Node plugin beside it,
// virtnet-bridge-node, is what the shim runs when no daemon answers.
import { build } from 'esbuild';
import { buildShim } from './build-shim.mjs';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';

const executables = [
  {
    entry: 'cni/main.ts',
    out: 'dist/cni/virtnet-bridge-node',
    forbid: ['@kubernetes/client-node', 'pino', 'commander'],
  },
  { entry: 'launcher/main.ts', out: 'dist/launcher/virtnet-launcher', forbid: ['@kubernetes/client-node'] },
  { entry: 'controller/cli/main.ts', out: 'dist/cli/virtnet', forbid: ['@kubernetes/client-node'] },
  { entry: 'controller/cluster/main.ts', out: 'dist/cluster/virtnet-cluster', forbid: [] },
  { entry: 'controller/kubectl/main.ts', out: 'dist/cluster/kubectl-virtnet', forbid: [] },
  // kubectl runs it on every TAB: names come from kubectl itself, so no cluster client.
  {
    entry: 'controller/kubectl/complete.ts',
    out: 'dist/cluster/kubectl_complete-virtnet',
    forbid: ['@kubernetes/client-node'],
  },
];

// The project is ESM, but the bundles are CommonJS: an extensionless file under
// a "type": "module" scope would be loaded as ESM, so dist/ declares its own type.
mkdirSync('dist', { recursive: true });
writeFileSync('dist/package.json', '{ "type": "commonjs" }\n');

for (const exe of executables) {
  mkdirSync(exe.out.slice(0, exe.out.lastIndexOf('/')), { recursive: true });
  const result = await build({
    entryPoints: [exe.entry],
    outfile: exe.out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    // import.meta.url (ESM) becomes the bundle's own file URL (CommonJS).
    banner: { js: "#!/usr/bin/env node\nconst __importMetaUrl = require('url').pathToFileURL(__filename).href;" },
    define: { 'import.meta.url': '__importMetaUrl' },
    metafile: true,
    logLevel: 'warning',
  });
  // Short-lived binaries must stay lean: fail the build if a heavy import sneaks in.
  const inputs = Object.keys(result.metafile.inputs);
  for (const f of exe.forbid) {
    if (inputs.some((i) => i.includes(`node_modules/${f}`))) throw new Error(`${exe.out} must not bundle ${f}`);
  }
  chmodSync(exe.out, 0o755);
  console.error(`built ${exe.out} (${(statSync(exe.out).size / 1024).toFixed(1)} KiB)`);
}

await buildShim('dist/cni/virtnet-bridge');
const shimKiB = (statSync('dist/cni/virtnet-bridge').size / 1024).toFixed(1);
console.error(`built dist/cni/virtnet-bridge (the shim, ${shimKiB} KiB)`);
