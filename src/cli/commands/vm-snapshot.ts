import type { Command } from 'commander';
import type { SnapshotView } from '../../contract/snapshot-schemas.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { dash, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

function printSnapshots(ss: readonly SnapshotView[]): void {
  printTable(['NAME', 'CREATED', 'GUEST CLOCK'], ss.map((s) => [s.name, s.createdAt, dash(s.vmClockSec === undefined ? undefined : `${s.vmClockSec}s`)]));
}

const NAME_HELP = 'snapshot name: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';

/** `nubo vm snapshot create|list|revert|delete`: qcow2 internal snapshots of a VM's disk, kept inside its disk file. */
export function registerVmSnapshot(vm: Command): void {
  const snapshot = vm
    .command('snapshot')
    .description('disk snapshots of a VM (kept inside its disk file; they travel with it): take them while it runs, is powered off or suspended; revert a powered-off VM');

  const create = apiCommand(snapshot, 'create', 'take a snapshot of the VM\'s disk (running: the guest runs on; powered off or suspended: from the file)')
    .argument('<vm>', 'the VM, by name or id')
    .argument('<name>', NAME_HELP);
  connectionOptions(create).action(
    runCliAction(async (signal, ref: string, name: string, o: ApiOpts) => {
      const s = await (await connect(o)).createSnapshot(ref, { name }, { signal });
      if (o.json) return printJson(s);
      printSnapshots([s]);
    }),
  );

  const list = apiCommand(snapshot, 'list', 'list the snapshots of the VM\'s disk, oldest first')
    .argument('<vm>', 'the VM, by name or id');
  connectionOptions(list).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const ss = await (await connect(o)).listSnapshots(ref, { signal });
      if (o.json) return printJson(ss);
      printSnapshots(ss);
    }),
  );

  const revert = apiCommand(snapshot, 'revert', 'revert a powered-off VM\'s disk to a snapshot (the snapshot stays; the VM boots from it at its next start)')
    .argument('<vm>', 'the VM, by name or id')
    .argument('<name>', 'the snapshot');
  connectionOptions(revert).action(
    runCliAction(async (signal, ref: string, name: string, o: ApiOpts) => {
      const s = await (await connect(o)).revertSnapshot(ref, name, { signal });
      if (o.json) return printJson(s);
      process.stdout.write(`VM ${ref}: disk reverted to snapshot ${s.name} (taken ${s.createdAt}); \`nubo vm start ${ref}\` boots from it\n`);
    }),
  );

  const del = apiCommand(snapshot, 'delete', 'delete a snapshot of the VM\'s disk (its current data is untouched)')
    .argument('<vm>', 'the VM, by name or id')
    .argument('<name>', 'the snapshot');
  connectionOptions(del, { json: false }).action(
    runCliAction(async (signal, ref: string, name: string, o: ApiOpts) => {
      await (await connect(o)).deleteSnapshot(ref, name, { signal });
    }),
  );
}
