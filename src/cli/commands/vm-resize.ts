import type { Command } from 'commander';
import { UsageError } from '../usage-error.js';
import { apiCommand, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { MIN_VM_MEMORY_MIB } from '../../core/memory-minimum.js';
import { printVms } from './vm-output.js';

/** `nubo vm resize <vm> --vcpus N --memory MiB`: a powered-off VM's size (what is not given stays as it is). */
export function registerVmResize(vm: Command): void {
  const resize = apiCommand(vm, 'resize', 'change the vCPUs and memory of a powered-off VM; it boots with them on its next start')
    .argument('<vm>', 'the VM, by name or id')
    .option('--vcpus <n>', 'virtual CPUs (default: as it is)', intArg(1, 64, 'vCPUs'))
    .option('--memory <MiB>', `memory in MiB (default: as it is), ${MIN_VM_MEMORY_MIB} or more and at least the minimum of the images it boots from (image list: MIN MEMORY)`, intArg(MIN_VM_MEMORY_MIB, 1024 * 1024, 'MiB'))
    .addHelpText('after', `
Only a powered-off VM (nubo vm poweroff) is resized: a suspended or stopped
one has its memory saved at its old size. The growth counts against your
quotas and is reserved on the host that keeps the VM's disks, so a refusal
(quota, host room, an image's minimum memory) says which and changes nothing.

  nubo vm poweroff web --wait
  nubo vm resize web --vcpus 2 --memory 512
  nubo vm start web --wait`);
  connectionOptions(resize).action(
    runCliAction(async (signal, ref: string, o: ApiOpts & { vcpus?: number; memory?: number }) => {
      if (o.vcpus === undefined && o.memory === undefined) throw new UsageError('INVALID_ARGUMENT', 'give --vcpus, --memory or both');
      const client = await connect(o);
      // What is not given stays: read from the VM (the controller re-checks its state when the resize arrives).
      const cur = o.vcpus !== undefined && o.memory !== undefined ? { vcpus: o.vcpus, memoryMiB: o.memory } : await client.getVm(ref, { signal });
      const v = await client.resizeVm(ref, { vcpus: o.vcpus ?? cur.vcpus, memoryMiB: o.memory ?? cur.memoryMiB }, { signal });
      if (o.json) return printJson(v);
      printVms([v]);
    }),
  );
}
