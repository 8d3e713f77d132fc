import type { Command } from 'commander';
import { apiCommand, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { printVmNics } from './vm-output.js';

/** `nubo vm nic attach|detach`: NICs of a running (hot-plug) or powered-off VM. */
export function registerVmNic(vm: Command): void {
  const nic = vm.command('nic').description('attach and detach NICs of a running or powered-off VM');

  const attach = apiCommand(nic, 'attach', 'attach a NIC with a lease on a network: a running VM gets it hot-plugged (the guest configures its address from the config drive when it next boots), a powered-off one at its next start')
    .argument('<vm>', 'the VM, by name or id')
    .requiredOption('--network <network>', 'network, by name or id')
    .option('--address <ip>', 'a free address of the network (default: its lowest free one)');
  connectionOptions(attach).action(
    runCliAction(async (signal, ref: string, o: ApiOpts & { network: string; address?: string }) => {
      const v = await (await connect(o)).attachNic(ref, { network: o.network, ...(o.address !== undefined ? { address: o.address } : {}) }, { signal });
      if (o.json) return printJson(v);
      printVmNics(v);
    }),
  );

  const detach = apiCommand(nic, 'detach', 'detach a NIC (a running guest has to release it); its address goes back to the network')
    .argument('<vm>', 'the VM, by name or id')
    .argument('<index>', 'the NIC\'s index, as `nubo vm show` lists it (other NICs keep theirs)', intArg(0, 7, 'NIC index'));
  connectionOptions(detach).action(
    runCliAction(async (signal, ref: string, index: number, o: ApiOpts) => {
      const v = await (await connect(o)).detachNic(ref, index, { signal });
      if (o.json) return printJson(v);
      printVmNics(v);
    }),
  );
}
