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
import { validateManifests } from '../api/manifests.ts';

type Obj = Record<string, any>;

export function review(request: Obj): Obj {
  const req = request.request ?? {};
  const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' };
  if (req.operation === 'DELETE' || req.operation === 'CONNECT') return { ...base, response: { uid: req.uid, allowed: true } };
  const object = { ...(req.object ?? {}) };
  delete object.status;
  const { problems } = validateManifests([{ source: 'request', object }]);
  if (!problems.length) return { ...base, response: { uid: req.uid, allowed: true } };
  const kind = object.kind ?? req.kind?.kind ?? 'object';
  return {
    ...base,
    response: {
      uid: req.uid, allowed: false,
      status: {
        status: 'Failure', code: 422, reason: 'Invalid',
        message: `${kind} "${object.metadata?.name ?? ''}" is invalid: ${problems.map((p) => `${p.path}: ${p.rule}`).join('; ')}`,
        details: { name: object.metadata?.name, kind, causes: problems.map((p) => ({ reason: 'FieldValueInvalid', field: p.path, message: p.rule })) },
      },
    },
  };
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function handler(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'POST' || !req.url?.startsWith('/validate')) {
    res.writeHead(req.url === '/healthz' ? 200 : 404).end(req.url === '/healthz' ? 'ok' : '');
    return;
  }
  void body(req).then((text) => {
    let parsed: Obj;
    try {
      parsed = JSON.parse(text) as Obj;
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('an AdmissionReview JSON body is required');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(review(parsed)));
  });
}

/** HTTPS with the given certificate (the apiserver only calls webhooks over TLS); plain HTTP without one (tests). */
export function serveWebhook(port: number, tls?: { cert: string; key: string }, host = '0.0.0.0'): Promise<Server> {
  const server = tls ? createHttps({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler) : createHttp(handler);
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
