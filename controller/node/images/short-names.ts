/**
 * Short names of containerDisk images ("fedora:38"), resolved by virtnet
 * before skopeo sees them. Debian's skopeo 1.9.3 reads `docker://fedora:38`
 * as docker.io/library/fedora and ignores registries.conf's [aliases] and
 * unqualified-search-registries (measured, lib/skopeo.ts). The rest of
 * registries.conf (mirrors, location rewrites, insecure, blocked) stays
 * skopeo's: it applies it to the fully qualified name resolved here.
 *
 * The rules are containers-registries.conf(5) "Short-Name Aliasing" and
 * containers/image's pkg/shortnames Resolve, for a program that never has a
 * terminal to prompt on:
 *  - a name is short when its first component names no registry;
 *  - an alias for the name without tag and digest wins, and the request's
 *    tag and digest are appended to it;
 *  - otherwise the unqualified-search registries: one is used; several are
 *    candidates tried in order in the permissive mode (the default) and the
 *    disabled mode, and an error in the enforcing mode (containers/image:
 *    "short-name resolution enforced but cannot prompt without a TTY");
 *  - with neither, docker.io, as kubelet and docker do (containers/image
 *    would refuse the name instead).
 *
 * The files read are the ones containers/image's sysregistriesv2 reads
 * (newConfigWrapperWithHomeDir, tryUpdatingCache), so that virtnet and the
 * skopeo it runs see one configuration; registriesConfFiles says which.
 * Not read: podman's machine-written alias cache
 * (/var/cache/containers/short-name-aliases.conf), which only a prompt
 * fills, and /etc/containers/registries.d (signature storage, not names).
 */
import { readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import { imageReferenceProblem, repositoryOf } from './reference.ts';

export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

const MODES: readonly ShortNameMode[] = ['enforcing', 'permissive', 'disabled'];

/**
 * containers-registries.conf(5): "If short-name-mode is not specified at all or left empty, default to the permissive
 * mode."
 */
export const DEFAULT_SHORT_NAME_MODE: ShortNameMode = 'permissive';

/** The files each setting came from, for messages. */
export interface ShortNameOrigins {
  /** Per alias name. */
  aliases: Record<string, string>;
  unqualifiedSearchRegistries?: string;
  shortNameMode?: string;
}

/** The short-name part of the merged registries.conf files. */
export interface ShortNameConfig {
  /** Short name (no tag, no digest) → fully qualified repository (no tag, no digest). */
  aliases: Record<string, string>;
  /** host[:port] registries, in order. */
  unqualifiedSearchRegistries: string[];
  /** Default: DEFAULT_SHORT_NAME_MODE. */
  shortNameMode?: ShortNameMode;
  origins?: ShortNameOrigins;
}

export type Resolution = 'fully-qualified' | 'alias' | 'search-registry' | 'docker-hub-default';

export interface ResolvedImage {
  /** The fully qualified reference to pull: the first of `candidates`. */
  image: string;
  via: Resolution;
  /**
   * Every reference to try, in order, until a registry has one. More than
   * one only for several unqualified-search registries in the permissive or
   * disabled mode (containers/image returns them all as pull candidates).
   */
  candidates: string[];
  /** The file the alias or the search registries came from, when known. */
  origin?: string;
}

function invalid(message: string): VirtnetError {
  return new VirtnetError(ErrorCode.invalidConfig, message);
}

/**
 * The registry a reference names, if any: its first component, when another
 * follows, with a '.' or ':' in it, or "localhost" (containers/image
 * parseUnnormalizedShortName), or capitals, which reference.ts reads as a
 * registry too (they cannot be a repository path component).
 */
function registryOf(image: string): string | undefined {
  const components = repositoryOf(image).split('/');
  const first = components[0]!;
  if (components.length < 2) return undefined;
  const named = first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
  return named ? first : undefined;
}

/** Whether `image` (a valid reference) names no registry, so needs resolving. */
export function isShortName(image: string): boolean {
  return registryOf(image) === undefined;
}

/**
 * containers-registries.conf(5) "Normalization of docker.io references": docker.io/alpine is docker.io/library/alpine.
 */
function normalizeDockerHub(image: string): string {
  const path = repositoryOf(image).split('/');
  return path[0] === 'docker.io' && path.length === 2 ? `docker.io/library/${image.slice('docker.io/'.length)}` : image;
}

/** Why `value` cannot be an alias's right-hand side; undefined when it can. */
export function aliasValueProblem(value: string): string | undefined {
  const problem = imageReferenceProblem(value);
  if (problem !== undefined) return problem;
  if (repositoryOf(value) !== value)
    return 'must not contain a tag or digest (containers-registries.conf(5) "Short-Name Aliasing")';
  if (registryOf(value) === undefined) {
    return (
      'must be fully qualified: its first component must name a registry (with a "." or ":", or localhost), e.g. ' +
      '"quay.io/containerdisks/fedora"'
    );
  }
  return undefined;
}

/** Why `name` cannot be an alias's left-hand side; undefined when it can. */
export function aliasNameProblem(name: string): string | undefined {
  const problem = imageReferenceProblem(name);
  if (problem !== undefined) return problem;
  if (repositoryOf(name) !== name)
    return 'must not contain a tag or digest (containers-registries.conf(5) "Short-Name Aliasing")';
  if (!isShortName(name)) return 'must be a short name: it must not name a registry or localhost';
  return undefined;
}

/**
 * Why `registry` cannot be an unqualified-search registry. containers/image
 * asks for a host[:port]; a name without '.' or ':' (other than localhost)
 * is refused too: "myreg/fedora" would be a short name again, which skopeo
 * sends to docker.io/myreg/fedora.
 */
export function searchRegistryProblem(registry: string): string | undefined {
  const probe = `${registry}/x`;
  if (imageReferenceProblem(probe) !== undefined || registryOf(probe) !== registry) {
    return 'must be a registry host[:port] with a "." or ":" in it, or localhost, e.g. "quay.io" (no path, no scheme)';
  }
  return undefined;
}

function checked(image: string, source: string): string {
  const problem = imageReferenceProblem(image);
  if (problem !== undefined) throw invalid(`image ${image} (${source}) is not a valid reference: ${problem}`);
  return image;
}

function resolvedBy(candidates: string[], via: Resolution, origin: string | undefined): ResolvedImage {
  return { image: candidates[0]!, via, candidates, ...(origin !== undefined && { origin }) };
}

function fromAlias(image: string, name: string, alias: string, origin: string | undefined): ResolvedImage {
  const problem = aliasValueProblem(alias);
  if (problem !== undefined) {
    throw invalid(
      `short-name alias ${JSON.stringify(name)} = ` +
        `${JSON.stringify(alias)}${origin === undefined ? '' : ` in ${origin}`}: the value ${problem}`,
    );
  }
  // The request's tag and digest, kept as written ("fedora:38" → "<alias>:38").
  const suffix = image.slice(name.length);
  return resolvedBy([checked(normalizeDockerHub(alias) + suffix, `alias ${JSON.stringify(name)}`)], 'alias', origin);
}

function fromSearchRegistries(image: string, config: ShortNameConfig): ResolvedImage {
  const registries = config.unqualifiedSearchRegistries;
  const origin = config.origins?.unqualifiedSearchRegistries;
  const where = origin === undefined ? '' : ` in ${origin}`;
  for (const registry of registries) {
    const problem = searchRegistryProblem(registry);
    if (problem !== undefined)
      throw invalid(`unqualified-search-registries entry ${JSON.stringify(registry)}${where}: ${problem}`);
  }
  const mode = config.shortNameMode ?? DEFAULT_SHORT_NAME_MODE;
  if (registries.length > 1 && mode === 'enforcing') {
    throw invalid(
      `short name ${image} is ambiguous: it could come from ${registries.join(', ')}; give a fully qualified image ` +
        `name or add an alias in [aliases] (short-name-mode is ` +
        `"enforcing"${config.origins?.shortNameMode === undefined ? '' : ` in ${config.origins.shortNameMode}`}, and ` +
        `virtnet never prompts)`,
    );
  }
  const candidates = registries.map((r) =>
    checked(normalizeDockerHub(`${r}/${image}`), `unqualified-search registry ${r}`),
  );
  return resolvedBy(candidates, 'search-registry', origin);
}

/**
 * Resolve `image` by containers-registries.conf(5)'s short-name rules (see
 * the file comment). Throws a VirtnetError (invalidConfig) for an invalid
 * reference, a bad alias or search registry, and an ambiguous name in the
 * enforcing mode. Pure.
 */
export function resolveShortName(image: string, config: ShortNameConfig): ResolvedImage {
  const problem = imageReferenceProblem(image);
  if (problem !== undefined) throw invalid(`image ${JSON.stringify(image)}: ${problem}`);
  if (!isShortName(image)) return resolvedBy([image], 'fully-qualified', undefined);
  // Tags and digests are stripped for the alias lookup (containers-registries.conf(5)).
  const name = repositoryOf(image);
  if (Object.hasOwn(config.aliases, name))
    return fromAlias(image, name, config.aliases[name]!, config.origins?.aliases[name]);
  if (config.unqualifiedSearchRegistries.length > 0) return fromSearchRegistries(image, config);
  return resolvedBy(
    [checked(normalizeDockerHub(`docker.io/${image}`), 'the Docker Hub default')],
    'docker-hub-default',
    undefined,
  );
}

/** One line for progress output: how a short name was resolved. */
export function describeResolution(image: string, resolved: ResolvedImage): string {
  const from = resolved.origin === undefined ? '' : ` from ${resolved.origin}`;
  switch (resolved.via) {
    case 'fully-qualified':
      return `${image} is fully qualified`;
    case 'alias':
      return `short name ${image} is ${resolved.image} (alias${from})`;
    case 'search-registry':
      return `short name ${image}: trying ${resolved.candidates.join(', ')} (unqualified-search-registries${from})`;
    case 'docker-hub-default':
      return (
        `short name ${image} is ${resolved.image} (no alias and no unqualified-search registries: Docker Hub, as ` +
        `kubelet does)`
      );
  }
}

// ---- The files -------------------------------------------------------------

/** Where the standard files are; tests point these at temp dirs. */
export interface ConfigPlaces {
  systemConf: string;
  systemDir: string;
  /** The home directory ($HOME, as containers/image's homedir.Get). */
  home: string;
}

export function standardPlaces(): ConfigPlaces {
  return {
    systemConf: '/etc/containers/registries.conf',
    systemDir: '/etc/containers/registries.conf.d',
    home: homedir(),
  };
}

export interface ConfigFiles {
  main: string;
  /** An explicit file must exist; the implicit ones may be missing (containers/image tryUpdatingCache). */
  mainRequired: boolean;
  /** Drop-in directories, in loading order. */
  dirs: string[];
}

/**
 * Which files containers/image (newConfigWrapperWithHomeDir) reads:
 *  - an explicit file (skopeo --registries-conf): that file, then the drop-ins
 *    of /etc/containers/registries.conf.d and then of
 *    $HOME/.config/containers/registries.conf.d. Not a ".d" next to the
 *    file: measured with skopeo 1.9.3, a rewrite in HOME's drop-in dir
 *    applied with --registries-conf, one in FILE's sibling .d did not;
 *  - else $HOME/.config/containers/registries.conf if it exists, with only
 *    the drop-ins of $HOME/.config/containers/registries.conf.d
 *    (containers-registries.conf.d(5));
 *  - else /etc/containers/registries.conf, then the system and user drop-ins.
 */
export function registriesConfFiles(
  registriesConf: string | undefined,
  places: ConfigPlaces = standardPlaces(),
): ConfigFiles {
  const userFile = join(places.home, '.config', 'containers', 'registries.conf');
  const userDir = join(places.home, '.config', 'containers', 'registries.conf.d');
  if (registriesConf !== undefined)
    return { main: registriesConf, mainRequired: true, dirs: [places.systemDir, userDir] };
  if (exists(userFile)) return { main: userFile, mainRequired: false, dirs: [userDir] };
  return { main: places.systemConf, mainRequired: false, dirs: [places.systemDir, userDir] };
}

/** containers/image checks only that the user's file exists (fileutils.Exists). */
function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * The *.conf files directly in `dir`, in lexical order (containers/image
 * walks the directory: no subdirectories, only the .conf suffix). A missing
 * directory has none.
 */
export function dropInFiles(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw new VirtnetError(
      ErrorCode.ioFailure,
      `registries configuration: cannot read the drop-in directory ${dir}: ${(err as Error).message}`,
    );
  }
  return entries
    .filter((e) => !e.isDirectory() && e.name.endsWith('.conf'))
    .map((e) => e.name)
    .sort()
    .map((name) => join(dir, name));
}

