/**
 * The validating admission webhook: AdmissionReview v1 in, AdmissionReview
 * v1 out (k8s.io/api/admission/v1), judged by the same validation as
 * `virtnet validate`. A denial lists every problem as a cause with its field
 * path, the shape kube-apiserver itself uses for 422 Invalid. NAD existence
 * is not checked here: a NAD may legitimately come after its VMI, and the
 * controller reports a missing one as a condition.
 */
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { validateManifests } from '../api/manifests.ts';

type Obj = Record<string, any>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function deny(uid: unknown, kind: string, name: string, problems: Array<{ path: string; rule: string }>): Obj {
  return {
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    response: {
      uid, allowed: false,
      status: {
        status: 'Failure', code: 422, reason: 'Invalid',
        message: `${kind} "${name}" is invalid: ${problems.map((p) => `${p.path}: ${p.rule}`).join('; ')}`,
        details: { name, kind, causes: problems.map((p) => ({ reason: 'FieldValueInvalid', field: p.path, message: p.rule })) },
      },
    },
  };
}

/**
 * The verdict on one AdmissionReview. An UPDATE that leaves spec alone
 * (labels, finalizers, the garbage collector orphaning) is allowed even for
 * an object admitted under older rules; a VMI's spec is immutable once
 * created, as in KubeVirt (its pod would never follow the change).
 */
export function review(request: Obj): Obj {
  const req: Obj = isObj(request.request) ? request.request : {};
  const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' };
  const allow = { ...base, response: { uid: req.uid, allowed: true } };
  if (req.operation === 'DELETE' || req.operation === 'CONNECT') return allow;
  const object: Obj = isObj(req.object) ? { ...req.object } : {};
  delete object.status;
  const kind = String(object.kind ?? req.kind?.kind ?? 'object');
  const name = String(object.metadata?.name ?? '');
  if (req.operation === 'UPDATE' && isObj(req.oldObject)) {
    if (isDeepStrictEqual(req.oldObject.spec, object.spec)) return allow;
    if (kind === 'VirtualMachineInstance') return deny(req.uid, kind, name, [{ path: 'spec', rule: 'a VirtualMachineInstance\'s spec cannot change once it is created; change its VirtualMachine, or delete and recreate it' }]);
  }
  const { problems } = validateManifests([{ source: 'request', object }]);
  if (!problems.length) return allow;
  return deny(req.uid, kind, name, problems);
}

/** The apiserver sends at most a few MiB; more is not an AdmissionReview. */
const MAX_BODY = 3 * 1024 * 1024;

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function handler(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'POST' || !req.url?.startsWith('/validate')) {
    res.writeHead(req.url === '/healthz' ? 200 : 404).end(req.url === '/healthz' ? 'ok' : '');
    return;
  }
  // Nothing a client sends may take the controller's process down with it.
  body(req).then((text) => {
    const parsed: unknown = JSON.parse(text);
    if (!isObj(parsed) || !isObj(parsed.request)) throw new Error('not an AdmissionReview');
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(review(parsed)));
  }).catch((err: Error) => {
    if (!res.headersSent) res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`an AdmissionReview v1 JSON body is required: ${err.message}`);
  });
}

/** HTTPS with the given certificate (the apiserver only calls webhooks over TLS); plain HTTP without one (tests). */
export function serveWebhook(port: number, tls?: { cert: string; key: string }, host = '0.0.0.0'): Promise<Server> {
  const server = tls ? createHttps({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler) : createHttp(handler);
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
