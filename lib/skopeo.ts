/**
 * The skopeo driver (Debian's skopeo 1.9.3): copies `docker://REF` into a
 * `dir:` directory and reads raw manifests. Registry configuration
 * (mirrors, `location` rewrites, `insecure`) is skopeo's own:
 * /etc/containers/registries.conf and registries.conf.d, or the file given
 * as `registriesConf`, passed with skopeo's global `--registries-conf`
 * (skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF; shared/reference/real-guests.md). TLS is
 * never forced off here, so `insecure = true` in that file is what lets a
 * plain-HTTP registry through.
 *
 * Credentials: `authFile` is passed as `--authfile`/`--src-authfile`;
 * without it skopeo's standard lookup applies (containers-auth.json(5):
 * $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,
 * $HOME/.docker/config.json), which is why the child keeps this process's
 * environment as it is.
 *
 * Short names: skopeo 1.9's docker transport does not apply
 * registries.conf's short-name aliases or unqualified-search-registries
 * (measured: `[aliases] "shortname" = "127.0.0.1:PORT/x"` is ignored and
 * `docker://shortname:v1` goes to registry-1.docker.io). virtnet resolves
 * short names itself (controller/node/images/short-names.ts) before
 * skopeo runs, so skopeo is normally given fully qualified names; one
 * that is still short is read as docker.io/library/NAME, as docker does,
 * and skopeo never prompts: its stdin here is a pipe, not a terminal.
 */
import { ErrorCode, VirtnetError } from './errors.ts';
import { exec, ExecError } from './exec.ts';

export interface SkopeoOptions {
  /** A registries.conf(5) file used instead of /etc/containers/registries.conf (and its .d). */
  registriesConf?: string;
  /** A containers-auth.json(5) file; otherwise skopeo's standard lookup. */
  authFile?: string;
  /** Bound on one copy (default 30 min) and on one inspect (default 2 min). */
  copyTimeoutMs?: number;
  inspectTimeoutMs?: number;
}

/** What went wrong, for callers that react differently (tests, `virtnet up`'s message). */
export type SkopeoFailure =
  | 'unreachable'
  | 'unknown'
  | 'unauthorized'
  | 'badManifest'
  | 'tls'
  | 'config'
  | 'noSpace'
  | 'failed';

export class SkopeoError extends VirtnetError {
  readonly failure: SkopeoFailure;
  readonly image: string;
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;

  constructor(failure: SkopeoFailure, image: string, message: string, cause: ExecError) {
    super(failure === 'config' ? ErrorCode.invalidConfig : ErrorCode.execFailed, message, {
      details: cause.stderr.trim(),
      cause,
    });
    this.failure = failure;
    this.image = image;
    this.argv = cause.argv;
    this.exitCode = cause.exitCode;
    this.stderr = cause.stderr;
  }
}

Object.defineProperty(SkopeoError.prototype, 'name', { value: 'SkopeoError' });

/**
 * skopeo logs its failure as `level=fatal msg="Error parsing image name
 * \"docker://…\": CAUSE"` (logrus text format, Go-quoted). The cause,
 * unquoted, without the image-name preamble.
 */
export function skopeoCause(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const fatal = lines.reverse().find((l) => l.includes('level=fatal') || l.includes('level=error'));
  const quoted = fatal?.match(/msg="((?:[^"\\]|\\.)*)"/u)?.[1];
  const msg = quoted === undefined ? (lines[0] ?? '').trim() : quoted.replace(/\\(.)/gu, '$1');
  return msg
    .replace(/^Error parsing image name "[^"]*": /u, '')
    .replace(/^(?:initializing source|Error initializing source) [^:]*: /u, '');
}

/**
 * Whether `image` names no registry: the first component has no '.' or ':' and is not localhost
 * (distribution/reference).
 */
function isShortName(image: string): boolean {
  const first = image.split('/')[0]!;
  return !image.includes('/') || (!first.includes('.') && !first.includes(':') && first !== 'localhost');
}

function registryOf(image: string, cause: string): string {
  const named =
    cause.match(/pinging container registry ([^\s:]+(?::\d+)?)/u)?.[1] ?? cause.match(/dial tcp ([^\s]+?):? /u)?.[1];
  if (named !== undefined) return named;
  return isShortName(image) ? 'docker.io' : image.split('/')[0]!;
}

/** One of the words in `words`, as a regular expression (the words are regular expressions themselves). */
function anyOf(words: readonly string[], flags: string): RegExp {
  return new RegExp(words.join('|'), flags);
}

const UNREACHABLE = anyOf(
  [
    'connection refused',
    'no such host',
    'i/o timeout',
    'network is unreachable',
    'no route to host',
    'connection reset',
    'EOF$',
    'TLS handshake timeout',
    'context deadline exceeded',
    'server misbehaving',
  ],
  'u',
);
const BAD_MANIFEST = anyOf(
  [
    'unsupported (?:docker v2s1 )?manifest',
    'unmarshal',
    'invalid character',
    'unknown media ?type',
    'MediaType',
    'manifest invalid',
    'MANIFEST_INVALID',
    'Digest did not match',
    'digest mismatch',
    'size mismatch',
  ],
  'iu',
);