/** What one file sets; an alias set to "" erases an earlier file's (containers-registries.conf(5)). */
interface FileSettings {
  path: string;
  aliases: Array<[string, string]>;
  unqualifiedSearchRegistries?: string[];
  shortNameMode?: ShortNameMode;
}

type TomlTable = Record<string, unknown>;

function isTable(value: unknown): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (isTable(value)) return 'a table';
  return typeof value === 'string' ? `the string ${JSON.stringify(value)}` : `the ${typeof value} ${String(value)}`;
}

/** Keys of the v2 format (containers/image V2RegistriesConf): a file with them must not also be v1. */
const V2_KEYS = [
  'registry',
  'unqualified-search-registries',
  'credential-helpers',
  'short-name-mode',
  'aliases',
  'additional-layer-store-auth-helper',
];

function readToml(path: string, required: boolean): TomlTable | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    // A missing implicit file is no configuration; a drop-in removed since the listing is skipped, as containers/image
    // does.
    if (errnoOf(err) === 'ENOENT' && !required) return undefined;
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `registries configuration ${path} cannot be read: ${(err as Error).message}`,
    );
  }
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    throw invalid(
      `registries configuration ${path}: line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`,
    );
  }
}

function stringList(path: string, key: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw invalid(`registries configuration ${path}: ${key} must be an array of strings, not ${kindOf(value)}`);
  }
  return value as string[];
}

