/**
 * Entry point of the virtnet-bridge executable: env + stdin → skel → stdout.
 * A container runtime always sets CNI_COMMAND and passes no arguments
 * (SPEC.md); without CNI_COMMAND a person runs it, and it answers --help and
 * --version, or says what it is and which CNI versions it speaks, as the
 * reference plugins do. The argv check is by hand: a parser would load on
 * every CNI call.
 */
import { readFileSync, writeSync } from 'node:fs';
import { VERSION } from '../lib/version.ts';
import { ABOUT, type PluginOutput, runPlugin } from './skel.ts';
import { SUPPORTED_VERSIONS } from './version.ts';

const PROTOCOLS = `CNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}`;

const HELP = `Usage: virtnet-bridge [--help | --version]

${ABOUT}.
A container runtime runs it: CNI_COMMAND (ADD, DEL, CHECK, GC, STATUS or VERSION),
CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH in the environment,
the network configuration on stdin, the result or the error on stdout.

Options:
  --version   print the version and the CNI protocol versions supported
  -h, --help  display this help

Examples:
  # The CNI versions it speaks, as a runtime asks
  CNI_COMMAND=VERSION virtnet-bridge </dev/null
  # The version of this build
  virtnet-bridge --version
`;

/** What a person running it by hand gets: help, the version, a usage error (exit 2), or the about text. */
function byHand(argv: readonly string[]): PluginOutput {
  const [arg, ...rest] = argv;
  if (rest.length) return usageError(`unexpected argument '${rest[0]}'`);
  if (arg === '--help' || arg === '-h') return { stdout: HELP, stderr: '', exitCode: 0 };
  if (arg === '--version') return { stdout: `virtnet-bridge ${VERSION}\n${PROTOCOLS}\n`, stderr: '', exitCode: 0 };
  if (arg !== undefined)
    return usageError(arg.startsWith('-') ? `unknown option '${arg}'` : `unexpected argument '${arg}'`);
  return { stdout: '', stderr: `${ABOUT} v${VERSION}\n${PROTOCOLS}\n`, exitCode: 0 };
}

function usageError(problem: string): PluginOutput {
  return { stdout: '', stderr: `error: ${problem}\nSee 'virtnet-bridge --help'.\n`, exitCode: 2 };
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return ''; // stdin closed or absent (VERSION may come without it)
  }
}

/**
 * fs.writeSync on the raw descriptors, not process.stdout/stderr: touching
 * those streams loads Node's net and tty layers, a few ms of a plugin that
 * is exec'd per call. writeSync also returns only once the bytes are out.
 */
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

function finish({ stdout, stderr, exitCode }: PluginOutput): never {
  if (stderr) writeAll(2, stderr);
  writeAll(1, stdout);
  process.exit(exitCode);
}

const verb = process.env.CNI_COMMAND;
if (!verb) finish(byHand(process.argv.slice(2)));
const stdin = verb !== 'VERSION' ? readStdin() : '';
void runPlugin(process.env, stdin).then(finish);
