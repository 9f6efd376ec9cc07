/**
 * The admission webhook against hostile callers: whatever an AdmissionReview
 * holds, the answer is a well-formed review that echoes the request's uid
 * (kube-apiserver rejects any other), or a 400 when there is no uid to echo.
 * A non-string metadata.name is a denial naming the field. The server caps
 * the body (413, unread), bounds the work per object, answers probes while
 * reviews run, and drops slow and surplus connections.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { DEFAULT_LIMITS, MAX_BODY, review, serveWebhook } from '../../../controller/control/webhook.ts';
import { BASE_VM, BASE_VMI, type Doc } from './validation-table.ts';

type Obj = Record<string, any>;

const HOSTILE_VALUES: unknown[] = [
  null,
  0,
  -1,
  1e308,
  3.5,
  true,
  false,
  '',
  ' ',
  'x'.repeat(70_000),
  '\u0000',
  '\u2028',
  [],
  [null],
  [[[]]],
  {},
  { toString: 1 },
  { valueOf: {} },
  JSON.parse('{"__proto__": {"polluted": true}}'),
  { constructor: { prototype: 1 } },
];

/** Every path of a document, objects and lists included. */
function paths(doc: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof doc !== 'object' || doc === null) return [at];
  const entries: Array<[string | number, unknown]> = Array.isArray(doc)
    ? doc.map((v, i) => [i, v])
    : Object.entries(doc);
  return [at, ...entries.flatMap(([k, v]) => paths(v, [...at, k]))];
}

function replaced(doc: Doc, path: Array<string | number>, value: unknown): Doc {
  if (!path.length) return value;
  const copy = structuredClone(doc);
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k];
  node[path.at(-1)!] = value;
  return copy;
}

const envelope = (request: unknown) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
const create = (object: unknown, uid = 'uid-1') => envelope({ uid, operation: 'CREATE', object });

/**
 * AdmissionReviews that reach review() with a usable uid: every field of both kinds replaced by every hostile value.
 */
function hostileReviews(): Array<{ what: string; body: Obj }> {
  const out: Array<{ what: string; body: Obj }> = [];
  for (const base of [BASE_VMI, BASE_VM]) {
    for (const p of paths(base)) {
      for (const [i, v] of HOSTILE_VALUES.entries())
        out.push({
          what: `${base.kind} ${p.join('.') || '(root)'} = hostile[${i}]`,
          body: create(replaced(base, p, v)),
        });
    }
  }
  const request = { uid: 'uid-1', operation: 'CREATE', object: BASE_VMI };
  for (const field of ['operation', 'object', 'oldObject', 'kind', 'namespace', 'userInfo', 'dryRun']) {
    for (const [i, v] of HOSTILE_VALUES.entries())
      out.push({ what: `request.${field} = hostile[${i}]`, body: envelope({ ...request, [field]: v }) });
  }
  for (const [i, v] of HOSTILE_VALUES.entries())
    out.push({
      what: `UPDATE with oldObject.spec = hostile[${i}]`,
      body: envelope({ ...request, operation: 'UPDATE', oldObject: { ...BASE_VMI, spec: v } }),
    });
  return out;
}

function assertWellFormed(res: Obj, uid: string, what: string): void {
  assert.equal(res.apiVersion, 'admission.k8s.io/v1', what);
  assert.equal(res.kind, 'AdmissionReview', what);
  assert.equal(res.response?.uid, uid, `${what}: the response must echo the request's uid`);
  assert.equal(typeof res.response.allowed, 'boolean', what);
  if (!res.response.allowed) {
    assert.equal(typeof res.response.status?.message, 'string', what);
    assert.ok(res.response.status!.message.length > 0, what);
    assert.ok(Number.isInteger(res.response.status!.code), what);
  }
  // What the apiserver decodes must survive a JSON round trip unchanged (no undefined, no functions).
  assert.deepEqual(JSON.parse(JSON.stringify(res)), res, what);
}

test('a metadata.name that is not a string is denied, naming metadata.name and the rule (not a 400, not a throw)', () => {
  for (const name of [5, {}, [], true, { toString: 1 }, { valueOf: 1, toString: 2 }]) {
    const res = review(create({ ...BASE_VMI, metadata: { ...BASE_VMI.metadata, name } }));
    assertWellFormed(res, 'uid-1', JSON.stringify(name));
    assert.equal(res.response.allowed, false);
    const causes = res.response.status!.details!.causes as Array<{ field: string; message: string }>;
    assert.ok(
      causes.some((c) => c.field === 'metadata.name' && /must be a string/u.test(c.message)),
      `${JSON.stringify(name)}: ${res.response.status!.message}`,
    );
    assert.doesNotMatch(res.response.status!.message, /\[object Object\]/u);
  }
});