/** containers/image parseLocation: trailing slashes are dropped; then each entry must be a registry. */
function searchRegistries(path: string, key: string, value: unknown): string[] {
  return stringList(path, key, value).map((entry) => {
    const registry = entry.replace(/\/+$/u, '');
    const problem = searchRegistryProblem(registry);
    if (problem !== undefined)
      throw invalid(`registries configuration ${path}: ${key} entry ${JSON.stringify(entry)} ${problem}`);
    return registry;
  });
}

function aliasTable(path: string, value: unknown): Array<[string, string]> {
  if (!isTable(value))
    throw invalid(`registries configuration ${path}: [aliases] must be a table of strings, not ${kindOf(value)}`);
  return Object.entries(value).map(([name, alias]) => {
    const key = `[aliases] ${JSON.stringify(name)}`;
    if (typeof alias !== 'string')
      throw invalid(
        `registries configuration ${path}: ${key} must be a string (a fully qualified repository), not ` +
          `${kindOf(alias)}`,
      );
    const nameProblem = aliasNameProblem(name);
    if (nameProblem !== undefined) throw invalid(`registries configuration ${path}: ${key}: the name ${nameProblem}`);
    const valueProblem = alias === '' ? undefined : aliasValueProblem(alias);
    if (valueProblem !== undefined)
      throw invalid(`registries configuration ${path}: ${key} = ${JSON.stringify(alias)}: the value ${valueProblem}`);
    return [name, alias];
  });
}

function shortNameMode(path: string, value: unknown): ShortNameMode | undefined {
  if (value === '') return undefined; // "left empty": the default
  if (typeof value !== 'string' || !(MODES as readonly string[]).includes(value)) {
    throw invalid(
      `registries configuration ${path}: short-name-mode must be one of ${MODES.join(', ')}, not ${kindOf(value)}`,
    );
  }
  return value as ShortNameMode;
}

/**
 * The deprecated v1 format (containers-registries.conf(5) "VERSION 1
 * FORMAT"): [registries.search] registries = [...] are the search
 * registries. Only in the main file, and never mixed with v2 keys
 * (containers/image loadConfigFile).
 */
