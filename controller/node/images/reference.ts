/**
 * containerDisk fields, checked before anything reaches skopeo, tar or a
 * path: the image reference (the docker reference grammar of
 * distribution/reference, reference.go), the pull policy's default
 * (Kubernetes' rule) and `path`. Pure.
 */
import { posix } from 'node:path';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** distribution/reference: NameTotalLengthMax. */
const NAME_MAX = 255;
/** A tag is [\w][\w.-]{0,127}. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/u;
/** Only sha256 digests: the cache is keyed by them and skopeo verifies them. */
const DIGEST = /^sha256:[0-9a-f]{64}$/u;
/** domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]; an optional :port. */
const DOMAIN_COMPONENT = '(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])';
const DOMAIN = new RegExp(`^${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]{1,5})?$`, 'u');
/** path-component := alpha-numeric (separator alpha-numeric)*, separator := [_.] | __ | [-]+. */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/u;

interface Parts {
  domain: string | undefined;
  path: string[];
  tag: string | undefined;
  digest: string | undefined;
}

/**
 * A first component is a registry when it has a '.' or a ':', is localhost, or has capitals
 * (reference.splitDockerDomain).
 */
function isDomain(component: string): boolean {
  return (
    component.includes('.') ||
    component.includes(':') ||
    component === 'localhost' ||
    component !== component.toLowerCase()
  );
}

function split(image: string): Parts {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const components = rest.split('/');
  const domain = components.length > 1 && isDomain(components[0]!) ? components.shift() : undefined;
  return { domain, path: components, tag, digest };
}

/** Why `image` is not a docker reference virtnet will pass to skopeo; undefined when it is one. */
export function imageReferenceProblem(image: string): string | undefined {
  if (image === '') return 'must not be empty';
  if (/[\s\u0000-\u001f\u007f-\u009f]/u.test(image)) return 'must not contain whitespace or control characters';
  if (image.startsWith('-')) return 'must not start with "-" (it would read as an option)';
  if (image.includes('://')) return 'must be a docker reference without a transport (no "docker://")';
  if (image.length > NAME_MAX + 1 + 128 + 1 + 71) return `must be at most ${NAME_MAX + 201} characters`;
  const parts = split(image);
  if (parts.digest !== undefined && !DIGEST.test(parts.digest))
    return `digest "${parts.digest}" must be sha256: and 64 lower-case hex digits`;
  if (parts.tag !== undefined && !TAG.test(parts.tag))
    return `tag "${parts.tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
  if (parts.domain !== undefined && !DOMAIN.test(parts.domain))
    return `registry "${parts.domain}" is not a host name with an optional :port`;
  const port = parts.domain?.split(':')[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    return `registry port ${port} must be from 1 to 65535`;
  for (const component of parts.path) {
    if (!PATH_COMPONENT.test(component)) {
      return `path component "${component}" must be lower-case letters and digits, separated by ".", "_", "__" or "-"`;
    }
  }
  const name = [parts.domain, ...parts.path].filter((c) => c !== undefined).join('/');
  if (name.length > NAME_MAX) return `repository name must be at most ${NAME_MAX} characters`;
  return undefined;
}

/**
 * Kubernetes' default (pkg/apis/core/v1/defaults.go SetDefaults_Container):
 * Always when the tag is "latest", else IfNotPresent; a reference with
 * neither tag nor digest means ":latest" (parsers.ParseImageName). So a
 * digest alone gives IfNotPresent, and "x:latest@sha256:…" still gives
 * Always, as in Kubernetes. Expects a reference imageReferenceProblem accepts.
 */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  const { tag, digest } = split(image);
  if (tag === 'latest') return 'Always';
  return tag === undefined && digest === undefined ? 'Always' : 'IfNotPresent';
}

/**
 * The repository a reference names, without tag or digest: "registry:5000/kubevirt/a:1" → "registry:5000/kubevirt/a".
 */
export function repositoryOf(image: string): string {
  const { domain, path } = split(image);
  return [domain, ...path].filter((c) => c !== undefined).join('/');
}

/** The digest a reference pins ("sha256:…"), if any. */
export function referenceDigest(image: string): string | undefined {
  return split(image).digest;
}

/** Linux PATH_MAX includes the NUL; NAME_MAX per component. */
const PATH_MAX = 4095;
const COMPONENT_MAX = 255;

/** Why `path` (containerDisk.path) is not a plain absolute path to a file in the image; undefined when fine. */
export function diskPathProblem(path: string): string | undefined {
  if (path === '') return 'must not be empty';
  if (/[\u0000-\u001f\u007f-\u009f]/u.test(path)) return 'must not contain NUL or control characters';
  if (!path.startsWith('/')) return 'must be absolute (start with "/")';
  if (path.length > PATH_MAX) return `must be at most ${PATH_MAX} characters`;
  if (path === '/' || path.endsWith('/')) return 'must name a file, not a directory (no trailing "/")';
  const components = path.slice(1).split('/');
  if (components.some((c) => c === '.' || c === '..')) return 'must not contain "." or ".." components';
  if (posix.normalize(path) !== path) return 'must be normalized (no "//")';
  if (components.some((c) => c.length > COMPONENT_MAX))
    return `each component must be at most ${COMPONENT_MAX} characters`;
  return undefined;
}
