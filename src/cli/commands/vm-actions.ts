import type { Command } from 'commander';
import type { VmApiAction } from '../../contract/vm-schemas.js';
import { apiCommand, connect, connectionOptions, waitOptions, type ApiOpts, type WaitOpts } from '../api-command.js';
import { printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { WAIT_TARGET, waitForVm } from '../wait-for-vm.js';
import { printVms } from './vm-output.js';

interface ActionSpec {
  readonly verb: keyof typeof WAIT_TARGET & VmApiAction;
  readonly description: string;
  /** The API's -hard variant, when there is one, and what --hard does. */
  readonly hard?: { readonly action: VmApiAction; readonly help: string };
}

const ACTIONS: readonly ActionSpec[] = [
  { verb: 'poweroff', description: 'power a running VM off (ACPI shutdown); its disks stay on the host', hard: { action: 'poweroff-hard', help: 'kill QEMU instead of asking the guest' } },
  { verb: 'start', description: 'boot a powered-off VM' },
  {
    verb: 'reboot',
    description: 'reboot a running VM: the guest is asked (ACPI) to shut down and is started again once it has; one that has not within the controller\'s grace (60 s) is reset instead, and the VM\'s reason says so. --wait returns once the guest runs again',
    hard: { action: 'reboot-hard', help: 'reset the virtual machine at once instead of asking the guest (what it has not written out is lost)' },
  },
  { verb: 'suspend', description: 'save a running VM\'s memory to a file on its host and stop it' },
  {
    verb: 'stop',
    description: 'suspend a running VM (or take a suspended one) and move its memory and disks off its host into the controller\'s system store, freeing the host',
  },
  {
    verb: 'recover',
    description: 'start a failed VM again: on its host from the disks it still holds, or — when it failed before they were complete — with its disks built again (or placed again); refused (exit 1) when nothing is left to start it from',
  },
  { verb: 'resume', description: 'bring a suspended VM back to running; a stopped one is placed again by the scheduler (possibly on another host) first' },
  {
    verb: 'terminate',
    description: 'shut a VM down (if running) and delete its disks; the record is kept',
    hard: { action: 'terminate-hard', help: 'kill QEMU instead of asking the guest; also accepted for failed and unknown VMs, and (admins) for a VM whose live migration is stuck past its timeout' },
  },
];

/** `nubo vm poweroff|start|reboot|suspend|stop|recover|resume|terminate <id>`. */
export function registerVmActions(vm: Command): void {
  for (const a of ACTIONS) {
    const target = WAIT_TARGET[a.verb];
    const c = waitOptions(apiCommand(vm, `${a.verb} <id>`, a.description), target);
    if (a.hard) c.option('--hard', `${a.hard.help} (the API's ${a.hard.action})`);
    connectionOptions(c).action(
      runCliAction(async (signal, id: string, o: ApiOpts & WaitOpts & { hard?: boolean }) => {
        const client = await connect(o);
        const after = await client.vmAction(id, o.hard && a.hard ? a.hard.action : a.verb, { signal });
        if (!o.wait) return o.json ? printJson(after) : printVms([after]);
        const done = await waitForVm({ client, id: after.id, target, initial: after.state, signal, timeoutMs: o.timeout * 1000, intervalMs: o.pollInterval });
        return o.json ? printJson(done) : printVms([done]);
      }),
    );
  }
}
