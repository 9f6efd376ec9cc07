/** `kubectl virtnet describe` and `topology`: one VMI read from the cluster, drawn by the standalone CLI's views. */
import { writeFileSync } from 'node:fs';
import { describeVmi, type EventView } from '../view/describe.ts';
import { render } from '../view/table.ts';
import { topologySvg, topologyText } from '../view/topology.ts';
import { type PluginClient, ServerError, type StoredVmi } from '../kube/plugin-api.ts';
import { errorLine } from './error-line.ts';
import type { Output } from './io.ts';
import type { ObjectFormat } from './program.ts';

function getVmi(client: PluginClient, namespace: string, name: string): Promise<StoredVmi> {
  return client.get('virtualmachineinstances', namespace, name);
}

/** The VMI's Events, as kubectl describe shows them; one that cannot be listed (RBAC) is a note, not a failure. */
async function eventsOf(client: PluginClient, vmi: StoredVmi, o: Output): Promise<EventView[] | undefined> {
  const { name, namespace, uid } = vmi.metadata;
  try {
    return await client.eventsAbout({ kind: vmi.kind, name, namespace, ...(uid && { uid }) });
  } catch (err) {
    if (!(err instanceof ServerError)) throw err;
    o.err(`note: events not listed (${errorLine(err)})`);
    return undefined;
  }
}

export async function describe(
  client: PluginClient,
  namespace: string,
  name: string,
  format: ObjectFormat | undefined,
  o: Output,
): Promise<number> {
  const vmi = await getVmi(client, namespace, name);
  if (format) o.out(render(vmi, format));
  else o.out(describeVmi(vmi, new Date(), await eventsOf(client, vmi, o)).trimEnd());
  return 0;
}

export async function topology(
  client: PluginClient,
  namespace: string,
  name: string,
  svg: string | undefined,
  o: Output,
): Promise<number> {
  const vmi = await getVmi(client, namespace, name);
  o.out(topologyText(vmi).trimEnd());
  if (svg) {
    writeFileSync(svg, topologySvg(vmi));
    o.out(`wrote ${svg}`);
  }
  return 0;
}
