import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { SaveAsView } from '../../contract/capture-schemas.js';
import { apiCommand, connect, connectionOptions, outputFile, outputFileArgs, waitOptions, type ApiOpts, type WaitOpts } from '../api-command.js';
import { fmtBytes, printFields, printJson } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { startBusyProgress, startByteProgress } from '../transfer-progress.js';
import { WAIT_TARGET, waitForVm } from '../wait-for-vm.js';
import { printVms } from './vm-output.js';

const NAME_HELP = '1-63 letters, digits and ._-, starting with a letter or digit';
/** How long save-as and clone wait before they say a copy is under way: the server's refusals come well within it. */
const REFUSAL_GRACE_MS = 1000;
const STATES = 'the VM may be running (a crash-consistent copy taken while it runs on), powered off or suspended';

function printSaved(s: SaveAsView): void {
  printFields([
    ['image', `${s.image.name} (${s.image.id})`],
    ['format', s.image.format],
    ['size', `${fmtBytes(s.image.sizeBytes)} (virtual ${fmtBytes(s.image.virtualSizeBytes)})`],
    ['owner', s.image.owner],
    ...(s.template !== undefined ? [['template', `${s.template.name} (${s.template.id})`] as const] : []),
  ]);
}

/** `nubo vm save-as|clone|export`: images, templates, VMs and OVAs made from a copy of a VM's disk as it is now. */
export function registerVmCapture(vm: Command): void {
  const saveAs = apiCommand(vm, 'save-as <vm>', `save the VM's disk as it is now as a standalone image (and a template of the VM on it), owned by the VM's owner; ${STATES}`)
    .requiredOption('--image <name>', `name of the new image (${NAME_HELP})`)
    .option('--template <name>', 'also create a template of this name with the VM\'s vCPUs, memory, boot settings, NIC networks, user data and datastore on the new image');
  connectionOptions(saveAs).action(
    runCliAction(async (signal, ref: string, o: ApiOpts & { image: string; template?: string }) => {
      const client = await connect(o);
      const progress = startBusyProgress(`copying the disk of ${ref}`, { afterMs: REFUSAL_GRACE_MS });
      const s = await client.saveVmAs(ref, { image: o.image, ...(o.template !== undefined ? { template: o.template } : {}) }, { signal }).finally(() => progress.stop());
      if (o.json) return printJson(s);
      printSaved(s);
    }),
  );

  const clone = waitOptions(
    apiCommand(vm, 'clone <vm> <name>', `create your VM <name> from a copy of the VM's disk as it is now (the image <name>-disk) with its settings and fresh addresses on its networks; ${STATES}`),
    WAIT_TARGET.create,
  );
  connectionOptions(clone).action(
    runCliAction(async (signal, ref: string, name: string, o: ApiOpts & WaitOpts) => {
      const client = await connect(o);
      const progress = startBusyProgress(`copying the disk of ${ref}`, { afterMs: REFUSAL_GRACE_MS });
      const created = await client.cloneVm(ref, { name }, { signal }).finally(() => progress.stop());
      if (!o.wait) return o.json ? printJson(created) : printVms([created]);
      const done = await waitForVm({ client, id: created.id, target: WAIT_TARGET.create, initial: created.state, signal, timeoutMs: o.timeout * 1000, intervalMs: o.pollInterval });
      return o.json ? printJson(done) : printVms([done]);
    }),
  );

  const exp = outputFileArgs(
    apiCommand(vm, 'export <vm>', `download the VM with its disk as it is now as an OVA (OVF 1.x descriptor, SHA256 manifest, streamOptimized vmdk disk); ${STATES}`),
    'the .ova file to write',
  );
  connectionOptions(exp, { json: false }).action(
    runCliAction(async (signal, ref: string, positional: string | undefined, o: ApiOpts & { output?: string; force?: boolean }) => {
      const file = outputFile(positional, o.output, o.force === true);
      const client = await connect(o);
      const progress = startByteProgress(`exporting VM ${ref}`);
      const { bytes } = await client.exportVm(ref, resolve(file), { signal, overwrite: o.force === true, onProgress: (b, t) => progress.update(b, t) }).finally(() => progress.stop());
      process.stdout.write(`exported VM ${ref} to ${file} (${fmtBytes(bytes)})\n`);
    }),
  );
}
