// The Table form of get and list answers, which `kubectl get` asks for with
// Accept: application/json;as=Table;v=v1;g=meta.k8s.io. The server, not
// kubectl, decides the columns: a CRD's additionalPrinterColumns after NAME,
// or a built-in type's printer (pkg/printers/internalversion/printers.go).
// Columns with priority 1 are the extra ones of `-o wide`.
// https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables
import { isBuiltin, type PrinterColumn, type ResourceDef } from './resources.ts';
import { badRequest } from './status.ts';
import type { Obj } from './util.ts';
import { humanAge, jsonPathValue } from './printing.ts';

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}
type Cell = string | number | boolean | null;
type Printer = { columns: Column[]; cells(o: Obj): Cell[] };

const col = (name: string, description: string, priority = 0, type = 'string'): Column => ({
  name,
  type,
  format: name === 'Name' ? 'name' : '',
  description,
  priority,
});
const NAME = col(
  'Name',
  'Name must be unique within a namespace. More info: ' +
    'https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
);
const AGE = col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.');
const age = (o: Obj): string => humanAge(o.metadata?.creationTimestamp);
const none = (v: unknown): string => (v === undefined || v === null || v === '' ? '<none>' : String(v));

/** Media types of an Accept header, each with its parameters, in the order given. */
function mediaTypes(accept: string): Array<{ type: string; params: Map<string, string> }> {
  return accept.split(',').map((part) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim());
    return {
      type: type.toLowerCase(),
      params: new Map(params.map((p) => p.split('=').map((s) => s.trim()) as [string, string])),
    };
  });
}

/**
 * The Table version the client asked for, or undefined for a plain object. The
 * first acceptable entry wins, as content negotiation takes the client's order.
 */
export function tableVersion(accept: string): 'v1' | 'v1beta1' | undefined {
  for (const m of mediaTypes(accept)) {
    if (m.type !== 'application/json' && m.type !== '*/*' && m.type !== 'application/*') continue;
    if (!m.params.has('as')) return undefined;
    const v = m.params.get('v');
    if (m.params.get('as') === 'Table' && m.params.get('g') === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1'))
      return v;
  }
  return undefined;
}

/** Pod phase as kubectl prints it: a container's waiting or terminated reason wins, Terminating while deleted. */
function podStatus(p: Obj): string {
  let reason: string = p.status?.reason ?? p.status?.phase ?? 'Unknown';
  for (const c of p.status?.containerStatuses ?? []) {
    const why = c.state?.waiting?.reason ?? c.state?.terminated?.reason;
    if (why) reason = why;
  }
  if (p.metadata?.deletionTimestamp) reason = p.status?.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason;
}

const POD: Printer = {
  columns: [
    NAME,
    col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'The aggregate status of the containers in this pod.'),
    col(
      'Restarts',
      'The number of times the containers in this pod have been restarted and when the last container in this pod ' +
        'has restarted.',
    ),
    AGE,
    col('IP', 'IP address allocated to the pod.', 1),
    col('Node', 'Name of the Node where the Pod is placed.', 1),
    col('Nominated Node', 'Name of the Node where the Pod is nominated to run on.', 1),
    col('Readiness Gates', 'Pod readiness gates.', 1),
  ],
  cells: (p) => {
    const statuses: Obj[] = p.status?.containerStatuses ?? [];
    const ready = statuses.filter((c) => c.ready === true).length;
    const restarts = statuses.reduce((n, c) => n + (Number(c.restartCount) || 0), 0);
    const gates: Obj[] = p.spec?.readinessGates ?? [];
    const gatesTrue = gates.filter((g) =>
      (p.status?.conditions ?? []).some((c: Obj) => c.type === g.conditionType && c.status === 'True'),
    ).length;
    return [
      p.metadata.name,
      `${ready}/${(p.spec?.containers ?? []).length}`,
      podStatus(p),
      String(restarts),
      age(p),
      none(p.status?.podIP),
      none(p.spec?.nodeName),
      none(p.status?.nominatedNodeName),
      gates.length ? `${gatesTrue}/${gates.length}` : '<none>',
    ];
  },
};

