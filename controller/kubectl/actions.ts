/**
 * The plugin's commands bound to a cluster: each connects with kubectl's
 * options, resolves the namespace as kubectl does (-n, else the context's,
 * else "default") and turns a server, connection or kubeconfig failure into
 * kubectl's one line and exit 1.
 */
import { VERSION } from '../../lib/version.ts';
import { render } from '../view/table.ts';
import { ConfigError, ConnectError, PluginClient, ServerError } from '../kube/plugin-api.ts';
import { console_ } from './console.ts';
import { describe, topology } from './describe.ts';
import { get } from './get.ts';
import { errorLine } from './error-line.ts';
import type { Output } from './io.ts';
import type { GlobalFlags, PluginActions } from './program.ts';
import { resourceOf, TYPE_WORDS } from './resources.ts';
import { validate } from './validate.ts';

function connect(flags: GlobalFlags): PluginClient {
  return PluginClient.connect({ kubeconfig: flags.kubeconfig, context: flags.context });
}

function namespaceOf(flags: GlobalFlags, client: PluginClient | ConfigError): string {
  return flags.namespace ?? (client instanceof PluginClient ? client.contextNamespace : undefined) ?? 'default';
}

/** Runs `command` against the cluster; the failures kubectl reports in one line exit 1, others propagate. */
async function onCluster(
  flags: GlobalFlags,
  o: Output,
  command: (client: PluginClient, namespace: string) => Promise<number>,
): Promise<number> {
  try {
    const client = connect(flags);
    return await command(client, namespaceOf(flags, client));
  } catch (err) {
    if (!(err instanceof ServerError || err instanceof ConnectError || err instanceof ConfigError)) throw err;
    o.err(errorLine(err));
    return 1;
  }
}

/** An offline check may run without a kubeconfig: the client, or why there is none. */
function connectIfConfigured(flags: GlobalFlags): PluginClient | ConfigError {
  try {
    return connect(flags);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
}

export function pluginActions(o: Output): PluginActions {
  return {
    get: (type, names, flags) => {
      const r = resourceOf(type);
      if (!r) {
        const known = `${TYPE_WORDS.slice(0, -1).join(', ')} or ${TYPE_WORDS.at(-1)}`;
        o.err(`error: the server doesn't have a resource type "${type}" (use ${known})`);
        return Promise.resolve(1);
      }
      return onCluster(flags, o, (client, namespace) =>
        get(client, r, names, flags.allNamespaces ? undefined : namespace, flags.output, o),
      );
    },
    describe: (name, flags) => onCluster(flags, o, (c, ns) => describe(c, ns, name, flags.output, o)),
    topology: (name, flags) => onCluster(flags, o, (c, ns) => topology(c, ns, name, flags.svg, o)),
    console: (name, flags) => onCluster(flags, o, (c, ns) => console_(c, ns, name, o)),
    validate: (files, flags) => {
      const client = connectIfConfigured(flags);
      const where = { namespace: namespaceOf(flags, client), fromFlag: flags.namespace !== undefined };
      return validate(files, flags.output, where, client, o);
    },
    version: (flags) => {
      const version = { kubectlVirtnet: VERSION };
      o.out(flags.output ? render(version, flags.output) : `kubectl-virtnet ${VERSION}`);
      return Promise.resolve(0);
    },
  };
}
