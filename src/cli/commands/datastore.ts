import type { Command } from 'commander';
import type { DatastoreView } from '../../contract/datastore-schemas.js';
import { apiCommand, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { dash, fmtMiB, fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

const list = (names: readonly string[] | undefined): string => (names === undefined || names.length === 0 ? '-' : names.join(', '));
const room = (d: DatastoreView): string => `${d.usedMiB === null ? '?' : fmtMiB(d.usedMiB)} / ${d.capacityMiB === null ? '?' : fmtMiB(d.capacityMiB)}`;

/** `nubo datastore create|list|show|delete`: where VM disks and volumes live (admins make and delete them; everyone lists them). */
export function registerDatastoreCommands(program: Command): void {
  const datastore = program
    .command('datastore')
    .description('datastores: where VM disks and volumes live (local to a host, or shared by the hosts of a cluster)')
    .addHelpText('after', `
A \`local\` datastore is one host's own directory (its agent's --data-dir). A
\`shared\` datastore is one directory every host of its cluster mounts at the
same path (the agent's --shared-dir, e.g. NFS); a VM whose disk is on \`shared\`
(\`nubo vm create --datastore shared\`) runs on a host that sees it, so a VM
placed in a cluster uses that cluster's shared datastore. Without --cluster a
shared datastore is every cluster's.

Example:
  nubo cluster create east
  nubo cluster add-host east h3
  nubo datastore create east-nfs --kind shared --path /srv/nfs/east --cluster east --capacity 512000
  nubo datastore list
  nubo datastore delete east-nfs      # refused, naming them, while VMs, volumes or templates use it`);

  connectionOptions(apiCommand(datastore, 'list', 'list datastores: kind, cluster, used / capacity (admins also: the hosts that see each)')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const all = await (await connect(o)).listDatastores({ signal });
      if (o.json) return printJson(all);
      printTable(['NAME', 'KIND', 'CLUSTER', 'USED / CAPACITY', 'HOSTS'], all.map((d) => [d.name, d.kind, d.cluster ?? '(all)', room(d), list(d.hosts)]));
    }),
  );

  connectionOptions(apiCommand(datastore, 'show <datastore>', 'show one datastore, by name or id (admins: also its path and what uses it)')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const d = await (await connect(o)).getDatastore(ref, { signal });
      if (o.json) return printJson(d);
      printDatastore(d);
    }),
  );

  connectionOptions(apiCommand(datastore, 'create <name>', 'make a datastore (admin)'))
    .requiredOption('--kind <kind>', 'local (one host\'s directory) or shared (a directory the hosts of a cluster mount at the same path)')
    .requiredOption('--path <dir>', 'where it is on the hosts (absolute)')
    .option('--host <host>', 'the host of a local datastore (name or id)')
    .option('--cluster <cluster>', 'the cluster whose hosts see a shared datastore (default: every cluster)')
    .option('--capacity <MiB>', 'its size in MiB, when known', intArg(1, Number.MAX_SAFE_INTEGER, 'MiB'))
    .action(
      runCliAction(async (signal, name: string, o: ApiOpts & { kind: string; path: string; host?: string; cluster?: string; capacity?: number }) => {
        const d = await (await connect(o)).createDatastore({
          name, kind: o.kind as 'local' | 'shared', path: o.path,
          ...(o.host !== undefined ? { host: o.host } : {}),
          ...(o.cluster !== undefined ? { cluster: o.cluster } : {}),
          ...(o.capacity !== undefined ? { capacityMiB: o.capacity } : {}),
        }, { signal });
        if (o.json) return printJson(d);
        process.stdout.write(`datastore ${d.name} (${d.id}) created\n`);
      }),
    );

  connectionOptions(apiCommand(datastore, 'delete <datastore>', 'delete a datastore\'s record (admin); refused while VMs, volumes or templates use it. Its directory is left as it is')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const d = await (await connect(o)).deleteDatastore(ref, { signal });
      if (o.json) return printJson(d);
      process.stdout.write(`deleted datastore ${d.name} (${d.id})\n`);
    }),
  );
}

function printDatastore(d: DatastoreView): void {
  printFields([
    ['id', d.id],
    ['name', d.name],
    ['kind', d.kind],
    ['cluster', d.cluster ?? '(all)'],
    ['used / capacity', room(d)],
    ['created', fmtTime(d.createdAt)],
    ...(d.path !== undefined ? [['path', d.path] as [string, string]] : []),
    ...(d.host !== undefined ? [['host', dash(d.host)] as [string, string]] : []),
    ...(d.hosts !== undefined ? [['seen by', list(d.hosts)] as [string, string]] : []),
    ...(d.usedBy !== undefined ? [['used by', usedBy(d.usedBy)] as [string, string]] : []),
  ]);
}

function usedBy(u: NonNullable<DatastoreView['usedBy']>): string {
  const parts = [['VMs', u.vms], ['volumes', u.volumes], ['templates', u.templates]] as const;
  const named = parts.filter(([, names]) => names.length > 0).map(([what, names]) => `${what} ${names.join(', ')}`);
  return named.length === 0 ? '-' : named.join('; ');
}
