import type { Command } from 'commander';
import type { ClusterView } from '../../contract/cluster-schemas.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

const list = (names: readonly string[]): string => (names.length === 0 ? '-' : names.join(', '));

/** `nubo cluster create|list|show|add-host|delete` (admin): clusters of hosts, the EC2 API's availability zones. */
export function registerClusterCommands(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('clusters of hosts (admin): each has its own networks and datastores and is an availability zone of the EC2 API')
    .addHelpText('after', `
Every host is in one cluster: \`default\` until an admin moves it. A VM is placed in
a cluster when it asks for one (\`nubo vm create --cluster\`, a template's --cluster, or
the requirement \`cluster == "name"\`), or when it uses a network bound to one
(\`nubo network create --cluster\`). Live migration chooses destinations within
the VM's cluster; a named destination in another cluster is refused while the VM
asks for its cluster or uses a network or datastore bound to it.

Example:
  nubo cluster create east --description "rack 2"
  nubo cluster add-host east h3
  nubo network create east-net --cidr 198.18.70.0/24 --cluster east
  nubo datastore create east-nfs --kind shared --path /srv/nfs/east --cluster east
  nubo vm create --template tiny --cluster east`);

  connectionOptions(apiCommand(cluster, 'list', 'list clusters with their hosts and bound networks and datastores')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const all = await (await connect(o)).listClusters({ signal });
      if (o.json) return printJson(all);
      printTable(['NAME', 'HOSTS', 'NETWORKS', 'DATASTORES', 'DESCRIPTION'], all.map((c) => [c.name, list(c.hosts), list(c.networks), list(c.datastores), c.description === '' ? '-' : c.description]));
    }),
  );

  connectionOptions(apiCommand(cluster, 'show <cluster>', 'show one cluster, by name or id')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const c = await (await connect(o)).getCluster(ref, { signal });
      if (o.json) return printJson(c);
      printCluster(c);
    }),
  );

  connectionOptions(apiCommand(cluster, 'create <name>', 'make a cluster (no hosts yet: `nubo cluster add-host`)'))
    .option('--description <text>', 'what the cluster is (shown by list and show)')
    .action(
      runCliAction(async (signal, name: string, o: ApiOpts & { description?: string }) => {
        const c = await (await connect(o)).createCluster({ name, ...(o.description !== undefined ? { description: o.description } : {}) }, { signal });
        if (o.json) return printJson(c);
        process.stdout.write(`cluster ${c.name} (${c.id}) created\n`);
      }),
    );

  connectionOptions(apiCommand(cluster, 'add-host <cluster> <host>', 'move a host (by name or id) into the cluster; its VMs move with it'))
    .addHelpText('after', '\nRefused, changing nothing, while a VM on the host asks for another cluster or uses a\nnetwork or datastore bound to another: migrate those VMs off first.')
    .action(
      runCliAction(async (signal, ref: string, host: string, o: ApiOpts) => {
        const r = await (await connect(o)).addClusterHost(ref, host, { signal });
        if (o.json) return printJson(r);
        process.stdout.write(`host ${r.host.name} is in cluster ${r.cluster}\n`);
      }),
    );

  connectionOptions(apiCommand(cluster, 'delete <cluster>', 'delete an empty cluster (no hosts, and no network, datastore or template names it); not `default`')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const c = await (await connect(o)).deleteCluster(ref, { signal });
      if (o.json) return printJson(c);
      process.stdout.write(`deleted cluster ${c.name} (${c.id})\n`);
    }),
  );
}

function printCluster(c: ClusterView): void {
  printFields([
    ['id', c.id],
    ['name', c.name],
    ['description', c.description === '' ? '-' : c.description],
    ['created', fmtTime(c.createdAt)],
    ['hosts', list(c.hosts)],
    ['networks', list(c.networks)],
    ['datastores', list(c.datastores)],
  ]);
}
