import type { Command } from 'commander';
import type { VolumeView } from '../../contract/storage-schemas.js';
import { apiCommand, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { dash, fmtMiB, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

function printVolumes(vs: readonly VolumeView[]): void {
  printTable(['NAME', 'ID', 'SIZE', 'STATE', 'CLUSTER', 'HOST', 'VM', 'SLOT'], vs.map((v) => [v.name, v.id, fmtMiB(v.sizeMiB), v.state, dash(v.cluster), dash(v.host), dash(v.vmName ?? v.vm), dash(v.slot)]));
}

/** `nubo volume create|list|delete|attach|detach`: data disks apart from any VM; given by name or id. */
export function registerVolumeCommands(program: Command): void {
  const volume = program.command('volume').description('volumes: data disks apart from any VM, hot-plugged into running VMs');

  const create = apiCommand(volume, 'create <name>', 'create a volume (its file is made on the host of the VM it is first attached to)')
    .requiredOption('--size <MiB>', 'size in MiB', intArg(1, 1024 * 1024, 'MiB'))
    .option('--cluster <cluster>', 'the cluster (availability zone) it lives in: only VMs on its hosts attach it (default: the cluster of the host of its first attach)');
  connectionOptions(create).action(
    runCliAction(async (signal, name: string, o: ApiOpts & { size: number; cluster?: string }) => {
      const v = await (await connect(o)).createVolume({ name, sizeMiB: o.size, ...(o.cluster !== undefined ? { cluster: o.cluster } : {}) }, { signal });
      if (o.json) return printJson(v);
      printVolumes([v]);
    }),
  );

  connectionOptions(apiCommand(volume, 'list', 'list volumes (yours; admins: all)')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const vs = await (await connect(o)).listVolumes({ signal });
      if (o.json) return printJson(vs);
      printVolumes(vs);
    }),
  );

  connectionOptions(apiCommand(volume, 'delete <volume>', 'delete a detached volume and its file (refused while attached)'), { json: false }).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      await (await connect(o)).deleteVolume(ref, { signal });
    }),
  );

  connectionOptions(apiCommand(volume, 'attach <volume> <vm>', 'attach a volume to a running (hot-plug) or powered-off VM')).action(
    runCliAction(async (signal, ref: string, vm: string, o: ApiOpts) => {
      const v = await (await connect(o)).attachVolume(vm, { volume: ref }, { signal });
      if (o.json) return printJson(v);
      printVolumes([v]);
    }),
  );

  connectionOptions(apiCommand(volume, 'detach <volume> <vm>', 'detach a volume from a VM (a running guest releases it first); its data stays')).action(
    runCliAction(async (signal, ref: string, vm: string, o: ApiOpts) => {
      const v = await (await connect(o)).detachVolume(vm, ref, { signal });
      if (o.json) return printJson(v);
      printVolumes([v]);
    }),
  );
}
