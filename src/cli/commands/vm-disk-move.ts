import { Option, type Command } from 'commander';
import type { DiskMoveView } from '../../contract/storage-schemas.js';
import { pollUntil } from '../../util/deadline.js';
import { apiCommand, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { EXIT } from '../exit-codes.js';
import { fmtBytes, printFields, printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

interface DiskMoveOpts extends ApiOpts {
  datastore: 'local' | 'shared';
  maxBandwidth?: number;
  wait?: boolean;
  timeout: number;
  pollInterval: number;
}

function printMove(m: DiskMoveView): void {
  printFields([
    ['vm', m.vmId], ['host', m.host], ['state', m.state], ['from → to', `${m.from} → ${m.to}`], ['sync', m.sync],
    ['copied', `${fmtBytes(m.offset)} of ${fmtBytes(m.len)}`], ['started', m.startedAt], ...(m.finishedAt !== undefined ? [['finished', m.finishedAt] as const] : []),
    ...(m.error !== undefined ? [['error', m.error] as const] : []),
  ]);
}

/** `nubo vm disk-move VM --datastore local|shared [--wait]`: live storage migration inside the VM's host. */
export function registerVmDiskMove(vm: Command): void {
  const move = apiCommand(vm, 'disk-move <vm>', 'move a running VM\'s disk to the other datastore of its host while it runs (live storage migration)')
    .addOption(new Option('--datastore <datastore>', 'the datastore to move the disk to').choices(['local', 'shared']).makeOptionMandatory())
    .option('--max-bandwidth <MiBps>', 'copy rate cap in MiB/s', intArg(1, 100_000, 'MiB/s'))
    .option('--wait', 'wait until the move is done; fail (exit 1) if it failed or was cancelled (the VM then stays on its old disk)')
    .option('--timeout <seconds>', 'give up waiting after this many seconds', intArg(1, 86_400, 'seconds'), 3600)
    .addOption(new Option('--poll-interval <ms>').argParser(intArg(10, 60_000, 'milliseconds')).default(500).hideHelp());
  connectionOptions(move).action(
    runCliAction(async (signal, ref: string, o: DiskMoveOpts) => {
      const client = await connect(o);
      const vmId = (await client.getVm(ref, { signal })).id;
      let m = await client.moveDisk(vmId, { datastore: o.datastore, ...(o.maxBandwidth !== undefined ? { maxBandwidthMiBps: o.maxBandwidth } : {}) }, { signal });
      if (o.wait) {
        const tty = process.stderr.isTTY && !o.json;
        m = await pollUntil('the disk move', async () => {
          const s = await client.getDiskMove(vmId, { signal });
          if (tty) process.stderr.write(`\r${s.state} ${fmtBytes(s.offset)} of ${fmtBytes(s.len)}   `);
          return s.state === 'copying' || s.state === 'ready' ? undefined : s;
        }, { signal, timeoutMs: o.timeout * 1000, intervalMs: o.pollInterval });
        if (tty) process.stderr.write('\n');
      }
      if (o.json) printJson(m);
      else printMove(m);
      return m.state === 'failed' || m.state === 'cancelled' ? EXIT.FAILED : EXIT.OK;
    }),
  );
}
