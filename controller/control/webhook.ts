/**
 * The validating admission webhook: AdmissionReview v1 in, AdmissionReview
 * v1 out (k8s.io/api/admission/v1), judged by the same validation as
 * `virtnet validate`. A denial lists every problem as a cause with its field
 * path, the shape kube-apiserver itself uses for 422 Invalid. NAD existence
 * is not checked here: a NAD may legitimately come after its VMI, and the
 * controller reports a missing one as a condition. What standalone reads
 * from its one node comes here from the cluster (ClusterFacts): every node's
 * pod subnets and the service CIDRs, which a masquerade VM subnet must not
 * overlap (node-subnets.ts).
 *
 * Whoever may create a VMI decides what this server parses, so every cost is
 * bounded: the body (413 past MAX_BODY, unread), the shape of what is
 * validated (json-bounds.ts), the time a request may take (server timeouts,
 * and a deadline past which a queued review is answered without being
 * done), and the connections held open. Validation is synchronous, so the
 * handler yields to the event loop between parsing and judging: /healthz and
 * the controller's own probes answer between two reviews.
 */
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { readFileSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { clashMessage, liveChange } from '../api/live-update.ts';
import { validateManifests, type ValidationContext } from '../api/manifests.ts';
import type { VmiSpec } from '../api/schema.ts';
import { boundServer, SERVER_OPTIONS, type ServerLimits } from './http-limits.ts';
import { checkJsonBounds, type JsonBounds } from './json-bounds.ts';
import { isObj } from '../../lib/json.ts';

type Obj = Record<string, unknown>;

/** metav1.StatusDetails as the apiserver shows a denial: one cause per problem. */
interface FailureDetails {
  name: string;
  kind: string;
  causes: Array<{ reason: string; field: string; message: string }>;
}

/** The AdmissionReview this webhook answers (admission.k8s.io/v1). */
export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    status?: { status: 'Failure'; code: number; reason: string; message: string; details?: FailureDetails };
  };
}
type Problem = { path: string; rule: string };

/**
 * kube-apiserver's own request body limit is 3 MiB (MaxRequestBodyBytes),
 * and an AdmissionReview carries the object (twice on UPDATE): more is not
 * something the apiserver sends.
 */
export const MAX_BODY = 3 * 1024 * 1024;

/**
 * What one object may hold before validation starts. The largest VMI or VM
 * of examples/ and of KubeVirt's documentation holds under 100 values;
 * 5000 values keep a review under ~50 ms (about 7 µs per value measured).
 */
export const OBJECT_BOUNDS: JsonBounds = { maxDepth: 32, maxListItems: 1024, maxValues: 5000 };

export interface WebhookLimits extends ServerLimits {
  /**
   * A review that has not started by then is answered without validation: the apiserver gives up at timeoutSeconds (10
   * s).
   */
  validationDeadlineMs: number;
}

export const DEFAULT_LIMITS: WebhookLimits = {
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  validationDeadlineMs: 8_000,
  maxConnections: 64,
};

/**
 * The cluster's facts a review is judged with, read at each review (so a
 * node added a moment ago counts); undefined while they are not known (the
 * node list not yet read): judging without them would admit what they forbid.
 */
export type ClusterFacts = () => Pick<ValidationContext, 'reservedCidrs'> | undefined;

/** No facts beyond the object itself: the rules of `virtnet validate` without a node. */
export const NO_FACTS: ClusterFacts = () => ({});

const REVIEW = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' } as const;

function failure(
  uid: string,
  code: number,
  reason: string,
  message: string,
  details?: FailureDetails,
): AdmissionReview {
  return {
    ...REVIEW,
    response: {
      uid,
      allowed: false,
      status: { status: 'Failure', code, reason, message, ...(details && { details }) },
    },
  };
}

/**
 * Problems as the apiserver decodes them (strings): a validator that ever
 * returned something else (a rule looked up by a hostile key such as
 * "toString") must not put a function or an object into the answer.
 */
function asText(problems: Problem[]): Problem[] {
  return problems.map((p) => ({
    path: typeof p.path === 'string' ? p.path : '(unknown path)',
    rule: typeof p.rule === 'string' ? p.rule : 'is not allowed here',
  }));
}

