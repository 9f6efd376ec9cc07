/**
 * The files of a cloud-init seed volume (issue 12, "cloud-init volumes"),
 * planned from the VMI; lib/iso.ts writes them into an ISO9660 image.
 *
 * NoCloud (cloud-init docs, "NoCloud"; cloudinit/sources/DataSourceNoCloud.py):
 * a volume labelled `cidata` holding `user-data` and `meta-data`, both
 * required (pathprefix2dict's `required`), and `network-config`. meta-data
 * is YAML with `instance-id` and `local-hostname`.
 *
 * ConfigDrive (cloud-init docs, "Config drive"; DataSourceConfigDrive.py,
 * sources/helpers/openstack.py): label `config-2`, with
 * `openstack/latest/meta_data.json` (required; cloud-init takes
 * `instance-id` from its `uuid`, which must be there, and `local-hostname`
 * from `hostname`: KEY_COPIES), `user_data` (optional) and
 * `network_data.json` (optional).
 *
 * What KubeVirt does (pkg/cloud-init/cloud-init.go GenerateLocalData),
 * followed here: the user's userData and networkData go into the files
 * byte for byte; a NoCloud volume with networkData and no userData still
 * gets a `user-data` file, an empty one. cloud-init reads an empty
 * user-data as an empty payload and does nothing with it
 * (handlers/__init__.py walker_callback: "Empty payload"). Unlike KubeVirt,
 * a ConfigDrive without userData has no `user_data` file, which is
 * optional there, and when the user gives no networkData virtnet writes one
 * for every NIC (network-data.ts).
 *
 * cloud-init runs its per-instance modules once per instance-id, and keeps
 * their state under /var/lib/cloud/instances/<instance-id>/ (helpers.py
 * _get_ipath, which only replaces "/"): so the id is the VMI's uid, and is
 * held to characters that are safe as a directory name.
 */
import { stringify } from 'yaml';
import { hostnameProblem, DNS_NAME_MAX } from '../../lib/dnsmasq-values.ts';
import { showValue } from '../../lib/show.ts';
import { renderNetworkConfigV2, renderOpenStackNetworkData, type GuestNicFacts } from './network-data.ts';

export interface SeedInput {
  kind: 'noCloud' | 'configDrive';
  /** The VMI's uid: cloud-init runs its per-instance modules once per instance-id. */
  instanceId: string;
  hostname: string;
  /** The user's bytes, verbatim (KubeVirt's userData or decoded userDataBase64). */
  userData?: Buffer;
  /** The user's own networkData, verbatim: never rewritten. When absent, virtnet renders it from `nics`. */
  networkData?: Buffer;
  nics: readonly GuestNicFacts[];
}

export interface SeedFile {
  path: string;
  content: Buffer;
}

export interface SeedPlan {
  label: 'cidata' | 'config-2';
  files: SeedFile[];
}

/**
 * The longest instance id: a Kubernetes uid is 36 characters; this leaves
 * room and keeps the guest's directory name short.
 */
export const MAX_INSTANCE_ID_LENGTH = 128;
/** A letter or digit first (so never "." or ".."), then letters, digits and "._:-". */
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/u;

const NOCLOUD_LABEL = 'cidata';
const CONFIG_DRIVE_LABEL = 'config-2';
const CONFIG_DRIVE_DIR = 'openstack/latest';

function fail(field: string, message: string): never {
  throw new TypeError(`${field}: ${message}`);
}

/** Why `id` cannot be cloud-init's instance id, or undefined. */
export function instanceIdProblem(id: string): string | undefined {
  if (id.length === 0) return `${showValue(id)} must be a non-empty string`;
  if (id.length > MAX_INSTANCE_ID_LENGTH)
    return `${showValue(id)} must be at most ${MAX_INSTANCE_ID_LENGTH} characters (is ${id.length})`;
  if (!INSTANCE_ID.test(id)) {
    return (
      `${showValue(id)} may hold only ASCII letters, digits and "._:-", starting with a letter or digit ` +
      "(the guest keeps cloud-init's state in a directory of this name)"
    );
  }
  return undefined;
}

