/**
 * Writes docs/cli.md, the CLI reference, from the parsers themselves:
 * `virtnet` (controller/cli/program.ts), the cluster binary's roles
 * (controller/cluster/roles.ts) and `kubectl virtnet`
 * (controller/kubectl/program.ts). test/unit/docs/cli-docs.test.ts fails
 * when the committed file differs from what this prints.
 *   npm run docs:cli
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { virtnetProgram } from '../controller/cli/program.ts';
import { clusterProgram } from '../controller/cluster/roles.ts';
import { pluginProgram } from '../controller/kubectl/program.ts';
import { cliReference } from '../controller/view/cli-reference.ts';

export const CLI_DOC = join(import.meta.dirname, '..', 'docs', 'cli.md');

/** The reference as docs/cli.md holds it. */
export function cliDocs(): string {
  return cliReference([
    {
      root: virtnetProgram(),
      intro:
        'The standalone CLI (`dist/cli/virtnet`): VMs with pod networking on one machine. The flags of the program ' +
        '(`-n`, `--state-dir`, `--cni-conf-dir`, `--registries-conf`) go before or after the command.',
    },
    {
      root: clusterProgram(),
      intro:
        'The cluster side (`dist/cluster/virtnet-cluster`), one binary with a role per command; `virtnet controller` ' +
        'and `virtnet kubelet` run it with the same flags.',
    },
    {
      root: pluginProgram(),
      intro: 'The kubectl plugin (`dist/cluster/kubectl-virtnet`), run as `kubectl virtnet`.',
    },
  ]);
}

if (process.argv[1] === import.meta.filename) {
  writeFileSync(CLI_DOC, cliDocs());
  console.log(`wrote ${CLI_DOC}`);
}
