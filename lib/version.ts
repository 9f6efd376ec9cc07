/**
 * virtnet's version, one for every part built from this tree (the CLI, the
 * virtnet-bridge plugin, the launcher, the cluster binary and the kubectl
 * plugin): package.json's, read at build time. esbuild inlines the JSON
 * import into each bundle, so a binary reports the version it was built from.
 */
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;

/** The executables built from this tree (scripts/build.mjs), by the name they are run as, with their dist/ path. */
export const BUNDLED_PARTS = [
  { name: 'virtnet-bridge', what: 'CNI shim', path: 'dist/cni/virtnet-bridge' },
  { name: 'virtnet-bridge-node', what: 'CNI plugin', path: 'dist/cni/virtnet-bridge-node' },
  { name: 'virtnet-launcher', what: 'VM launcher', path: 'dist/launcher/virtnet-launcher' },
  { name: 'virtnet-cluster', what: 'cluster binary', path: 'dist/cluster/virtnet-cluster' },
  { name: 'kubectl-virtnet', what: 'kubectl plugin', path: 'dist/cluster/kubectl-virtnet' },
] as const;
