/** `virtnet ARGS` and `virtnet-cluster ARGS` in-process, with what each wrote to stdout and stderr. */
import { main as clusterMain } from '../../../controller/cluster/main.ts';
import { main } from '../../../controller/cli/main.ts';
import type { Output } from '../../../controller/view/command.ts';

export interface Ran {
  code: number;
  out: string[];
  err: string[];
}

function capture(): { o: Output; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { o: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

export async function virtnet(...argv: string[]): Promise<Ran> {
  const c = capture();
  return { code: await main(argv, c.o), out: c.out, err: c.err };
}

export async function cluster(...argv: string[]): Promise<Ran> {
  const c = capture();
  return { code: await clusterMain(argv, c.o), out: c.out, err: c.err };
}