/** Classify one failed skopeo run into a failure kind and a message naming the image and the cause. */
export function classify(image: string, err: ExecError): SkopeoError {
  const cause = skopeoCause(err.stderr) || `exit code ${err.exitCode}`;
  const short = isShortName(image)
    ? // Only a name no short-name rule resolved reaches skopeo short (virtnet applies
      // registries.conf's aliases and search registries first).
      ` ("${image}" is a short name, which skopeo reads as docker.io/library/…; use a fully qualified name)`
    : '';
  const make = (failure: SkopeoFailure, what: string) =>
    new SkopeoError(failure, image, `image ${image}: ${what}${short}: ${cause}`, err);
  if (/loading registries configuration|registries\.conf/u.test(cause))
    return make('config', 'the registries configuration is not usable');
  if (/server gave HTTP response to HTTPS client/u.test(cause)) {
    return make(
      'tls',
      `registry ${registryOf(image, cause)} speaks plain HTTP; mark it insecure = true in registries.conf`,
    );
  }
  if (/x509:|certificate/u.test(cause))
    return make('tls', `registry ${registryOf(image, cause)} presented a certificate that does not verify`);
  if (/unauthorized|authentication required|denied|status 401|status 403/iu.test(cause))
    return make('unauthorized', 'unauthorized (check the auth file and the credentials for this registry)');
  if (/manifest unknown|name unknown|MANIFEST_UNKNOWN|NAME_UNKNOWN|not found/u.test(cause))
    return make('unknown', 'manifest unknown (no such image or tag in the registry)');
  if (BAD_MANIFEST.test(cause)) return make('badManifest', 'bad manifest');
  if (/no space left on device|disk quota exceeded/iu.test(cause))
    return make('noSpace', 'no space left where the image is copied');
  if (UNREACHABLE.test(cause))
    return make('unreachable', `registry ${registryOf(image, cause)} is down or unreachable`);
  return make('failed', 'skopeo failed');
}

export class Skopeo {
  private readonly options: SkopeoOptions;

  constructor(options: SkopeoOptions = {}) {
    this.options = options;
  }

  private global(): string[] {
    return this.options.registriesConf === undefined ? [] : ['--registries-conf', this.options.registriesConf];
  }

  private async run(image: string, argv: string[], timeoutMs: number): Promise<Buffer> {
    try {
      // stdin is a pipe that exec closes at once: skopeo can never prompt (and never waits for an answer).
      return (await exec(argv, { timeoutMs, stdoutBytes: true })).stdoutBytes!;
    } catch (err) {
      if (err instanceof ExecError) throw classify(image, err);
      throw err;
    }
  }

  /**
   * Copy `image` (a docker reference without the transport) into `dir`, which
   * must not hold another image. `source`, when given, is what is copied
   * (e.g. the repository at the digest an inspect just saw); `image` is
   * what errors name. For a manifest list skopeo picks this
   * host's platform instance and writes only that instance's manifest.
   *
   * The dir: transport keeps the registry's manifest bytes unchanged, so
   * sha256(dir/manifest.json) is the manifest digest the registry serves
   * (its Docker-Content-Digest). Verified on skopeo 1.9.3 with
   * docker-registry 2.8.2: both gave sha256:f84e3dae…89d2 for a pushed OCI
   * image, as did `skopeo inspect --raw | sha256sum`. For a tag on an OCI
   * index, manifest.json is the chosen instance's manifest, byte for byte
   * (test/integration/images/pull.test.ts), so its sha256 is the
   * instance's digest, not the index's. Layer blobs are kept as served
   * (still compressed), named by their hex digest.
   */
  async copyToDir(image: string, dir: string, source: string = image): Promise<void> {
    const auth = this.options.authFile === undefined ? [] : ['--src-authfile', this.options.authFile];
    const argv = ['skopeo', ...this.global(), 'copy', '--quiet', ...auth, `docker://${source}`, `dir:${dir}`];
    await this.run(image, argv, this.options.copyTimeoutMs ?? 30 * 60_000);
  }

  /**
   * The raw manifest `image` resolves to now (for a manifest list, the list),
   * as bytes: sha256 of them is the tag's current digest. `--no-tags`: the
   * tag listing is not wanted, and fails through a location rewrite
   * (shared/reference/real-guests.md). skopeo prints the bytes with nothing added.
   */
  async inspectRaw(image: string): Promise<Buffer> {
    const auth = this.options.authFile === undefined ? [] : ['--authfile', this.options.authFile];
    const argv = ['skopeo', ...this.global(), 'inspect', '--raw', '--no-tags', ...auth, `docker://${image}`];
    // The bytes as served: a manifest need not be valid UTF-8, and its digest is of its bytes.
    return this.run(image, argv, this.options.inspectTimeoutMs ?? 2 * 60_000);
  }
}
