// /openapi/v3: the index of group-versions and one OpenAPI 3.0 document for
// each, as kube-apiserver publishes them.
// https://kubernetes.io/docs/concepts/overview/kubernetes-api/#openapi-v3
//
// kubectl reads them for two things. Before create and apply it asks whether
// the PATCH operation of the object's kind takes the fieldValidation query
// parameter (resource.NewQueryParamVerifierV3); if so it sends
// fieldValidation=Strict and leaves validation to the server, which is what
// fieldcheck.ts does. And apply takes strategic merge patch for a kind only if
// its PATCH lists application/strategic-merge-patch+json, building the patch
// from the kind's schema under components.schemas when there is one, else
// from its own compiled-in Go types. Built-in kinds get no schema here, so
// kubectl uses its compiled-in types, which are the real ones; the CRDs
// publish their openAPIV3Schema, as the real server does.
// /openapi/v2 is not served: kubectl wants it as protobuf, and falls back to
// it only when v3 fails.
import { createHash } from 'node:crypto';
import { acceptedPatchTypes } from './patch.ts';
import { groupVersionPath, isBuiltin, type ResourceDef } from './resources.ts';
import { pathNotFound } from './status.ts';
import type { Obj } from './util.ts';

const gvk = (d: ResourceDef) => ({ group: d.group, version: d.version, kind: d.kind });
const query = (name: string, description: string) => ({
  name,
  in: 'query',
  description,
  schema: { type: 'string', uniqueItems: true },
});
const PATH_PARAM = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', uniqueItems: true },
});

const WRITE_PARAMS = [
  query('dryRun', 'When present, indicates that modifications should not be persisted.'),
  query('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
  query(
    'fieldValidation',
    'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate ' +
      'fields. Valid values are: Ignore, Warn, Strict.',
  ),
];

/** Where a kind's schema is, in the `io.k8s.api.core.v1.Pod` style of definition names (group reversed). */
const schemaName = (d: ResourceDef) => `${(d.group || 'core').split('.').reverse().join('.')}.${d.version}.${d.kind}`;
const ref = (d: ResourceDef) => (d.schema ? { $ref: `#/components/schemas/${schemaName(d)}` } : { type: 'object' });
const json = (schema: unknown) => ({ 'application/json': { schema }, 'application/yaml': { schema } });
const ok = (d: ResourceDef) => ({ 200: { description: 'OK', content: json(ref(d)) } });

function operations(d: ResourceDef, action: string, kindNote: string): Obj {
  return {
    description: `${action} ${kindNote}`,
    operationId: `${action}${d.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk(d),
    responses: ok(d),
  };
}

/** The item path (…/{name}) and the collection path of a resource, with the verbs the server serves. */
function resourcePaths(d: ResourceDef): Obj {
  const base = groupVersionPath(d) + (d.namespaced ? '/namespaces/{namespace}' : '') + `/${d.plural}`;
  const params = [
    ...(d.namespaced ? [PATH_PARAM('namespace')] : []),
    query('pretty', "If 'true', then the output is pretty printed."),
  ];
  const patchBody = Object.fromEntries(
    acceptedPatchTypes(isBuiltin(d)).map((t) => [t, { schema: { type: 'object' } }]),
  );
  const paths: Obj = {
    [base]: {
      parameters: params,
      get: { ...operations(d, 'list', `objects of kind ${d.kind}`), 'x-kubernetes-action': 'list' },
      post: {
        ...operations(d, 'post', `a ${d.kind}`),
        parameters: WRITE_PARAMS,
        requestBody: { content: json(ref(d)), required: true },
      },
      delete: operations(d, 'deletecollection', `collection of ${d.kind}`),
    },
    [`${base}/{name}`]: {
      parameters: [PATH_PARAM('name'), ...params],
      get: operations(d, 'get', `the specified ${d.kind}`),
      put: {
        ...operations(d, 'put', `the specified ${d.kind}`),
        parameters: WRITE_PARAMS,
        requestBody: { content: json(ref(d)), required: true },
      },
      patch: {
        ...operations(d, 'patch', `the specified ${d.kind}`),
        parameters: [...WRITE_PARAMS, query('force', 'Force is going to "force" Apply requests.')],
        requestBody: { content: patchBody, required: true },
      },
      delete: operations(d, 'delete', `a ${d.kind}`),
    },
  };
  if (d.statusSubresource) {
    paths[`${base}/{name}/status`] = {
      parameters: [PATH_PARAM('name'), ...params],
      get: operations(d, 'get', `status of the specified ${d.kind}`),
      put: { ...operations(d, 'put', `status of the specified ${d.kind}`), parameters: WRITE_PARAMS },
      patch: {
        ...operations(d, 'patch', `status of the specified ${d.kind}`),
        parameters: WRITE_PARAMS,
        requestBody: { content: patchBody, required: true },
      },
    };
  }
  return paths;
}

/** One group-version's document. */
function groupVersionDoc(defs: ResourceDef[]): Obj {
  const schemas = Object.fromEntries(
    defs
      .filter((d) => d.schema)
      .map((d) => [schemaName(d), { ...d.schema, 'x-kubernetes-group-version-kind': [gvk(d)] }]),
  );
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.31.0-virtnet-test' },
    paths: Object.assign({}, ...defs.map(resourcePaths)),
    components: { schemas },
  };
}

/** "api/v1" or "apis/virtnet.io/v1alpha1": the keys of the /openapi/v3 index. */
const docKey = (d: ResourceDef) => groupVersionPath(d).slice(1);

export interface OpenApiV3 {
  index: Obj;
  documents: Map<string, Obj>;
}

/** Every document, built once: the hash in each serverRelativeURL is what kubectl caches them by. */
export function buildOpenApiV3(resources: ResourceDef[]): OpenApiV3 {
  const byKey = new Map<string, ResourceDef[]>();
  for (const d of resources) byKey.set(docKey(d), [...(byKey.get(docKey(d)) ?? []), d]);
  const documents = new Map([...byKey].map(([key, defs]) => [key, groupVersionDoc(defs)]));
  const paths = Object.fromEntries(
    [...documents].map(([key, doc]) => {
      const hash = createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 128).toUpperCase();
      return [key, { serverRelativeURL: `/openapi/v3/${key}?hash=${hash}` }];
    }),
  );
  return { index: { paths }, documents };
}

/** The document for /openapi/v3 or /openapi/v3/<key>; 404 for a group-version the server lacks. */
export function openApiDocument(api: OpenApiV3, pathname: string): Obj {
  if (pathname === '/openapi/v3' || pathname === '/openapi/v3/') return api.index;
  const doc = api.documents.get(pathname.slice('/openapi/v3/'.length));
  if (!doc) throw pathNotFound();
  return doc;
}