function deny(uid: string, kind: string, name: string, found: Problem[]): AdmissionReview {
  const problems = asText(found);
  const message = `${kind} "${name}" is invalid: ${problems.map((p) => `${p.path}: ${p.rule}`).join('; ')}`;
  return failure(uid, 422, 'Invalid', message, {
    name,
    kind,
    causes: problems.map((p) => ({ reason: 'FieldValueInvalid', field: p.path, message: p.rule })),
  });
}

/** A request's uid, which the response must echo (the apiserver rejects a response whose uid differs). */
function usableUid(review: unknown): string | undefined {
  const uid = isObj(review) && isObj(review.request) ? review.request.uid : undefined;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}

/** kind and name for messages: only strings are shown (a hostile name may be an object whose toString throws). */
function identity(req: Obj, object: Obj): { kind: string; name: string } {
  const kind =
    typeof object.kind === 'string'
      ? object.kind
      : isObj(req.kind) && typeof req.kind.kind === 'string'
        ? req.kind.kind
        : 'object';
  const name = isObj(object.metadata) && typeof object.metadata.name === 'string' ? object.metadata.name : '';
  return { kind, name };
}

function boundsProblems(req: Obj, object: Obj): Problem[] {
  const problems = [
    checkJsonBounds(object, OBJECT_BOUNDS),
    isObj(req.oldObject) ? checkJsonBounds(req.oldObject, OBJECT_BOUNDS, 'oldObject') : undefined,
  ];
  return problems.filter((p): p is Problem => p !== undefined);
}

/**
 * The verdict on one AdmissionReview whose request has a usable uid (see
 * usableUid; without one there is nothing to answer to). An UPDATE that
 * leaves spec alone (labels, finalizers, the garbage collector orphaning) is
 * allowed even for an object admitted under older rules. A VMI's spec may
 * change only where its running VM can follow (interface hotplug, unplug and
 * link state, as in KubeVirt): such a change is then validated like a new
 * object; any other is denied, naming the first field that cannot change.
 * Never throws: whatever the request holds, the answer is a review.
 */
export function review(request: Obj, facts: ClusterFacts = NO_FACTS): AdmissionReview {
  const req: Obj = isObj(request.request) ? request.request : {};
  const uid = typeof req.uid === 'string' ? req.uid : '';
  if (req.operation === 'DELETE' || req.operation === 'CONNECT') return { ...REVIEW, response: { uid, allowed: true } };
  const object: Obj = isObj(req.object) ? { ...req.object } : {};
  delete object.status;
  const { kind, name } = identity(req, object);
  const tooBig = boundsProblems(req, object);
  if (tooBig.length) return deny(uid, kind, name, tooBig);
  try {
    return judge(uid, req, object, kind, name, facts);
  } catch (err) {
    // A validation bug must not turn into a 400 (which the apiserver reports as a webhook failure without the reason).
    return failure(
      uid,
      500,
      'InternalError',
      `${kind} "${name}" could not be validated: ${(err as Error)?.message ?? String(err)}`,
    );
  }
}

/**
 * Why a VMI's spec change cannot reach its running VM, or undefined when it
 * can: interfaces added, unplugged (state: absent) or set up or down are
 * applied live, as KubeVirt's interface hotplug does; anything else would
 * leave the pod behind its spec. The new spec is validated after this.
 */
function specClash(before: unknown, after: unknown): Problem | undefined {
  const hint = '; change its VirtualMachine, or delete and recreate the VirtualMachineInstance';
  if (!isObj(before) || !isObj(after)) return { path: 'spec', rule: `${clashMessage(['spec'])}${hint}` };
  // liveChange is total: unvalidated JSON gets an answer, and validation then says what is wrong with it.
  const change = liveChange(before as VmiSpec, after as VmiSpec);
  if (change.kind !== 'clash') return undefined;
  return { path: change.fields[0] ?? 'spec', rule: `${clashMessage(change.fields)}${hint}` };
}

