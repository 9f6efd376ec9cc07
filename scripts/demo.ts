/**
 * The quick-start demo: `virtnet up examples/vm-bridge.yaml` on this machine
 * in the standalone node mode (state in /var/lib/virtnet, pods on the
 * virtnet0 bridge, 10.244.0.0/16), then the VM as `get` and `describe` show
 * it, a ping to the guest through its NIC, its topology, and `down`.
 * `npm run demo -- --keep` leaves the VM running for `virtnet console vm-bridge`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const virtnet = resolve('dist/cli/virtnet');
const keep = process.argv.includes('--keep');

function run(args: string[], quiet = false): string {
  if (!quiet) console.log(`\n$ virtnet ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [virtnet, ...args], {
    encoding: 'utf8',
    stdio: ['inherit', 'pipe', 'inherit'],
  });
  if (!quiet) process.stdout.write(r.stdout);
  if (r.status !== 0) throw new Error(`virtnet ${args.join(' ')} failed with exit code ${r.status}`);
  return r.stdout;
}

try {
  run(['up', 'examples/vm-bridge.yaml']);
  run(['get', 'vmis']);
  const vmi = JSON.parse(run(['get', 'vmis', 'vm-bridge', '-o', 'json'], true)) as {
    status: { interfaces: Array<{ ipAddress: string }> };
  };
  run(['describe', 'vmi', 'vm-bridge']);
  const ip = vmi.status.interfaces[0]!.ipAddress;
  console.log(`\n$ ping -c 3 ${ip}    # the guest, through its NIC`);
  execFileSync('ping', ['-c', '3', '-i', '0.2', '-W', '1', ip], { stdio: 'inherit' });
  run(['topology', 'vm-bridge']);
} finally {
  // Also after a failure: down succeeds when there is nothing to remove.
  if (keep)
    console.log(
      '\nthe VM keeps running: `node dist/cli/virtnet console vm-bridge`, then `node dist/cli/virtnet down vm-bridge`',
    );
  else spawnSync(process.execPath, [virtnet, 'down', 'vm-bridge'], { stdio: 'inherit' });
}
