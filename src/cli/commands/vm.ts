import { UsageError } from '../usage-error.js';
import { Option, type Command } from 'commander';
import type { CreateVmBody } from '../../contract/vm-schemas.js';
import { VM_STATES } from '../../core/vm-state.js';
import { apiCommand, collect, connect, connectionOptions, durationArg, intArg, readInputFile, waitOptions, type ApiOpts, type WaitOpts } from '../api-command.js';
import { fmtTime, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { WAIT_TARGET, waitForVm } from '../wait-for-vm.js';
import { registerVmActions } from './vm-actions.js';
import { registerVmMigrate } from './vm-migrate.js';
import { registerVmNic } from './vm-nic.js';
import { registerVmResize } from './vm-resize.js';
import { registerVmDiskMove } from './vm-disk-move.js';
import { registerVmSnapshot } from './vm-snapshot.js';
import { registerVmCapture } from './vm-capture.js';
import { registerVmSsh } from './vm-ssh.js';
import { registerVmTop } from './top.js';
import { printVmDetail, printVms } from './vm-output.js';
import { MIN_VM_MEMORY_MIB } from '../../core/memory-minimum.js';
import { attachConsole } from '../attach-console.js';

interface CreateOpts extends ApiOpts, WaitOpts {
  template: string;
  name?: string;
  vcpus?: number;
  memory?: number;
  userDataFile?: string;
  requirements?: string;
  datastore?: 'local' | 'shared';
  nic?: string[];
  ha?: boolean;
  host?: string;
  cluster?: string;
}

/** `nubo vm create|list|show|console|purge|resize`, the power actions, `migrate`, `nic attach|detach`, `disk-move`, `snapshot`, `save-as`, `clone`, `export` and `ssh`. */
export function registerVmCommands(program: Command): void {
  const vm = program.command('vm').description('virtual machines');

  const create = waitOptions(
    apiCommand(vm, 'create', 'create a VM from a template; the scheduler places it and it boots')
      .requiredOption('--template <template>', 'template, by name or id')
      .option('--name <name>', 'VM name (default: chosen by the controller)')
      .option('--vcpus <n>', 'virtual CPUs (default: the template\'s)', intArg(1, 64, 'vCPUs'))
      .option('--memory <MiB>', `memory in MiB (default: the template's), ${MIN_VM_MEMORY_MIB} or more and at least the minimum of the template's images (image list: MIN MEMORY)`, intArg(MIN_VM_MEMORY_MIB, 1024 * 1024, 'MiB'))
      .option('--user-data-file <file>', 'user data for the config drive, read from a file (default: the template\'s)')
      .option('--requirements <expr>', 'placement requirements, e.g. \'free_memory_mb > 512\' (default: the template\'s)')
      .addOption(new Option('--datastore <datastore>', 'where the VM\'s disk lives: the host\'s own datastore or the shared one every host sees (default: the template\'s)').choices(['local', 'shared']))
      .option('--nic <network>', 'a NIC on this network, or `none` for a NIC on no network (repeatable, in order; replaces the template\'s NICs)', collect)
      .option('--cluster <cluster>', 'place the VM in this cluster (an EC2 availability zone; default: the template\'s, else any)')
      .option('--ha', 'high availability: restarted on another host when its host fails and is fenced (its disk must be on the shared datastore; else it is reported lost)')
      .option('--host <host>', 'admins: deploy on this host (name or id) instead of the one the scheduler would choose — once, not a lasting requirement (later placements and migrations may move the VM); the host must pass every placement filter, else 409'),
    WAIT_TARGET.create,
  );
  connectionOptions(create).action(
    runCliAction(async (signal, o: CreateOpts) => {
      const body: CreateVmBody = {
        template: o.template,
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.vcpus !== undefined ? { vcpus: o.vcpus } : {}),
        ...(o.memory !== undefined ? { memoryMiB: o.memory } : {}),
        ...(o.userDataFile !== undefined ? { userData: await readInputFile(o.userDataFile, '--user-data-file') } : {}),
        ...(o.requirements !== undefined ? { requirements: o.requirements } : {}),
        ...(o.datastore !== undefined ? { datastore: o.datastore } : {}),
        ...(o.nic !== undefined ? { nics: o.nic.map((n) => (n === 'none' ? {} : { network: n })) } : {}),
        ...(o.ha === true ? { ha: true } : {}),
        ...(o.host !== undefined ? { host: o.host } : {}),
        ...(o.cluster !== undefined ? { cluster: o.cluster } : {}),
      };
      const client = await connect(o);
      const created = await client.createVm(body, { signal });
      if (!o.wait) return o.json ? printJson(created) : printVms([created]);
      const done = await waitForVm({ client, id: created.id, target: WAIT_TARGET.create, initial: created.state, signal, timeoutMs: o.timeout * 1000, intervalMs: o.pollInterval });
      return o.json ? printJson(done) : printVms([done]);
    }),
  );

  const list = apiCommand(vm, 'list', 'list VMs')
    .addOption(new Option('--state <state>', 'only VMs in this state').choices(VM_STATES))
    .option('--host <host>', 'only VMs on this host');
  connectionOptions(list).action(
      runCliAction(async (signal, o: ApiOpts & { state?: string; host?: string }) => {
        const filter = { ...(o.state !== undefined ? { state: o.state } : {}), ...(o.host !== undefined ? { host: o.host } : {}) };
        const vms = await (await connect(o)).listVms(filter, { signal });
        if (o.json) return printJson(vms);
        printVms(vms);
      }),
    );

  connectionOptions(apiCommand(vm, 'show <id>', 'show one VM with its state history: by id, the start of its id, or name (with no live VM of that name, the last terminated one)')).action(
    runCliAction(async (signal, id: string, o: ApiOpts) => {
      const v = await (await connect(o)).getVm(id, { signal });
      if (o.json) return printJson(v);
      printVmDetail(v);
    }),
  );

  connectionOptions(
    apiCommand(vm, 'console <id>', 'print the VM\'s serial console log (its last 64 KiB: every boot, resume and migration, the earliest first), or attach to it with --attach')
      .option('--attach', 'interactive: keystrokes go to the guest\'s serial port, its output shows live; Ctrl-] detaches')
      .addHelpText('after', '\nOn the nubo-tiny guest, press Enter once attached for a root shell. Only the VM\'s owner or an admin may attach.'),
    { json: false },
  ).action(
    runCliAction(async (signal, id: string, o: ApiOpts & { attach?: boolean }) => {
      const client = await connect(o);
      if (o.attach === true) return attachConsole(client, id, signal);
      const text = await client.vmConsole(id, { signal });
      process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
      return undefined;
    }),
  );

  const purge = apiCommand(vm, 'purge', 'delete the records of terminated VMs (yours; an admin\'s: everyone\'s) with their state history and migration records; the event log keeps their state changes')
    .option('--older-than <duration>', 'only VMs terminated at least this long ago: 90s, 30m, 12h, 7d (default: every terminated VM)', durationArg);
  connectionOptions(purge).action(
    runCliAction(async (signal, o: ApiOpts & { olderThan?: number }) => {
      const r = await (await connect(o)).purgeVms(o.olderThan !== undefined ? { olderThanS: o.olderThan } : {}, { signal });
      if (o.json) return printJson(r);
      printTable(['ID', 'NAME', 'OWNER', 'TERMINATED'], r.purged.map((v) => [v.id, v.name, v.owner, fmtTime(v.terminatedAt)]));
      process.stdout.write(`purged ${r.purged.length} terminated VM${r.purged.length === 1 ? '' : 's'}\n`);
    }),
  );

  registerVmActions(vm);
  registerVmMigrate(vm);
  registerVmNic(vm);
  registerVmResize(vm);
  registerVmDiskMove(vm);
  registerVmSnapshot(vm);
  registerVmCapture(vm);
  registerVmSsh(vm);
  registerVmTop(vm);
  connectionOptions(apiCommand(vm, 'ha <vm> <on|off>', 'turn high availability on or off: an HA VM is restarted on another host once its failed host is fenced')).action(
    runCliAction(async (signal, ref: string, onOff: string, o: ApiOpts) => {
      if (onOff !== 'on' && onOff !== 'off') throw new UsageError('INVALID_ARGUMENT', `expected on or off, not ${JSON.stringify(onOff)}`);
      const r = await (await connect(o)).setVmHa(ref, onOff === 'on', { signal });
      if (o.json) return printJson(r);
      process.stdout.write(`VM ${r.vmId}: HA ${r.ha ? 'on' : 'off'}\n`);
    }),
  );
}