/** Ready, NotReady or Unknown from the Ready condition, then SchedulingDisabled for a cordoned node. */
function nodeStatus(n: Obj): string {
  const ready = (n.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready');
  const parts = [
    ready === undefined
      ? 'Unknown'
      : ready.status === 'True'
        ? 'Ready'
        : ready.status === 'False'
          ? 'NotReady'
          : 'Unknown',
  ];
  if (n.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

const nodeRoles = (n: Obj): string => {
  const labels: Record<string, string> = n.metadata?.labels ?? {};
  const roles = Object.keys(labels)
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .filter(Boolean);
  if (labels['kubernetes.io/role']) roles.push(labels['kubernetes.io/role']);
  return roles.length ? [...new Set(roles)].sort().join(',') : '<none>';
};
const nodeAddress = (n: Obj, type: string) =>
  none((n.status?.addresses ?? []).find((a: Obj) => a.type === type)?.address);

const NODE: Printer = {
  columns: [
    NAME,
    col('Status', 'The status of the node'),
    col('Roles', 'The roles of the node'),
    AGE,
    col('Version', 'Kubelet Version reported by the node.'),
    col('Internal-IP', 'List of internal IPs in the node.', 1),
    col('External-IP', 'List of external IPs in the node.', 1),
    col('OS-Image', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
    col('Kernel-Version', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    col(
      'Container-Runtime',
      'Container Runtime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).',
      1,
    ),
  ],
  cells: (n) => {
    const info: Obj = n.status?.nodeInfo ?? {};
    return [
      n.metadata.name,
      nodeStatus(n),
      nodeRoles(n),
      age(n),
      info.kubeletVersion ?? '',
      nodeAddress(n, 'InternalIP'),
      nodeAddress(n, 'ExternalIP'),
      info.osImage || '<unknown>',
      info.kernelVersion || '<unknown>',
      info.containerRuntimeVersion || '<unknown>',
    ];
  },
};

const NAMESPACE: Printer = {
  columns: [NAME, col('Status', 'The status of the namespace'), AGE],
  cells: (o) => [o.metadata.name, o.status?.phase ?? '', age(o)],
};

const EVENT: Printer = {
  columns: [
    col('Last Seen', 'Time when last event from this source was seen'),
    col('Type', 'Type of this event (Normal, Warning).'),
    col('Reason', 'Short, machine understandable string that gives the reason for this event being generated.'),
    col('Object', 'The object this event is about.'),
    col('Message', 'A human-readable description of the status of this operation.'),
  ],
  cells: (e) => [
    humanAge(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp),
    e.type ?? '',
    e.reason ?? '',
    `${String(e.involvedObject?.kind ?? '').toLowerCase()}/${e.involvedObject?.name ?? ''}`,
    String(e.message ?? '').trim(),
  ],
};

const BUILTIN: Record<string, Printer> = { pods: POD, nodes: NODE, namespaces: NAMESPACE, events: EVENT };

/**
 * A cell from a printer column (apiextensions' tableconvertor): nothing where
 * the path finds nothing, dates as ages, strings as JSONPath prints them.
 */
function crdCell(c: PrinterColumn, o: Obj): Cell {
  const v = jsonPathValue(o, c.jsonPath);
  if (v === undefined || v === null) return null;
  switch (c.type) {
    case 'date':
      return typeof v === 'string' ? humanAge(v) : null;
    case 'integer':
      return Number.isInteger(v) ? (v as number) : null;
    case 'number':
      return typeof v === 'number' ? v : null;
    case 'boolean':
      return typeof v === 'boolean' ? v : null;
    default:
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}

function printerOf(def: ResourceDef): Printer {
  if (isBuiltin(def) && BUILTIN[def.plural]) return BUILTIN[def.plural]!;
  const extra = def.printerColumns ?? [AGE_COLUMN];
  return {
    columns: [
      NAME,
      ...extra.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? '',
        description: c.description ?? '',
        priority: c.priority ?? 0,
      })),
    ],
    cells: (o) => [o.metadata.name, ...extra.map((c) => crdCell(c, o))],
  };
}
const AGE_COLUMN: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: AGE.description,
};

/** What each row carries besides its cells (includeObject): None, Metadata (the default) or the whole Object. */
function rowObject(o: Obj, include: string, version: string): Obj | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: o.metadata };
}

/** A list (or one object, as a one-row table) in the Table form. */
export function toTable(def: ResourceDef, objects: Obj[], listMeta: Obj, query: URLSearchParams, version: string): Obj {
  const include = query.get('includeObject') ?? 'Metadata';
  if (!['None', 'Metadata', 'Object'].includes(include))
    throw badRequest(`includeObject: Unsupported value: "${include}": supported values: "Metadata", "None", "Object"`);
  const printer = printerOf(def);
  const rows = objects.map((o) => {
    const object = rowObject(o, include, version);
    return { cells: printer.cells(o), ...(object ? { object } : {}) };
  });
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: listMeta,
    columnDefinitions: printer.columns,
    rows,
  };
}
