import { InvalidArgumentError, Option, type Command } from 'commander';
import type { HostMaintenanceView } from '../../contract/host-schemas.js';
import { TimeoutError } from '../../errors/timeout-error.js';
import { sleep } from '../../util/deadline.js';
import { apiCommand, byIdOrName, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { shortId } from '../migration-format.js';
import { dash, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { WaitFailedError } from '../wait-for-vm.js';

interface MaintenanceOpts extends ApiOpts {
  poweredOff: 'move' | 'leave';
  wait?: boolean;
  timeout: number;
  pollInterval: number;
}

function poweredOffArg(value: string): 'move' | 'leave' {
  if (value === 'move' || value === 'leave') return value;
  throw new InvalidArgumentError('expected move or leave.');
}

function printMaintenance(m: HostMaintenanceView): void {
  process.stdout.write(`host ${m.host}: ${m.state === 'none' ? 'in service' : m.state}${m.state === 'none' ? '' : `, ${m.vmsOnHost} VMs on it`}\n`);
  if (m.vms.length > 0) {
    printTable(['VM', 'ACTION', 'STATUS', 'TO', 'MIGRATION', 'REASON'], m.vms.map((v) => [v.name, v.action, v.status, dash(v.to), v.migrationId === null ? '-' : shortId(v.migrationId), dash(v.reason)]));
  }
}

/** `nubo host maintenance <host>`: evacuate a host and keep it out of scheduling. */
export function registerHostMaintenance(host: Command): void {
  const c = apiCommand(host, 'maintenance <host>', 'put a host in maintenance (admin): it takes no new VMs, its running VMs are live-migrated away (shortest predicted first, within the migration queue\'s limits), powered-off and suspended ones cold-migrated or left')
    .addOption(new Option('--powered-off <move|leave>', 'powered-off and suspended VMs: cold-migrate them away, or leave them on the host').argParser(poweredOffArg).default('move'))
    .option('--wait', 'follow the evacuation, one line per VM as its status changes, until the host is in maintenance (exit 0) or only VMs that cannot move remain (exit 1, naming them)')
    .addOption(new Option('--timeout <seconds>', 'with --wait: give up waiting after this many seconds').argParser(intArg(1, 86_400, 'seconds')).default(1800))
    .addOption(new Option('--poll-interval <ms>').argParser(intArg(10, 60_000, 'milliseconds')).default(1000).hideHelp());
  connectionOptions(c)
    .addHelpText('after', `
The host is \`evacuating\` until every VM has moved (or was left, per
--powered-off), then \`maintenance\`. A VM that cannot move (no room elsewhere,
volumes attached, CPU model) is shown \`blocked\` with the reason and keeps the host
from \`maintenance\` (state \`blocked\`): it is checked again every second; move,
power off or terminate it, or give up with \`nubo host enable\`. A migration that
fails (a controller restart rolls back the one in flight) is tried once more
before the VM is reported \`failed\`. \`nubo host maintenance-status <host>\` shows the
progress; \`nubo host enable <host>\` returns the host to service. Stopping the wait (Ctrl-C, --timeout) leaves the evacuation going.`)
    .action(
      runCliAction(async (signal, ref: string, o: MaintenanceOpts) => {
        const client = await connect(o);
        let m = await byIdOrName(ref, (id) => client.beginHostMaintenance(id, { poweredOff: o.poweredOff }, { signal }), () => client.listHosts({ signal }));
        if (!o.wait) {
          if (o.json) return printJson(m);
          printMaintenance(m);
          process.stderr.write(`follow it: nubo host maintenance-status ${m.host}   (or start it with --wait)\n`);
          return;
        }
        const seen = new Map<string, string>();
        const t0 = Date.now();
        for (;;) {
          for (const v of m.vms) {
            const line = `${v.status}${v.to !== null ? ` → ${v.to}` : ''}${v.reason !== null ? ` (${v.reason})` : ''}`;
            if (seen.get(v.vmId) !== line && !o.json) process.stderr.write(`${v.name}: ${v.action} ${line}\n`);
            seen.set(v.vmId, line);
          }
          if (m.state !== 'evacuating') break;
          if (Date.now() - t0 > o.timeout * 1000) throw new TimeoutError(`waiting for host ${m.host} to be evacuated (the evacuation goes on)`, o.timeout * 1000);
          await sleep(o.pollInterval, signal);
          m = await client.getHostMaintenance(m.hostId, { signal });
        }
        if (o.json) printJson(m);
        else printMaintenance(m);
        const stuck = m.vms.filter((v) => v.status === 'blocked' || v.status === 'failed');
        if (stuck.length > 0) {
          throw new WaitFailedError('MAINTENANCE_INCOMPLETE', `host ${m.host} is not in maintenance: ${stuck.length} VM(s) could not move: ${stuck.map((v) => `${v.name} (${v.reason ?? v.status})`).join('; ')}; it takes no new VMs and checks the blocked ones again (nubo host enable ${m.host} gives up)`, { host: m.host, vms: stuck.map((v) => v.name) });
        }
      }),
    );

  connectionOptions(apiCommand(host, 'maintenance-status <host>', 'show a host\'s maintenance: its state and what became of each VM (admin)')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const client = await connect(o);
      const m = await byIdOrName(ref, (id) => client.getHostMaintenance(id, { signal }), () => client.listHosts({ signal }));
      if (o.json) return printJson(m);
      printMaintenance(m);
    }),
  );
}
