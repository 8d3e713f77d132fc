import type { Command } from 'commander';
import { apiCommand, connect, connectionOptions, waitOptions, type ApiOpts, type WaitOpts } from '../api-command.js';
import { printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { WAIT_TARGET, waitForVm } from '../wait-for-vm.js';
import { printVms } from './vm-output.js';
import { VM_ACTION_COMMANDS } from './vm-action-commands.js';

/** `nubo vm poweroff|start|reboot|suspend|stop|recover|resume|terminate <id>`. */
export function registerVmActions(vm: Command): void {
  for (const a of VM_ACTION_COMMANDS) {
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
