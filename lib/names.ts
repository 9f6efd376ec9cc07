/**
 * Name rules shared by every part that builds link names or file names.
 * Link names follow the kernel's dev_valid_name() (net/core/dev.c): at most
 * 15 bytes, not "." or "..", no "/", ":" or whitespace. CNI applies the same
 * rule to CNI_IFNAME (libcni pkg/utils ValidateInterfaceName). Ours is
 * stricter: only ASCII letters, digits and "._@+-", with no "%".
 */
import { openSync, readSync, closeSync } from 'node:fs';
import { showValue } from './show.ts';

export const MAX_LINK_NAME_BYTES = 15;
const LINK_NAME_PUNCTUATION = '._@+-';
const LINK_NAME_CHARS = /^[A-Za-z0-9._@+-]+$/u;

/** Returns why `name` is not a valid link name, or undefined when it is. */
export function linkNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (Buffer.byteLength(name, 'utf8') > MAX_LINK_NAME_BYTES) return `must be at most ${MAX_LINK_NAME_BYTES} bytes`;
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (/[/:\s]/u.test(name)) return 'must not contain "/", ":" or whitespace';
  // Not a kernel rule, but every value we pass on argv must be printable.
  if (/[\x00-\x1f\x7f]/u.test(name)) return 'must not contain control characters';
  // Not kernel rules either: ip(8) -batch reads "#" as a comment and strips
  // quotes and backslashes, so such a name could not be passed on safely.
  if (/[#"'\\]/u.test(name)) return 'must not contain #, quotes or backslashes';
  // The kernel reads "%d" as a template and makes br0, br1... (dev_alloc_name,
  // net/core/dev.c): the link made would not be the one named, nor removed.
  if (name.includes('%')) return 'must not contain "%" (the kernel reads it as a name template, dev_alloc_name)';
  // C1 controls, zero-width and look-alike characters would show as another
  // name, or none, in ip(8) and logs: only the ASCII characters names use.
  if (!LINK_NAME_CHARS.test(name)) return `may hold only ASCII letters, digits and "${LINK_NAME_PUNCTUATION}"`;
  return undefined;
}

/** libcni's rule for container ids and network names (pkg/utils/utils.go). */
export const CNI_ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/u;

/**
 * Links every new network namespace may already have: the loopback, and the
 * fallback devices the tunnel modules create in each namespace unless
 * net.core.fb_tunnels_only_for_init_net is set (Documentation/admin-guide/
 * sysctl/net.rst; ipip, sit, ip6_tunnel, ip_gre, ip6_gre, ip_vti, ip6_vti).
 * No attachment may be given one of these names.
 */
export const KERNEL_OWNED_IFNAMES: ReadonlySet<string> = new Set([
  'lo',
  'tunl0',
  'sit0',
  'ip6tnl0',
  'gre0',
  'gretap0',
  'erspan0',
  'ip6gre0',
  'ip_vti0',
  'ip6_vti0',
]);

/** Linux NAME_MAX (include/uapi/linux/limits.h): the longest file name, in bytes. */
export const NAME_MAX = 255;
/**
 * The longest container id accepted. libcni sets none, but the id becomes
 * part of file names (cni/state.ts `<id>_<hex ifname>.json`, libcni's and
 * netattach's result cache `<network>-<id>-<ifname>`); containerd, CRI-O
 * and Podman use 64 hex digits, so twice that leaves room and keeps every
 * such name within NAME_MAX.
 */
export const MAX_CONTAINER_ID_BYTES = 128;
/** lib/durable.ts writes `<file>.<pid>.tmp` first; a pid has at most 7 digits (PID_MAX_LIMIT, 2^22). */
const DURABLE_TMP_SUFFIX_BYTES = '.4194304.tmp'.length;
/**
 * The longest network name: the name is a directory of its own
 * (`<dataDir>/<name>/`, host-local's too), and the start of the result
 * cache's file name `<name>-<containerID>-<ifname>` (libcni
 * pkg/invoke/cache; netattach/cache.ts), which must fit NAME_MAX with the
 * longest container id and ifname and the temporary file's suffix.
 */
export const MAX_NETWORK_NAME_BYTES =
  NAME_MAX - MAX_CONTAINER_ID_BYTES - MAX_LINK_NAME_BYTES - '--'.length - DURABLE_TMP_SUFFIX_BYTES;

/** Why `value` is not a libcni identifier of at most `max` bytes, or undefined. */
function cniIdProblem(value: string, max: number): string | undefined {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > max)
    return (
      `${showValue(value)} is ${bytes} bytes; it must be at most ${max} (it becomes part of file names, NAME_MAX ` +
      `${NAME_MAX})`
    );
  if (!CNI_ID_PATTERN.test(value)) return `${showValue(value)} must match ${CNI_ID_PATTERN.source}`;
  return undefined;
}