function judge(uid: string, req: Obj, object: Obj, kind: string, name: string, facts: ClusterFacts): AdmissionReview {
  const allow: AdmissionReview = { ...REVIEW, response: { uid, allowed: true } };
  if (req.operation === 'UPDATE' && isObj(req.oldObject)) {
    if (isDeepStrictEqual(req.oldObject.spec, object.spec)) return allow;
    if (kind === 'VirtualMachineInstance') {
      const clash = specClash(req.oldObject.spec, object.spec);
      if (clash) return deny(uid, kind, name, [clash]);
    }
  }
  const known = facts();
  if (!known)
    return failure(
      uid,
      503,
      'ServiceUnavailable',
      `${kind} "${name}" was not validated: the webhook has not yet listed the cluster's nodes, whose pod subnets ` +
        `a masquerade VM subnet must not overlap; retry`,
    );
  const { problems } = validateManifests([{ source: 'request', object }], known);
  return problems.length ? deny(uid, kind, name, problems) : allow;
}

class BodyTooLarge extends Error {}

/** The body, refused as soon as it passes MAX_BODY (declared or streamed): nothing more is read. */
async function body(req: IncomingMessage): Promise<string> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY)
    throw new BodyTooLarge(`the body declares ${req.headers['content-length']} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new BodyTooLarge(`the body passes ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: ServerResponse, code: number, payload: string, type = 'text/plain'): void {
  if (res.headersSent) return;
  res.writeHead(code, { 'Content-Type': type }).end(payload);
}

/** One review: read, yield, parse, yield, judge. Answers 400 only when there is no request uid to answer to. */
async function validateRequest(
  req: IncomingMessage,
  res: ServerResponse,
  limits: WebhookLimits,
  facts: ClusterFacts,
): Promise<void> {
  const started = Date.now();
  let text: string;
  try {
    text = await body(req);
  } catch (err) {
    if (!(err instanceof BodyTooLarge)) throw err;
    // Close the connection rather than read on to find the next request (RFC 9110 §15.5.14).
    res.setHeader('Connection', 'close');
    return reply(res, 413, `an AdmissionReview is at most ${MAX_BODY} bytes: ${err.message}`);
  }
  await nextTurn();
  const parsed: unknown = JSON.parse(text);
  const uid = usableUid(parsed);
  if (!uid) return reply(res, 400, 'an AdmissionReview v1 with request.uid (a non-empty string) is required');
  await nextTurn();
  if (Date.now() - started > limits.validationDeadlineMs) {
    return reply(
      res,
      200,
      JSON.stringify(
        failure(
          uid,
          504,
          'Timeout',
          `not validated within ${limits.validationDeadlineMs} ms (the webhook is busy); retry`,
        ),
      ),
      'application/json',
    );
  }
  reply(res, 200, JSON.stringify(review(parsed as Obj, facts)), 'application/json');
}

/**
 * /healthz: the process serves; /readyz: it also knows the cluster's facts, so its reviews judge rather than ask to
 * retry.
 */
function probe(url: string | undefined, res: ServerResponse, facts: ClusterFacts): void {
  if (url === '/healthz') res.writeHead(200).end('ok');
  else if (url === '/readyz') {
    const ready = facts() !== undefined;
    res.writeHead(ready ? 200 : 503).end(ready ? 'ok' : "the cluster's nodes are not listed yet");
  } else res.writeHead(404).end('');
}

function handler(limits: WebhookLimits, facts: ClusterFacts) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'POST' || !req.url?.startsWith('/validate')) {
      probe(req.url, res, facts);
      return;
    }
    // Nothing a client sends may take the controller's process down with it.
    validateRequest(req, res, limits, facts).catch((err: Error) =>
      reply(res, 400, `an AdmissionReview v1 JSON body is required: ${err.message}`),
    );
  };
}

/**
 * HTTPS with the given certificate (the apiserver only calls webhooks over
 * TLS); plain HTTP without one (tests). `facts`: what the cluster adds to the
 * rules (main.ts feeds it from the node watch and --service-cidr).
 */
export function serveWebhook(
  port: number,
  tls?: { cert: string; key: string },
  host = '0.0.0.0',
  limits: WebhookLimits = DEFAULT_LIMITS,
  facts: ClusterFacts = NO_FACTS,
): Promise<Server> {
  const onRequest = handler(limits, facts);
  const server = boundServer(
    tls
      ? createHttps({ ...SERVER_OPTIONS, cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, onRequest)
      : createHttp(SERVER_OPTIONS, onRequest),
    limits,
  );
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
