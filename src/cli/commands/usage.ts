import { Option, type Command } from 'commander';
import { UsageClient } from '../../client/usage-client.js';
import { usageMonthOf } from '../../core/usage/usage-month.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';
import { usageCsv, usageTables } from './usage-output.js';

interface ReportOpts extends ApiOpts {
  readonly month?: string;
  readonly user?: string;
  readonly group?: string;
  readonly csv?: boolean;
}

/** `nubo usage report`: the showback of a month. */
export function registerUsageCommands(program: Command): void {
  const usage = program.command('usage').description('showback: what VMs used (vCPU-hours, memory and disk GiB-hours) and cost, per VM, user and group');
  connectionOptions(
    apiCommand(usage, 'report', 'the usage of a calendar month (UTC): one line per VM, totals per user, per group and overall, at the controller\'s prices')
      .option('--month <YYYY-MM>', 'the month (UTC); default: the current one')
      .addOption(new Option('--user <user>', 'one user\'s VMs (id, name or `me`): yourself, a member of a group you administer, anyone for an admin').conflicts('group'))
      .option('--group <group>', 'the VMs charged to one group (its group admins and admins)')
      .addOption(new Option('--csv', 'print the lines as CSV (RFC 4180, header first; sum them for totals)').conflicts('json'))
      .addHelpText('after', `
Without --user or --group an admin gets everyone's usage, anyone else their own.
Running states (boot, running, migrating, shutdown, saving) are charged vCPUs,
memory and disk; resting ones (prolog, epilog, poweroff, suspended, stopped,
failed, unknown) the disk alone; pending and terminated nothing. A month still
under way is charged up to now. Each line is rounded once, half up (hours to 6
places, the cost to the prices' decimals); every total is the sum of its lines.`),
  ).action(
    runCliAction(async (signal, o: ReportOpts) => {
      if (o.csv === true && o.json === true) throw new UsageError('BAD_FLAGS', 'give --json or --csv, not both');
      const c = await connect(o);
      const report = await new UsageClient(c.baseUrl, c.token).report({
        month: o.month ?? usageMonthOf(Date.now()),
        ...(o.user !== undefined ? { user: o.user } : {}),
        ...(o.group !== undefined ? { group: o.group } : {}),
      }, { signal });
      if (o.json === true) return printJson(report);
      process.stdout.write(o.csv === true ? usageCsv(report) : usageTables(report));
    }),
  );
}