/** Why `id` is not a container id (CNI_CONTAINERID, K8S_POD_INFRA_CONTAINER_ID), or undefined. */
export function containerIdProblem(id: string): string | undefined {
  return cniIdProblem(id, MAX_CONTAINER_ID_BYTES);
}

/** Why `name` is not a network name (a config's `name`), or undefined. */
export function networkNameProblem(name: string): string | undefined {
  return cniIdProblem(name, MAX_NETWORK_NAME_BYTES);
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/u;
const DNS1123_LABEL_MAX = 63;
const DNS1123_SUBDOMAIN_MAX = 253;

/** Why `value` is not a DNS-1123 label (Kubernetes namespaces; k8s.io/apimachinery IsDNS1123Label), or undefined. */
export function dns1123LabelProblem(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty (is "")';
  if (value.length > DNS1123_LABEL_MAX)
    return `${showValue(value)} must be at most ${DNS1123_LABEL_MAX} characters (DNS-1123 label; is ${value.length})`;
  if (!DNS1123_LABEL.test(value))
    return (
      `${showValue(value)} must be a DNS-1123 label (lower-case alphanumerics and "-", matching ` +
      `${DNS1123_LABEL.source})`
    );
  return undefined;
}

/**
 * Why `value` is not a DNS-1123 subdomain of at most `max` characters (Kubernetes object names; IsDNS1123Subdomain), or
 * undefined.
 */
export function dns1123SubdomainProblem(value: string, max = DNS1123_SUBDOMAIN_MAX): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > max)
    return `${showValue(value)} must be at most ${max} characters (DNS-1123 subdomain; is ${value.length})`;
  if (!value.split('.').every((label) => DNS1123_LABEL.test(label))) {
    return (
      `${showValue(value)} must be a DNS-1123 subdomain (lower-case alphanumerics, "-" and ".", each part starting ` +
      `and ending with an alphanumeric)`
    );
  }
  return undefined;
}

/** The longest VMI name: it becomes a pod-name prefix and a label value (kubevirt.io/domain), at most 63. */
export const MAX_VMI_NAME = 63;

/** Six hex octets with colons: the launcher's form, which the controller normalises every MAC to. */
const MAC_ADDRESS = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/iu;

/**
 * Why `text` is not a guest NIC's MAC address, or undefined. As the VMI
 * admission (controller/api/rules-interfaces.ts) after normalisation: six
 * octets, not all zeros (no station's address; the kernel refuses it too,
 * is_valid_ether_addr), and unicast (the low bit of the first octet clear).
 */
export function macAddressProblem(text: string): string | undefined {
  if (!MAC_ADDRESS.test(text))
    return `${showValue(text)} is not a MAC address (6 hex octets with colons, e.g. 02:00:00:00:00:01)`;
  if (/^(?:00:){5}00$/u.test(text)) return `${showValue(text)} must not be all zeros (no NIC has that address)`;
  if (Number.parseInt(text.slice(0, 2), 16) & 1)
    return `${showValue(text)} is a multicast address (low bit of the first octet); a NIC needs a unicast one`;
  return undefined;
}

/** DDDD:BB:SS.F (KubeVirt's pkg/util/hardware ParsePciAddress); a slot is 5 bits, a function 3. */
export const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$/iu;

/** Why `text` is not a PCI address a guest NIC can be placed at, or undefined. */
export function pciAddressProblem(text: string): string | undefined {
  if (PCI_ADDRESS.test(text)) return undefined;
  return `${showValue(text)} is not a PCI address DDDD:BB:SS.F (hex; slot at most 1f, function 0-7), e.g. 0000:81:00.1`;
}

/**
 * A short, stable hex name for a longer identifier: 64-bit FNV-1a
 * (draft-eastlake-fnv). Not cryptographic, and needn't be: it only spreads
 * names; its point is that the exec'd CNI plugin need not load node:crypto,
 * which costs a few ms of its start-up.
 */
export function shortHash(input: string, hexChars: number): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(input, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0').slice(0, hexChars);
}

/** Random bytes from the kernel, without loading node:crypto (see shortHash). */
export function urandom(n: number): Uint8Array {
  const buf = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    readSync(fd, buf, 0, n, null);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** Levenshtein distance (insertions, deletions, substitutions), on UTF-16 units. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/**
 * The known word nearest to `word`, for a "did you mean" hint: case is
 * ignored, and only near misses count (at most 2 edits, and fewer than half
 * the word), so that a hint is never a wild guess.
 */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = editDistance(w, name.toLowerCase());
    if (d <= 2 && d * 2 < Math.max(w.length, 1) && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}