test(`fuzz: ${hostileReviews().length} hostile AdmissionReviews each get a well-formed review echoing their uid`, () => {
  for (const { what, body } of hostileReviews()) {
    let res: Obj;
    try {
      res = review(JSON.parse(JSON.stringify(body)));
    } catch (err) {
      assert.fail(`${what}: review() threw ${(err as Error).message}`);
    }
    assertWellFormed(res, 'uid-1', what);
  }
});

test('nesting and sizes past the bounds are denials naming where, decided without walking the whole object', () => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const nested = review(create({ ...BASE_VMI, spec: { ...BASE_VMI.spec, extra: deep } }));
  assertWellFormed(nested, 'uid-1', 'deep');
  assert.match(
    nested.response.status!.message,
    /spec\.extra(\[0\])+: must not nest lists and objects deeper than 32 levels/u,
  );
  const wide = structuredClone(BASE_VMI);
  wide.spec.domain.devices.interfaces = Array.from({ length: 5000 }, (_, i) => ({ name: `n${i}`, bridge: {} }));
  const t = performance.now();
  const res = review(create(wide)).response;
  assert.ok(performance.now() - t < 100, 'refused before validation');
  assert.equal(res.allowed, false);
  assert.deepEqual(
    res.status!.details!.causes.map((c: Obj) => c.field),
    ['spec.domain.devices.interfaces'],
  );
  assert.match(res.status!.message, /at most 1024 items, not 5000/u);
});

// ------------------------------------------------------------------ over HTTP

let server: Server;
let port: number;
before(async () => {
  server = await serveWebhook(0, undefined, '127.0.0.1');
  port = (server.address() as AddressInfo).port;
});
after(
  () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
);

interface Answer {
  status: number;
  text: string;
  ms: number;
}

/** One request on its own connection; `body` may be chunks written with a pause between them. */
function send(
  path: string,
  body?: string | Buffer[],
  o: { method?: string; headers?: Obj; pauseMs?: number; to?: number } = {},
): Promise<Answer> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: o.to ?? port,
        path,
        method: o.method ?? (body ? 'POST' : 'GET'),
        headers: o.headers,
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, text, ms: performance.now() - t }));
      },
    );
    req.on('error', reject);
    if (typeof body === 'string') req.end(body);
    else if (body) {
      void (async () => {
        for (const chunk of body) {
          if (req.destroyed) return;
          req.write(chunk);
          await new Promise((r) => setTimeout(r, o.pauseMs ?? 0));
        }
        req.end();
      })();
    } else req.end();
  });
}