/**
 * Why `hostname` cannot be the guest's host name, or undefined: one label, or
 * several joined by "." (cloud-init takes an FQDN's first label as the host
 * name), each an RFC 1123 label, at most 253 characters in all (RFC 1035 §2.3.4).
 */
export function seedHostnameProblem(hostname: string): string | undefined {
  if (hostname.length === 0) return `${showValue(hostname)} must be a non-empty string`;
  if (hostname.length > DNS_NAME_MAX)
    return `${showValue(hostname)} must be at most ${DNS_NAME_MAX} characters (is ${hostname.length})`;
  for (const label of hostname.split('.')) {
    const problem = hostnameProblem(label);
    if (problem) return `${showValue(hostname)} must be a host name of dot-separated labels: ${problem}`;
  }
  return undefined;
}

function checkText(field: string, value: unknown, problemOf: (v: string) => string | undefined): string {
  if (typeof value !== 'string') fail(field, `${showValue(value)} must be a non-empty string`);
  const problem = problemOf(value);
  if (problem) fail(field, problem);
  return value;
}

function checkBytes(field: string, value: unknown): Buffer | undefined {
  if (value === undefined) return undefined;
  if (!Buffer.isBuffer(value)) fail(field, `${showValue(value)} must be a Buffer of the user's bytes`);
  return Buffer.from(value); // a copy: the plan does not change if the caller's buffer does
}

interface CheckedSeed {
  instanceId: string;
  hostname: string;
  userData: Buffer | undefined;
  networkData: Buffer | undefined;
  nics: readonly GuestNicFacts[];
}

function checkSeedInput(input: SeedInput): CheckedSeed {
  if (input.kind !== 'noCloud' && input.kind !== 'configDrive')
    fail('kind', `${showValue(input.kind)} must be "noCloud" or "configDrive"`);
  return {
    instanceId: checkText('instanceId', input.instanceId, instanceIdProblem),
    hostname: checkText('hostname', input.hostname, seedHostnameProblem),
    userData: checkBytes('userData', input.userData),
    networkData: checkBytes('networkData', input.networkData),
    nics: input.nics,
  };
}

function planNoCloud(seed: CheckedSeed): SeedPlan {
  // YAML 1.1 quoting, as PyYAML reads it: an id of digits stays a string.
  const metaData = stringify({ 'instance-id': seed.instanceId, 'local-hostname': seed.hostname }, { version: '1.1' });
  return {
    label: NOCLOUD_LABEL,
    files: [
      { path: 'user-data', content: seed.userData ?? Buffer.alloc(0) },
      { path: 'meta-data', content: Buffer.from(metaData) },
      { path: 'network-config', content: seed.networkData ?? Buffer.from(renderNetworkConfigV2(seed.nics)) },
    ],
  };
}

function planConfigDrive(seed: CheckedSeed): SeedPlan {
  const metaData = `${JSON.stringify({ uuid: seed.instanceId, hostname: seed.hostname }, null, 2)}\n`;
  const networkData = seed.networkData ?? Buffer.from(renderOpenStackNetworkData(seed.nics));
  return {
    label: CONFIG_DRIVE_LABEL,
    files: [
      { path: `${CONFIG_DRIVE_DIR}/meta_data.json`, content: Buffer.from(metaData) },
      ...(seed.userData ? [{ path: `${CONFIG_DRIVE_DIR}/user_data`, content: seed.userData }] : []),
      { path: `${CONFIG_DRIVE_DIR}/network_data.json`, content: networkData },
    ],
  };
}

/** The seed volume's label and files. Throws a TypeError naming the field on bad input. */
export function planSeed(input: SeedInput): SeedPlan {
  const seed = checkSeedInput(input);
  return input.kind === 'noCloud' ? planNoCloud(seed) : planConfigDrive(seed);
}
