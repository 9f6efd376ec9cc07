// Failures as the API server reports them: a meta/v1 Status with a machine
// readable `reason` and the HTTP `code`, built the way apimachinery's
// k8s.io/apimachinery/pkg/api/errors constructors word them, so that code that
// matches on reason or message behaves as against a real cluster.
// https://kubernetes.io/docs/reference/using-api/api-concepts/#responses
import { groupKind, groupResource, type ResourceDef } from './resources.ts';

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure';
  message: string;
  reason?: string; // omitted (empty) on a webhook's denial
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: Array<{ reason: string; message: string; field?: string }>;
  };
  code: number;
}

/** Thrown by request handlers; the HTTP layer answers with its Status. */
export class KubeError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }
}

export function statusOf(code: number, reason: string, message: string, details?: Status['details']): Status {
  // An empty reason is omitted, as Go's omitempty does.
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    ...(reason ? { reason } : {}),
    ...(details ? { details } : {}),
    code,
  };
}

const fail = (code: number, reason: string, message: string, details?: Status['details']) =>
  new KubeError(statusOf(code, reason, message, details));

// details.kind is the plural for these, as NewNotFound & co. take a GroupResource.
const resDetails = (def: ResourceDef, name: string) => ({
  name,
  ...(def.group ? { group: def.group } : {}),
  kind: def.plural,
});

export const notFound = (def: ResourceDef, name: string) =>
  fail(404, 'NotFound', `${groupResource(def)} "${name}" not found`, resDetails(def, name));

export const alreadyExists = (def: ResourceDef, name: string) =>
  fail(409, 'AlreadyExists', `${groupResource(def)} "${name}" already exists`, resDetails(def, name));

export const conflict = (
  def: ResourceDef,
  name: string,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
) =>
  fail(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${groupResource(def)} "${name}": ${why}`,
    resDetails(def, name),
  );

export const badRequest = (message: string) => fail(400, 'BadRequest', message);

/** 422: one field of the object is wrong (NewInvalid names the kind, not the resource). */
export const invalid = (def: ResourceDef, name: string, field: string, detail: string) =>
  fail(422, 'Invalid', `${groupKind(def)} "${name}" is invalid: ${field}: ${detail}`, {
    name,
    ...(def.group ? { group: def.group } : {}),
    kind: def.kind,
    causes: [{ reason: 'FieldValueInvalid', message: detail, field }],
  });

export const methodNotAllowed = () =>
  fail(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');

export const pathNotFound = () => fail(404, 'NotFound', 'the server could not find the requested resource', {});

export const unsupportedMediaType = (accepted: string[]) =>
  fail(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );

/** 410 for a watch or continue token older than the compacted history. */
export const expiredStatus = (message: string) => statusOf(410, 'Expired', message);
export const expired = (message: string) => new KubeError(expiredStatus(message));

/** What a failed json-patch `test` or a bad pointer gives (patch.go: 422 with the patch library's error). */
export const patchRejected = (detail: string) =>
  fail(422, 'Invalid', 'the server rejected our request due to an error in our request', {
    causes: [{ reason: 'UnexpectedServerResponse', message: detail }],
  });

/** A validating webhook's denial (webhook errors.ToStatusErr: code at least 400, message prefixed). */
export const admissionDenied = (message: string | undefined, code: number | undefined) =>
  new KubeError(
    statusOf(
      code !== undefined && code >= 400 ? code : 400,
      '',
      message
        ? `admission webhook denied the request: ${message}`
        : 'admission webhook denied the request without explanation',
    ),
  );
