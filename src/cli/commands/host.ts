import { InvalidArgumentError, type Command } from 'commander';
import type { HostView } from '../../contract/host-schemas.js';
import { apiCommand, byIdOrName, connect, connectionOptions, readInputFile, type ApiOpts } from '../api-command.js';
import { dash, fmtAge, fmtMiB, fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';
import { MAX_CPU_OVERCOMMIT } from '../../core/placement/placement-policy.js';
import { registerHostTop } from './top.js';
import { printHostHa, registerHostHa } from './host-ha.js';
import { registerHostMaintenance } from './host-maintenance.js';

interface UpdateOpts extends ApiOpts {
  cpuOvercommit?: number | 'default';
}

function overcommitArg(value: string): number | 'default' {
  if (value === 'default') return value;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > MAX_CPU_OVERCOMMIT) {
    throw new InvalidArgumentError(`expected a number of vCPUs per CPU above 0 and up to ${MAX_CPU_OVERCOMMIT}, or "default".`);
  }
  return n;
}

/** `nubo host list|show|update|register|delete|enable|disable`. */
export function registerHostCommands(program: Command): void {
  const host = program.command('host').description('hypervisor hosts (their agents) known to the controller');

  connectionOptions(apiCommand(host, 'list', 'list hosts with their state, reserved/total capacity and last heartbeat')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const hosts = await (await connect(o)).listHosts({ signal });
      if (o.json) return printJson(hosts);
      const now = Date.now();
      printTable(
        ['ID', 'NAME', 'CLUSTER', 'STATE', 'CPUS', 'MEMORY', 'VMS', 'HEARTBEAT', 'AGENT'],
        hosts.map((h) => [h.id, h.name, h.cluster, [h.state, h.maintenance, h.standbySince === null ? null : 'standby'].filter((x) => x !== null).join(', '), `${h.reserved.cpus}/${h.total.cpus}`, `${fmtMiB(h.reserved.memoryMiB)}/${fmtMiB(h.total.memoryMiB)}`, h.vms, fmtAge(h.lastHeartbeatAt, now), dash(h.agentUrl)]),
      );
    }),
  );

  connectionOptions(apiCommand(host, 'show <host>', 'show one host, by id or name')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const client = await connect(o);
      const h = await byIdOrName(ref, (id) => client.getHost(id, { signal }), () => client.listHosts({ signal }));
      const ha = await client.hostHa(h.id, { signal });
      if (o.json) return printJson({ ...h, ha });
      printHost(h);
      printHostHa(ha);
    }),
  );

  connectionOptions(apiCommand(host, 'update <host>', "change a host's settings, by id or name (admin)"))
    .option('--cpu-overcommit <ratio>', `vCPUs the scheduler may place per physical CPU of the host (above 0, up to ${MAX_CPU_OVERCOMMIT}; "default": the controller's)`, overcommitArg)
    .addHelpText('after', '\nWith 1 a vCPU needs a core of its own; `nubo up` sets 4 on its host, enough for tiny test VMs.\nMemory and disk are never overcommitted. VMs that wait for room are placed as soon as it grows.')
    .action(
      runCliAction(async (signal, ref: string, o: UpdateOpts) => {
        if (o.cpuOvercommit === undefined) throw new UsageError('NOTHING_TO_UPDATE', 'nothing to update: give --cpu-overcommit <ratio>', {});
        const cpuOvercommit = o.cpuOvercommit === 'default' ? null : o.cpuOvercommit;
        const client = await connect(o);
        const h = await byIdOrName(ref, (id) => client.updateHost(id, { cpuOvercommit }, { signal }), () => client.listHosts({ signal }));
        if (o.json) return printJson(h);
        process.stdout.write(
          h.cpuOvercommit === null
            ? `host ${h.name} (${h.id}): cpu overcommit: the controller's default\n`
            : `host ${h.name} (${h.id}): cpu overcommit ${h.cpuOvercommit} (${h.total.cpus} CPUs: up to ${h.total.cpus * h.cpuOvercommit} vCPUs)\n`,
        );
      }),
    );

  const register = apiCommand(host, 'register <name>', 'register a host (admin) by its agent\'s URL and token; it stays `init` until the agent\'s first heartbeat')
    .requiredOption('--agent-url <url>', 'where the controller reaches the agent, e.g. http://198.18.1.2:7481')
    .requiredOption('--agent-token-file <file>', 'file holding the agent\'s token (the one its --token-file holds; not on the command line, where ps shows it)');
  connectionOptions(register).action(
    runCliAction(async (signal, name: string, o: ApiOpts & { agentUrl: string; agentTokenFile: string }) => {
      const agentToken = (await readInputFile(o.agentTokenFile, '--agent-token-file')).trim();
      const h = await (await connect(o)).registerHost({ name, agentUrl: o.agentUrl, agentToken }, { signal });
      if (o.json) return printJson(h);
      process.stdout.write(`host ${h.name} (${h.id}) registered: ${h.state} until its agent's first heartbeat\n`);
    }),
  );

  connectionOptions(apiCommand(host, 'delete <host>', 'forget a host (admin; by id, name or the start of its id); refused while VMs or volumes are on it or migration records name it (disable it instead)')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const h = await (await connect(o)).deleteHost(ref, { signal });
      if (o.json) return printJson(h);
      process.stdout.write(`deleted host ${h.name} (${h.id})\n`);
    }),
  );

  for (const [verb, text] of [
    ['enable', 'let the scheduler place new VMs on a host (by id or name); ends its maintenance'],
    ['disable', 'stop placing new VMs on a host (by id or name); its running VMs stay'],
  ] as const) {
    connectionOptions(apiCommand(host, `${verb} <host>`, text)).action(
      runCliAction(async (signal, ref: string, o: ApiOpts) => {
        const client = await connect(o);
        const call = (id: string): Promise<HostView> => (verb === 'enable' ? client.enableHost(id, { signal }) : client.disableHost(id, { signal }));
        const h = await byIdOrName(ref, call, () => client.listHosts({ signal }));
        if (o.json) return printJson(h);
        process.stdout.write(`host ${h.name} (${h.id}) is ${h.state}\n`);
      }),
    );
  }
  registerHostMaintenance(host);
  registerHostTop(host);
  registerHostHa(host);
}

function printHost(h: HostView): void {
  const res = (k: 'cpus' | 'memoryMiB' | 'diskMiB'): string =>
    k === 'cpus' ? `${h.reserved.cpus} of ${h.total.cpus} reserved` : `${fmtMiB(h.reserved[k])} of ${fmtMiB(h.total[k])} reserved`;
  const usage = h.usage === null ? '-' : Object.entries(h.usage).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  printFields([
    ['id', h.id],
    ['name', h.name],
    ['state', h.state],
    ['cluster', h.cluster],
    ['maintenance', h.maintenance ?? '-'],
    ['standby', h.standbySince === null ? '-' : `since ${fmtTime(h.standbySince)} (DRS consolidation; \`nubo drs wake\` ends it)`],
    ['agent', dash(h.agentUrl)],
    ['cpu model', dash(h.cpuModel)],
    ['cpus', res('cpus')],
    ['cpu overcommit', h.cpuOvercommit === null ? "the controller's default" : String(h.cpuOvercommit)],
    ['memory', res('memoryMiB')],
    ['disk', res('diskMiB')],
    ['vms', h.vms],
    ['heartbeat', h.lastHeartbeatAt === null ? 'never' : `${fmtTime(h.lastHeartbeatAt)} (${fmtAge(h.lastHeartbeatAt)})`],
    ['usage', usage],
  ]);
}