test('over HTTP: hostile envelopes are a review when they carry a uid, a 400 only when they do not', async () => {
  const noUid = [
    '{',
    'null',
    '[]',
    '5',
    '"x"',
    '{}',
    '{"request": 5}',
    '{"request": []}',
    '{"request": {}}',
    '{"request": {"uid": 5}}',
    '{"request": {"uid": ""}}',
    '{"request": {"uid": {"a": 1}}}',
    '{"request": {"uid": ["u"]}}',
  ];
  for (const text of noUid) assert.equal((await send('/validate', text)).status, 400, text);
  const deep = `{"request": {"uid": "deep", "operation": "CREATE", "object": ${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;
  for (const [text, uid] of [
    [JSON.stringify(create({ metadata: { name: { toString: 1 } } }, 'u-7')), 'u-7'],
    [deep, 'deep'],
  ] as const) {
    const a = await send('/validate', text);
    assert.equal(a.status, 200, a.text);
    assertWellFormed(JSON.parse(a.text), uid, text.slice(0, 60));
  }
  assert.equal((await send('/healthz')).status, 200, 'still serving');
});

/** Writes raw HTTP on one socket and collects whatever comes back until the server closes it. */
function raw(head: string, body: Buffer[]): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('error', () => undefined); // EPIPE / ECONNRESET once the server stops reading: expected
    s.on('close', () => resolve(text));
    s.write(head);
    void (async () => {
      for (const chunk of body) {
        if (s.destroyed) return;
        s.write(chunk);
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
  });
}

test('over HTTP: a body over 3 MiB is refused with 413, declared or streamed, unread, and the server lives on', async () => {
  const declared = await raw(`POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`, [
    Buffer.alloc(16),
  ]);
  assert.match(declared, /^HTTP\/1\.1 413 /u);
  assert.match(declared, /connection: close/iu);
  // Chunked, 4 MiB in 64 KiB chunks, never ending: the server answers and closes once past 3 MiB.
  const chunk = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(0x10000, 0x20), Buffer.from('\r\n')]);
  const streamed = await raw(
    'POST /validate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
    Array.from({ length: 64 }, () => chunk),
  );
  assert.match(streamed, /^HTTP\/1\.1 413 /u);
  const ok = await send('/validate', JSON.stringify(create(BASE_VMI)));
  assert.equal(JSON.parse(ok.text).response.allowed, true);
});

test('over HTTP: three 2.5 MiB reviews in parallel are answered, and /healthz answers within 200 ms meanwhile', async () => {
  const big = structuredClone(BASE_VMI);
  // The review's report: 32k interfaces, 2.5 MiB.
  big.spec.domain.devices.interfaces = Array.from({ length: 32_768 }, (_, i) => ({
    name: `nic-${String(i).padStart(6, '0')}`,
    bridge: {},
    model: 'virtio',
    macAddress: '02:00:00:00:00:05',
  }));
  const text = JSON.stringify(create(big));
  assert.ok(text.length > 2.4 * 1024 * 1024 && text.length < MAX_BODY, `${text.length} bytes`);
  const reviews = Promise.all([0, 1, 2].map(() => send('/validate', text)));
  let done = false;
  void reviews.finally(() => (done = true));
  const probes: number[] = [];
  while (!done) probes.push((await send('/healthz')).ms);
  for (const a of await reviews) {
    assert.equal(a.status, 200);
    const res = JSON.parse(a.text).response;
    assert.equal(res.allowed, false);
    assert.match(res.status!.message, /spec\.domain\.devices\.interfaces: must be a list of at most 1024 items/u);
    assert.ok(a.ms < 2000, `a review took ${a.ms.toFixed(0)} ms`);
  }
  assert.ok(probes.length > 0);
  assert.ok(
    Math.max(...probes) < 200,
    `/healthz took up to ${Math.max(...probes).toFixed(0)} ms (${probes.length} probes)`,
  );
});

test('over HTTP: timeouts and the connection cap are set, and a stalled client is cut off', async () => {
  assert.equal(server.headersTimeout, DEFAULT_LIMITS.headersTimeoutMs);
  assert.equal(server.requestTimeout, DEFAULT_LIMITS.requestTimeoutMs);
  assert.equal(server.maxConnections, DEFAULT_LIMITS.maxConnections);
  const strict = await serveWebhook(0, undefined, '127.0.0.1', {
    requestTimeoutMs: 600,
    headersTimeoutMs: 300,
    validationDeadlineMs: 0,
    maxConnections: 2,
  });
  const strictPort = (strict.address() as AddressInfo).port;
  const sockets: Socket[] = [];
  try {
    // Headers never finished: the server closes the socket (slowloris).
    const stalled = connect(strictPort, '127.0.0.1');
    sockets.push(stalled);
    stalled.resume(); // read what the server sends (its 408), or the close is never seen
    stalled.write('POST /validate HTTP/1.1\r\nHost: x\r\n');
    const t = performance.now();
    await new Promise<void>((r) => stalled.on('close', () => r()));
    assert.ok(performance.now() - t < 3000, `cut off after ${(performance.now() - t).toFixed(0)} ms`);
    // Two connections held open; a third is closed at once.
    for (let i = 0; i < 2; i++) {
      const s = connect(strictPort, '127.0.0.1');
      sockets.push(s);
      await new Promise((r) => s.on('connect', r));
    }
    await new Promise((r) => setTimeout(r, 50));
    const third = await send('/healthz', undefined, { to: strictPort }).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    assert.notEqual(third, 'answered', 'a connection past maxConnections is refused');
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    // A review that waited past the validation deadline (here 0 ms: the body comes in two parts) is answered, not done.
    const late = await send(
      '/validate',
      [
        Buffer.from(JSON.stringify(create(BASE_VMI)).slice(0, 10)),
        Buffer.from(JSON.stringify(create(BASE_VMI)).slice(10)),
      ],
      { pauseMs: 30, to: strictPort },
    );
    const res = JSON.parse(late.text).response;
    assert.deepEqual([res.uid, res.allowed, res.status!.code, res.status!.reason], ['uid-1', false, 504, 'Timeout']);
  } finally {
    for (const s of sockets) s.destroy();
    strict.closeAllConnections();
    await new Promise((r) => strict.close(r));
  }
});
