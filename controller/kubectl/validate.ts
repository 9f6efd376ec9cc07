/**
 * `kubectl virtnet validate`: the standalone CLI's offline check of
 * manifests, with NAD references looked up on the cluster when one answers.
 */
import {
  formatProblems,
  type Manifest,
  type Problem,
  type ValidationContext,
  validateManifests,
} from '../api/manifests.ts';
import { objectKey, parseObjectKey } from '../api/object-key.ts';
import { listObject, render } from '../view/table.ts';
import { inNamespace } from '../view/namespace.ts';
import { readManifestFiles } from '../view/sources.ts';
import { ConfigError, ConnectError, type PluginClient, ServerError } from '../kube/plugin-api.ts';
import { errorLine } from './error-line.ts';
import type { Output } from './io.ts';
import type { ObjectFormat } from './program.ts';

/** A cluster that does not answer must not hold up an offline check for long. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    const fail = () => reject(new ConnectError(`Unable to connect to the server: no answer in ${ms / 1000} s`));
    timer = setTimeout(fail, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The "namespace/name" of every NAD the batch names, found by a first pass that records what the rules ask. */
function namedNads(manifests: Manifest[]): string[] {
  const asked = new Set<string>();
  const record = (namespace: string, name: string) => {
    asked.add(objectKey({ namespace, name }));
    return true;
  };
  validateManifests(manifests, { nadExists: record });
  return [...asked];
}

/** Whether each NAD exists; undefined (a note said why) when no cluster answers. */
async function lookUpNads(client: PluginClient, keys: string[], o: Output): Promise<Map<string, boolean> | undefined> {
  const found = new Map<string, boolean>();
  const results = await Promise.allSettled(
    keys.map(async (key) => {
      const { namespace, name } = parseObjectKey(key, 'default');
      await within(client.get('network-attachment-definitions', namespace, name), 5000);
      found.set(key, true);
    }),
  );
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [{ key: keys[i]!, err: r.reason }] : []));
  const unreachable = failures.find((f) => !(f.err instanceof ServerError));
  if (unreachable) {
    o.err(
      `note: NetworkAttachmentDefinition references not checked (no cluster answers: ${errorLine(unreachable.err)})`,
    );
    return undefined;
  }
  for (const { key, err } of failures) {
    // 404 is an answer: the NAD is missing. Anything else (403, say) leaves that one unchecked.
    if ((err as ServerError).code === 404) found.set(key, false);
    else o.err(`note: NetworkAttachmentDefinition ${key} not checked (${errorLine(err)})`);
  }
  return found;
}

/** The NAD lookups for the rules; undefined, with a note, when there is no cluster to ask (the rules then skip it). */
async function clusterNads(
  manifests: Manifest[],
  client: PluginClient | ConfigError,
  o: Output,
): Promise<ValidationContext | undefined> {
  const keys = namedNads(manifests);
  if (!keys.length) return undefined;
  if (client instanceof ConfigError) {
    o.err(`note: NetworkAttachmentDefinition references not checked (${client.message})`);
    return undefined;
  }
  const found = await lookUpNads(client, keys, o);
  return found && { nadExists: (namespace, name) => found.get(objectKey({ namespace, name })) ?? true };
}

/** Every problem of the files, or what they hold; exit 1 when there is a problem. */
export async function validate(
  files: string[],
  format: ObjectFormat | undefined,
  where: { namespace: string; fromFlag: boolean },
  client: PluginClient | ConfigError,
  o: Output,
): Promise<number> {
  const read = readManifestFiles(files);
  // As kubectl apply: -n refuses an object of another namespace; the context's namespace only fills in.
  const placed = inNamespace(read.manifests, where.namespace, where.fromFlag);
  const manifests = placed.manifests;
  const result = validateManifests(manifests, await clusterNads(manifests, client, o));
  const problems: Problem[] = [...read.problems, ...placed.problems, ...result.problems];
  const objects = result.objects.map((x) => x.object);
  if (format) {
    const valid = objects.length === 1 ? objects[0] : listObject(objects);
    o.out(render(problems.length ? { valid: false, problems } : valid, format));
  } else if (problems.length) o.err(formatProblems(problems));
  else o.out(`valid: ${result.objects.map((x) => `${x.kind}/${x.object.metadata.name}`).join(', ')}`);
  return problems.length ? 1 : 0;
}
