import type { Command } from 'commander';
import type { CreateNetworkBody, LeaseView, NetworkDetailView, NetworkView } from '../../contract/network-schemas.js';
import { apiCommand, collect, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { dash, fmtTime, printFields, printJson, printTable, renderTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

interface CreateOpts extends ApiOpts {
  cidr: string;
  gateway?: string;
  dns?: string[];
  vlan?: number;
  first?: string;
  last?: string;
  bridge?: string;
  cluster?: string;
}

/** `nubo network list|show|create|delete|hold|unhold`; networks are given by id or name (the controller resolves both). */
export function registerNetworkCommands(program: Command): void {
  const network = program.command('network').description('virtual networks: address ranges inside 198.18.64.0/18 (lab) or 198.19.0.0/16 (single machine) whose leases give VM NICs their IP and MAC');

  connectionOptions(apiCommand(network, 'list', 'list networks with their addresses in use')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const nets = await (await connect(o)).listNetworks({ signal });
      if (o.json) return printJson(nets);
      printNetworks(nets);
    }),
  );

  connectionOptions(apiCommand(network, 'show <network>', 'show one network (by id or name) with its leased and held addresses')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const n = await (await connect(o)).getNetwork(ref, { signal });
      if (o.json) return printJson(n);
      printNetwork(n);
    }),
  );

  const create = apiCommand(network, 'create <name>', 'create a network (admin)')
    .requiredOption('--cidr <subnet>', 'subnet inside 198.18.64.0/18 (so /18 to /30), e.g. 198.18.64.0/24, or inside 198.19.0.0/16 for a single machine')
    .option('--gateway <address>', 'gateway address (a host of the subnet; never leased)')
    .option('--dns <address>', 'DNS server handed to guests (repeatable)', collect)
    .option('--vlan <id>', '802.1Q VLAN tag', intArg(1, 4094, 'VLAN id'))
    .option('--first <address>', 'first address to lease (default: the first host address)')
    .option('--last <address>', 'last address to lease (default: the last host address)')
    .option('--bridge <name>', 'host bridge the NICs\' TAPs join (default br0, every lab host\'s; `nubo up` uses nubo0)')
    .option('--cluster <cluster>', 'bind the network to this cluster: its VMs are placed on that cluster\'s hosts only (default: every cluster)');
  connectionOptions(create).action(
    runCliAction(async (signal, name: string, o: CreateOpts) => {
      const range = o.first !== undefined || o.last !== undefined ? { first: o.first ?? '', last: o.last ?? '' } : undefined;
      const body: CreateNetworkBody = {
        name,
        cidr: o.cidr,
        ...(o.gateway !== undefined ? { gateway: o.gateway } : {}),
        ...(o.dns !== undefined ? { dns: o.dns } : {}),
        ...(o.vlan !== undefined ? { vlan: o.vlan } : {}),
        ...(range ? { range } : {}),
        ...(o.bridge !== undefined ? { bridge: o.bridge } : {}),
        ...(o.cluster !== undefined ? { cluster: o.cluster } : {}),
      };
      const n = await (await connect(o)).createNetwork(body, { signal });
      if (o.json) return printJson(n);
      printNetworks([n]);
    }),
  );

  connectionOptions(apiCommand(network, 'delete <network>', 'delete a network (admin); refused while any address is leased'), { json: false }).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      await (await connect(o)).deleteNetwork(ref, { signal });
      process.stdout.write(`deleted network ${ref}\n`);
    }),
  );

  for (const [verb, text] of [
    ['hold', 'take a free address out of allocation (admin): it is never leased'],
    ['unhold', 'return a held address to the free pool (admin)'],
  ] as const) {
    connectionOptions(apiCommand(network, `${verb} <network> <address>`, text)).action(
      runCliAction(async (signal, ref: string, address: string, o: ApiOpts) => {
        const client = await connect(o);
        const l = verb === 'hold' ? await client.holdAddress(ref, address, { signal }) : await client.unholdAddress(ref, address, { signal });
        if (o.json) return printJson(l);
        process.stdout.write(`address ${l.address} of network ${ref} is ${l.state}\n`);
      }),
    );
  }
}

function printNetworks(nets: readonly NetworkView[]): void {
  printTable(
    ['ID', 'NAME', 'CIDR', 'GATEWAY', 'VLAN', 'LEASED', 'HELD', 'FREE', 'CREATED'],
    nets.map((n) => [n.id, n.name, n.cidr, dash(n.gateway), n.vlan ?? '-', n.addresses.leased, n.addresses.held, n.addresses.free, fmtTime(n.createdAt)]),
  );
}

function printNetwork(n: NetworkDetailView): void {
  printFields([
    ['id', n.id],
    ['name', n.name],
    ['cidr', n.cidr],
    ['gateway', dash(n.gateway)],
    ['dns', n.dns.join(', ') || '-'],
    ['vlan', n.vlan ?? '-'],
    ['bridge', n.bridge],
    ['cluster', n.cluster ?? 'every'],
    ['addresses', `${n.addresses.total} (${n.addresses.leased} leased, ${n.addresses.held} held, ${n.addresses.free} free)`],
    ['created', fmtTime(n.createdAt)],
  ]);
  process.stdout.write('\nleases:\n');
  if (n.leases.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  process.stdout.write(renderTable(['ADDRESS', 'MAC', 'STATE', 'VM', 'SINCE'], n.leases.map((l: LeaseView) => [l.address, l.mac, l.state, l.vmName ?? dash(l.vm), fmtTime(l.updatedAt)])));
}