function v1Settings(path: string, toml: TomlTable, dropIn: boolean): FileSettings {
  if (dropIn)
    throw invalid(
      `registries configuration ${path}: a drop-in must use the version 2 format, not [registries.*] ` +
        `(containers-registries.conf.d(5))`,
    );
  const mixed = V2_KEYS.filter((k) => k in toml);
  if (mixed.length > 0)
    throw invalid(
      `registries configuration ${path}: mixes the version 1 [registries.*] tables with version 2 keys ` +
        `(${mixed.join(', ')})`,
    );
  const v1 = toml.registries;
  if (!isTable(v1))
    throw invalid(
      `registries configuration ${path}: registries must be a table ([registries.search] etc.), not ${kindOf(v1)}`,
    );
  const search = v1.search;
  if (search === undefined) return { path, aliases: [] };
  if (!isTable(search))
    throw invalid(`registries configuration ${path}: registries.search must be a table, not ${kindOf(search)}`);
  if (search.registries === undefined) return { path, aliases: [] };
  return {
    path,
    aliases: [],
    unqualifiedSearchRegistries: searchRegistries(path, 'registries.search.registries', search.registries),
  };
}

/** The short-name settings of one file, checked. Undefined for a missing implicit file. */
export function readShortNameSettings(
  path: string,
  options: { required: boolean; dropIn: boolean },
): FileSettings | undefined {
  const toml = readToml(path, options.required);
  if (toml === undefined) return undefined;
  if ('registries' in toml) return v1Settings(path, toml, options.dropIn);
  const usr = toml['unqualified-search-registries'];
  const mode = toml['short-name-mode'] === undefined ? undefined : shortNameMode(path, toml['short-name-mode']);
  return {
    path,
    aliases: toml.aliases === undefined ? [] : aliasTable(path, toml.aliases),
    ...(usr !== undefined && {
      unqualifiedSearchRegistries: searchRegistries(path, 'unqualified-search-registries', usr),
    }),
    ...(mode !== undefined && { shortNameMode: mode }),
  };
}

/**
 * Later files win (containers/image updateWithConfigurationFrom): aliases
 * merge key by key, "" erasing; a search list that is set, even to [],
 * replaces the earlier one; so does a mode.
 */
function merge(files: FileSettings[]): ShortNameConfig {
  const aliases = new Map<string, { value: string; origin: string }>();
  let search: { registries: string[]; origin: string } | undefined;
  let mode: { mode: ShortNameMode; origin: string } | undefined;
  for (const file of files) {
    for (const [name, value] of file.aliases) aliases.set(name, { value, origin: file.path });
    if (file.unqualifiedSearchRegistries !== undefined)
      search = { registries: file.unqualifiedSearchRegistries, origin: file.path };
    if (file.shortNameMode !== undefined) mode = { mode: file.shortNameMode, origin: file.path };
  }
  const kept = [...aliases].filter(([, a]) => a.value !== '');
  return {
    aliases: Object.fromEntries(kept.map(([name, a]) => [name, a.value])),
    unqualifiedSearchRegistries: search?.registries ?? [],
    ...(mode !== undefined && { shortNameMode: mode.mode }),
    origins: {
      aliases: Object.fromEntries(kept.map(([name, a]) => [name, a.origin])),
      ...(search !== undefined && { unqualifiedSearchRegistries: search.origin }),
      ...(mode !== undefined && { shortNameMode: mode.origin }),
    },
  };
}

/**
 * The short-name configuration from the registries.conf files containers/image
 * would read (registriesConfFiles), merged. `registriesConf` is virtnet's
 * --registries-conf, the same file skopeo is given.
 */
export function loadShortNameConfig(registriesConf?: string, places: ConfigPlaces = standardPlaces()): ShortNameConfig {
  const files = registriesConfFiles(registriesConf, places);
  const settings = [readShortNameSettings(files.main, { required: files.mainRequired, dropIn: false })];
  for (const dir of files.dirs) {
    for (const file of dropInFiles(dir)) settings.push(readShortNameSettings(file, { required: false, dropIn: true }));
  }
  return merge(settings.filter((s) => s !== undefined));
}

/**
 * `image` resolved for pulling: a fully qualified name as it is, without
 * reading any file; a short name by the configuration loadShortNameConfig reads.
 */
export function resolveImage(image: string, registriesConf?: string, places?: ConfigPlaces): ResolvedImage {
  const problem = imageReferenceProblem(image);
  if (problem !== undefined) throw invalid(`image ${JSON.stringify(image)}: ${problem}`);
  if (!isShortName(image)) return resolvedBy([image], 'fully-qualified', undefined);
  return resolveShortName(image, loadShortNameConfig(registriesConf, places));
}
