import type { Command } from 'commander';
import type { HostView } from '../../controller/api/api-schemas.js';
import { apiCommand, byIdOrName, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { dash, fmtAge, fmtMiB, fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

/** `nubo host list|show|enable|disable`. */
export function registerHostCommands(program: Command): void {
  const host = program.command('host').description('hypervisor hosts (their agents) known to the controller');

  connectionOptions(apiCommand(host, 'list', 'list hosts with their state, reserved/total capacity and last heartbeat')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const hosts = await (await connect(o)).listHosts({ signal });
      if (o.json) return printJson(hosts);
      const now = Date.now();
      printTable(
        ['ID', 'NAME', 'STATE', 'CPUS', 'MEMORY', 'VMS', 'HEARTBEAT', 'AGENT'],
        hosts.map((h) => [h.id, h.name, h.state, `${h.reserved.cpus}/${h.total.cpus}`, `${fmtMiB(h.reserved.memoryMiB)}/${fmtMiB(h.total.memoryMiB)}`, h.vms, fmtAge(h.lastHeartbeatAt, now), dash(h.agentUrl)]),
      );
    }),
  );

  connectionOptions(apiCommand(host, 'show <host>', 'show one host, by id or name')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const client = await connect(o);
      const h = await byIdOrName(ref, (id) => client.getHost(id, { signal }), () => client.listHosts({ signal }));
      if (o.json) return printJson(h);
      printHost(h);
    }),
  );

  for (const [verb, text] of [
    ['enable', 'let the scheduler place new VMs on a host (by id or name)'],
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
}

function printHost(h: HostView): void {
  const res = (k: 'cpus' | 'memoryMiB' | 'diskMiB'): string =>
    k === 'cpus' ? `${h.reserved.cpus} of ${h.total.cpus} reserved` : `${fmtMiB(h.reserved[k])} of ${fmtMiB(h.total[k])} reserved`;
  const usage = h.usage === null ? '-' : Object.entries(h.usage).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  printFields([
    ['id', h.id],
    ['name', h.name],
    ['state', h.state],
    ['agent', dash(h.agentUrl)],
    ['cpu model', dash(h.cpuModel)],
    ['cpus', res('cpus')],
    ['memory', res('memoryMiB')],
    ['disk', res('diskMiB')],
    ['vms', h.vms],
    ['heartbeat', h.lastHeartbeatAt === null ? 'never' : `${fmtTime(h.lastHeartbeatAt)} (${fmtAge(h.lastHeartbeatAt)})`],
    ['usage', usage],
  ]);
}
