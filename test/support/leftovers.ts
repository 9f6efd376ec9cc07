/** What tests could leave behind on this machine, by kind (see test/final). */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';

export interface Leftovers {
  namespaces: string[];
  links: string[];
  tables: string[];
  scratch: string[];
  processes: string[];
}

export function leftovers(): Leftovers {
  const out = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return {
    namespaces: out(['ip', 'netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => /^vnt-|^vn-[0-9a-f]{10}$/u.test(n)),
    links: (JSON.parse(out(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>)
      .map((l) => l.ifname)
      .filter((n) => /^vn[0-9a-f]{11}$|^vtest|^vxlan4242$/u.test(n)),
    tables: out(['nft', 'list', 'tables'])
      .split('\n')
      .filter((l) => l.includes('virtnet')),
    scratch: readdirSync(tmpdir()).filter((n) => n.startsWith('virtnet-test-')),
    processes: out(['ps', '-eo', 'args'])
      .split('\n')
      .filter((l) => /virtnet-launcher run|virtnet-test-|dist\/cli\/virtnet /u.test(l)),
  };
}
