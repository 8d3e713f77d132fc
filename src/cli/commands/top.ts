import type { Command } from 'commander';
import { apiCommand, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { hostTopTable, vmTopTable } from '../top-table.js';
import { sleep } from '../../util/deadline.js';

interface TopOpts extends ApiOpts {
  once?: boolean;
  interval: number;
}

/** Clears the terminal and homes the cursor, so that each refresh redraws the table in place. */
const CLEAR = '\x1b[H\x1b[2J';

function topCommand<T>(parent: Command, what: string, fetch: (o: TopOpts, signal: AbortSignal) => Promise<T>, render: (rows: T) => string): void {
  connectionOptions(apiCommand(parent, 'top', `${what}, refreshed until Ctrl-C (the controller samples every few seconds)`))
    .option('--once', 'print the table once and exit (for scripts; with --json, the JSON answer)')
    .option('--interval <seconds>', 'seconds between refreshes', intArg(1, 3_600, 'seconds'), 2)
    .action(
      runCliAction(async (signal, o: TopOpts) => {
        if (o.once === true) {
          const rows = await fetch(o, signal);
          if (o.json) return printJson(rows);
          process.stdout.write(render(rows));
          return;
        }
        while (!signal.aborted) {
          const rows = await fetch(o, signal);
          process.stdout.write(o.json ? `${JSON.stringify(rows)}\n` : `${CLEAR}${new Date().toISOString()}  (every ${o.interval}s, Ctrl-C to quit)\n${render(rows)}`);
          await sleep(o.interval * 1000, signal).catch(() => undefined);
        }
      }),
    );
}

/** `nubo vm top`: the latest sample of every VM the caller may see. */
export function registerVmTop(vm: Command): void {
  topCommand(vm, 'CPU, memory, disk and network use of your VMs, busiest first', async (o, signal) => (await connect(o)).vmTop({ signal }), vmTopTable);
}

/** `nubo host top` (admin): each host's VMs' totals and the machine's CPU and memory. */
export function registerHostTop(host: Command): void {
  topCommand(host, "each host's CPU, memory, disk and network use (admin)", async (o, signal) => (await connect(o)).hostTop({ signal }), hostTopTable);
}
