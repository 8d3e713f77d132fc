import { InvalidArgumentError, Option, type Command } from 'commander';
import type { HostHaView } from '../../contract/ha-schemas.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { dash, fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';

interface FenceOpts extends ApiOpts {
  method: 'none' | 'command' | 'lab';
  command?: string[];
  labDir?: string;
  timeoutMs?: number;
}

function msArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 100 || n > 600_000) throw new InvalidArgumentError('expected whole milliseconds from 100 to 600000.');
  return n;
}

/** `nubo host fence-config` and `nubo host ha`: how a host is fenced, and where its fencing stands. */
export function registerHostHa(host: Command): void {
  const fence = apiCommand(host, 'fence-config <host>', 'set how a host is fenced before its HA VMs are restarted elsewhere (admin)')
    .addOption(new Option('--method <method>', 'command: run --command; lab: cut the lab host\'s uplink and kill its QEMUs; none: never restart its VMs automatically').choices(['none', 'command', 'lab']).makeOptionMandatory())
    .option('--command <argv...>', 'with --method command: the hook and its arguments (no shell), e.g. --command /usr/local/bin/ipmi-off --force; it gets NUBO_HOST_NAME, NUBO_HOST_ID and NUBO_HOST_ADDRESS in its environment and exits 0 once the host is off')
    .option('--lab-dir <dir>', 'with --method lab: the lab\'s directory (as given to `nubo lab up --dir`)')
    .option('--timeout-ms <ms>', 'a fence that takes longer has failed (retried; the VMs are not restarted) (default 30000)', msArg)
    .addHelpText('after', '\nA host whose agent stops heartbeating is suspected, fenced with this method, and only once the fence\nsucceeded are its HA VMs (`nubo vm create --ha`, `nubo vm ha`) restarted on other hosts from the shared datastore.');
  connectionOptions(fence).action(
    runCliAction(async (signal, ref: string, o: FenceOpts) => {
      if (o.method === 'command' && (o.command === undefined || o.command.length === 0)) throw new UsageError('BAD_FLAG', '--method command needs --command PROGRAM [ARGS...]');
      if (o.method === 'lab' && o.labDir === undefined) throw new UsageError('BAD_FLAG', '--method lab needs --lab-dir DIR');
      if (o.method !== 'command' && o.command !== undefined) throw new UsageError('BAD_FLAG', '--command goes with --method command only');
      if (o.method !== 'lab' && o.labDir !== undefined) throw new UsageError('BAD_FLAG', '--lab-dir goes with --method lab only');
      const timeout = o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs };
      const body = o.method === 'command' ? { method: o.method, argv: o.command ?? [], ...timeout }
        : o.method === 'lab' ? { method: o.method, labDir: o.labDir ?? '', ...timeout } : { method: o.method };
      const ha = await (await connect(o)).setFenceConfig(ref, body, { signal });
      if (o.json) return printJson(ha);
      printHostHa(ha);
    }),
  );

  connectionOptions(apiCommand(host, 'ha <host>', 'show a host\'s fence method, fencing state (with times) and the decisions of its last incident')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const ha = await (await connect(o)).hostHa(ref, { signal });
      if (o.json) return printJson(ha);
      printHostHa(ha);
    }),
  );
}

export function printHostHa(ha: HostHaView): void {
  const t = (s: string | null): string => (s === null ? '-' : fmtTime(s));
  printFields([
    ['fence method', ha.method === 'command' ? `command: ${ha.argv.join(' ')} (timeout ${ha.timeoutMs} ms)` : ha.method === 'lab' ? `lab: ${dash(ha.labDir)}` : 'none (VMs are not restarted automatically)'],
    ['fencing', ha.state + (ha.lastError ? ` (last error: ${ha.lastError})` : '') + (ha.attempts > 0 ? `, ${ha.attempts} attempt(s)` : '')],
    ['health', ha.degraded === null ? 'ok' : `degraded: ${ha.degraded}`],
    ['suspected', t(ha.suspectedAt)],
    ['fence started', t(ha.fencingAt)],
    ['fenced', t(ha.fencedAt)],
    ['recovering', t(ha.recoveringAt)],
    ['recovered', t(ha.recoveredAt)],
  ]);
  if (ha.restarts.length > 0) {
    process.stdout.write('\n');
    printTable(['VM', 'DECISION', 'STATE', 'TARGET', 'REASON'], ha.restarts.map((r) => [r.vmId, r.action, r.state, dash(r.targetHostId), r.reason]));
  }
}
