import type { VmApiAction } from '../../contract/vm-schemas.js';
import type { WAIT_TARGET } from '../wait-for-vm.js';

export interface ActionSpec {
  readonly verb: keyof typeof WAIT_TARGET & VmApiAction;
  readonly description: string;
  /** The API's -hard variant, when there is one, and what --hard does. */
  readonly hard?: { readonly action: VmApiAction; readonly help: string };
}

/** The CLI's verbs for the API's VM actions: `nubo vm <verb> [--hard]`. */
export const VM_ACTION_COMMANDS: readonly ActionSpec[] = [
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

/**
 * What a user types for each of the API's actions, in the order given: `poweroff-hard` is `poweroff --hard`, and a
 * verb allowed both ways is `poweroff [--hard]`; an action the CLI has no verb for stays the API's name.
 */
export function actionCommands(apiActions: readonly string[]): string[] {
  const allowed = new Set(apiActions);
  const out: string[] = [];
  for (const action of apiActions) {
    const a = VM_ACTION_COMMANDS.find((c) => c.verb === action || c.hard?.action === action);
    const words = !a ? action : a.hard === undefined ? a.verb
      : allowed.has(a.verb) && allowed.has(a.hard.action) ? `${a.verb} [--hard]`
      : a.verb === action ? a.verb : `${a.verb} --hard`;
    if (!out.includes(words)) out.push(words);
  }
  return out;
}
