/**
 * virtnet: VMs with Kubernetes pod networking on one machine, kubectl-style.
 *   virtnet up FILE…                   apply VMIs, VMs and NADs; wait for the leases
 *   virtnet get vmis|vms|nads [NAME]   -o json|yaml
 *   virtnet describe vmi NAME          -o json|yaml
 *   virtnet console NAME
 *   virtnet logs NAME [-f]
 *   virtnet images                     -o json|yaml
 *   virtnet topology NAME [--svg FILE]
 *   virtnet down NAME… | --all
 *   virtnet delete vmi|vm|nad NAME…
 *   virtnet validate [-o json|yaml] FILE…
 *   virtnet gc
 * Global: -n/--namespace NS (default "default"), --state-dir DIR
 * (default /var/lib/virtnet, or $VIRTNET_STATE_DIR), --cni-conf-dir DIR,
 * --registries-conf FILE (or $VIRTNET_REGISTRIES_CONF) for containerDisk pulls.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { interactive } from '../../lib/exec.ts';
import { nodeConfig } from '../node/config.ts';
import { NodeRuntime } from '../node/runtime.ts';
import { console_, deleteObjects, describe, down, gc, get, topology, validate, type Format } from './commands.ts';
import { up, type Output } from './up.ts';
import { logs } from './logs.ts';
import { images } from './images.ts';
import { createProgress } from '../../lib/progress.ts';

const USAGE = `usage: virtnet <command> [options]
  up FILE...                      apply VirtualMachineInstances, VirtualMachines and NetworkAttachmentDefinitions
                                  and wait until every NIC has its lease (--timeout SECONDS, --no-wait)
  get vmis|vms|nads [NAME...]     list (-o json|yaml)
  describe vmi NAME               interfaces, wiring, leases and steps (-o json|yaml)
  console NAME                    the serial console (Ctrl-] detaches)
  logs NAME [-f]                  the guest's serial console log (-f follows it until the VMI is gone)
  images                          the containerDisk cache: reference, digest, size, the VMIs using it (-o json|yaml)
  topology NAME [--svg FILE]      pod interfaces -> bridges -> taps -> VM NICs -> networks
  down NAME... | --all            tear down, leaving nothing behind (a failed CNI DEL keeps the VMI for a retry;
                                  --force drops it anyway)
  delete vmi|vm|nad NAME...       delete objects (a VM stops its VMI; a NAD in use leaves running VMs alone)
  validate [-o json|yaml] FILE... print the problems with their field paths, or the normalised objects
                                  (Pods: the attachments Multus would make from their annotations)
  gc                              remove what belongs to VMIs that no longer exist, and images no VMI uses
  controller [--kubeconfig F]     run the cluster controller (-n NS, --metrics-port P, --webhook-port P, --image IMG)
  kubelet --node NAME             let this node's runtime run the cluster's launcher pods (--kubeconfig F)
options: -n, --namespace NS   --state-dir DIR   --cni-conf-dir DIR
         --registries-conf FILE   registries.conf(5) for pulls (default /etc/containers/registries.conf and .d)`;

const stdio: Output = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

function usage(problem: string): number {
  stdio.err(`error: ${problem}\n${USAGE}`);
  return 2;
}

export async function main(argv: string[], o: Output = stdio): Promise<number> {
  if (argv[0] === 'controller' || argv[0] === 'kubelet') {
    // The cluster side is its own bundle with its own options, so that this CLI never loads @kubernetes/client-node.
    return interactive([
      process.execPath,
      join(nodeConfig().projectDir, 'dist', 'cluster', 'virtnet-cluster'),
      ...argv,
    ]);
  }
  // biome-ignore lint/suspicious/noImplicitAnyLet: parseArgs's type follows its options; this parser is replaced by commander.
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        output: { type: 'string', short: 'o' },
        'state-dir': { type: 'string' },
        'cni-conf-dir': { type: 'string' },
        timeout: { type: 'string' },
        'no-wait': { type: 'boolean' },
        all: { type: 'boolean' },
        svg: { type: 'string' },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        'registries-conf': { type: 'string' },
        follow: { type: 'boolean', short: 'f' },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (v.help || !command) {
    o.out(USAGE);
    return command || v.help ? 0 : 2;
  }
  const format = (v.output ?? 'table') as Format;
  if (!['table', 'json', 'yaml'].includes(format)) return usage(`-o ${v.output}: use json or yaml`);
  let rt: NodeRuntime;
  try {
    rt = new NodeRuntime(
      nodeConfig({
        ...(v['state-dir'] && { stateDir: v['state-dir'] }),
        ...(v['cni-conf-dir'] && { cniConfDir: v['cni-conf-dir'] }),
        ...(v['registries-conf'] && { registriesConf: v['registries-conf'] }),
      }),
    );
  } catch (err) {
    return usage((err as Error).message);
  }
  const namespace = v.namespace ?? 'default';
  switch (command) {
    case 'up': {
      if (!rest.length) return usage('up: give one or more files');
      const timeout = Number(v.timeout ?? 180);
      if (!Number.isFinite(timeout) || timeout <= 0) return usage('--timeout: a number of seconds');
      return up(rt, rest, o, {
        timeoutMs: timeout * 1000,
        wait: !v['no-wait'],
        progress: createProgress(process.stderr),
      });
    }
    case 'get':
      return get(rt, rest[0], rest.slice(1), v.namespace, format, o);
    case 'describe': {
      const names = rest[0] && /^(vmi|vmis|virtualmachineinstances?)$/iu.test(rest[0]) ? rest.slice(1) : rest;
      if (names.length !== 1) return usage('describe: give one VMI name (describe vmi NAME)');
      return describe(rt, names[0]!, namespace, format, o);
    }
    case 'console':
      if (rest.length !== 1) return usage('console: give one VMI name');
      return console_(rt, rest[0]!, namespace, o);
    case 'logs':
      if (rest.length !== 1) return usage('logs: give one VMI name');
      return logs(rt, rest[0]!, namespace, v.follow ?? false, { write: (b) => process.stdout.write(b), err: o.err });
    case 'images':
      if (rest.length) return usage('images: takes no arguments');
      return images(rt, format, o);
    case 'topology':
      if (rest.length !== 1) return usage('topology: give one VMI name');
      return topology(rt, rest[0]!, namespace, v.svg, o);
    case 'down':
      if (!v.all && !rest.length) return usage('down: give VMI names, or --all');
      return down(rt, rest, namespace, v.all ?? false, o, v.force ?? false);
    case 'delete':
      return deleteObjects(rt, rest[0], rest.slice(1), namespace, o);
    case 'gc':
      return gc(rt, o);
    case 'validate':
      if (!rest.length) return usage('validate: give one or more files');
      return validate(rt, rest, format, o);
    default:
      return usage(`unknown command "${command}"`);
  }
}

// Run when executed (the bundle, or tsx), not when imported by tests.
if (process.argv[1] && /(virtnet|cli[/\\]main\.ts)$/u.test(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      stdio.err(`error: ${err.message}`);
      process.exit(1);
    },
  );
}
