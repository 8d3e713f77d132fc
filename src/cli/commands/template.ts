import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import type { TemplateBody, TemplateView } from '../../contract/template-schemas.js';
import { apiCommand, byIdOrName, collect, connect, connectionOptions, intArg, outputFile, outputFileArgs, readInputFile, type ApiOpts } from '../api-command.js';
import { dash, fmtBytes, fmtMiB, fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';
import type { NuboClient } from '../../client/nubo-client.js';
import { OvfError } from '../../storage/ovf/ovf-error.js';
import { isPackageMemberName } from '../../storage/ovf/package-member-name.js';
import { packOva } from '../../storage/ovf/pack-ova.js';
import { parseOvfEnvelope } from '../../storage/ovf/parse-ovf-envelope.js';
import { MIN_VM_MEMORY_MIB } from '../../core/memory-minimum.js';
import { startByteProgress } from '../transfer-progress.js';

interface CreateOpts extends ApiOpts {
  name: string;
  image: string;
  vcpus: number;
  memory: number;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  diskMode?: 'overlay' | 'copy';
  cpuModel?: string;
  userDataFile?: string;
  requirements?: string;
  nic?: string[];
  cluster?: string;
  burst?: string;
}

/** `nubo template list|show|create|delete|import|export`. */
export function registerTemplateCommands(program: Command): void {
  const template = program.command('template').description('VM templates: image, size, boot options and NICs that `vm create` starts from; OVF/OVA import and export');

  connectionOptions(apiCommand(template, 'list', 'list templates')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const templates = await (await connect(o)).listTemplates({ signal });
      if (o.json) return printJson(templates);
      printTable(
        ['ID', 'NAME', 'IMAGE', 'VCPUS', 'MEMORY', 'DISK', 'NICS', 'CREATED'],
        templates.map((t) => [t.id, t.name, t.image, t.vcpus, fmtMiB(t.memoryMiB), t.diskMode, t.nics.length, fmtTime(t.createdAt)]),
      );
    }),
  );

  connectionOptions(apiCommand(template, 'show <template>', 'show one template, by id or name')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const client = await connect(o);
      const t = await byIdOrName(ref, (id) => client.getTemplate(id, { signal }), () => client.listTemplates({ signal }));
      if (o.json) return printJson(t);
      printTemplate(t);
    }),
  );

  const create = apiCommand(template, 'create', 'create a template')
    .requiredOption('--name <name>', 'template name (letters, digits and ._-)')
    .requiredOption('--image <image>', 'root disk image, by name or id')
    .option('--vcpus <n>', 'virtual CPUs', intArg(1, 64, 'vCPUs'), 1)
    .option('--memory <MiB>', `memory in MiB, ${MIN_VM_MEMORY_MIB} or more and at least the minimum of its images (image list: MIN MEMORY)`, intArg(MIN_VM_MEMORY_MIB, 1024 * 1024, 'MiB'), 256)
    .option('--kernel <image>', 'kernel image (name or id, format kernel) for direct kernel boot')
    .option('--initrd <image>', 'initrd image (name or id, format initrd) for direct kernel boot')
    .option('--cmdline <args>', 'kernel command line for direct kernel boot')
    .addOption(new Option('--disk-mode <mode>', 'root disk as a copy-on-write overlay of the image, or a full copy (default: overlay)').choices(['overlay', 'copy']))
    .option('--cpu-model <model>', 'QEMU CPU model (default: qemu64)')
    .option('--user-data-file <file>', 'user data for the VM\'s config drive, read from a file')
    .option('--requirements <expr>', 'placement requirements, e.g. \'free_memory_mb > 512 && cpu_model == "qemu64"\'')
    .option('--nic <network>', 'add a NIC on this network (repeatable; without it the template gets one NIC with no network set)', collect)
    .option('--cluster <cluster>', 'place its VMs in this cluster (`nubo cluster list`; default any)')
    .option('--burst <cloud|any>', 'its VMs may burst to this remote cloud (`nubo cloud list`), or to the cheapest that takes them (any), when no local host takes them and the controller\'s --burst-policy allows');
  connectionOptions(create).action(
      runCliAction(async (signal, o: CreateOpts) => {
        const body: TemplateBody = {
          name: o.name,
          image: o.image,
          vcpus: o.vcpus,
          memoryMiB: o.memory,
          ...(o.kernel !== undefined ? { kernel: o.kernel } : {}),
          ...(o.initrd !== undefined ? { initrd: o.initrd } : {}),
          ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
          ...(o.diskMode !== undefined ? { diskMode: o.diskMode } : {}),
          ...(o.cpuModel !== undefined ? { cpuModel: o.cpuModel } : {}),
          ...(o.userDataFile !== undefined ? { userData: await readInputFile(o.userDataFile, '--user-data-file') } : {}),
          ...(o.requirements !== undefined ? { requirements: o.requirements } : {}),
          ...(o.nic !== undefined ? { nics: o.nic.map((network) => ({ network })) } : {}),
          ...(o.cluster !== undefined ? { cluster: o.cluster } : {}),
          ...(o.burst !== undefined ? { burst: o.burst } : {}),
        };
        const t = await (await connect(o)).createTemplate(body, { signal });
        if (o.json) return printJson(t);
        printTemplate(t);
      }),
    );
  const update = apiCommand(template, 'update <template>', 'change a template in place (yours, or any as an admin): its burst flag; VMs made from it before keep theirs')
    .option('--burst <cloud|any>', 'its VMs may burst to this remote cloud, or to the cheapest that takes them (any)')
    .option('--no-burst', 'its VMs do not burst (unless a cloud takes every VM: `nubo cloud add --burst when-full`)');
  connectionOptions(update).action(
    runCliAction(async (signal, ref: string, o: ApiOpts & { burst?: string | false }) => {
      if (o.burst === undefined) throw new UsageError('BAD_FLAG', 'say what changes: --burst CLOUD|any, or --no-burst');
      const t = await (await connect(o)).updateTemplate(ref, { burst: o.burst === false ? null : o.burst }, { signal });
      if (o.json) return printJson(t);
      printTemplate(t);
    }),
  );
  connectionOptions(apiCommand(template, 'delete <template>', 'delete a template (by id, name or the start of its id; yours, or any as an admin); VMs made from it keep their settings, its image stays'), { json: false }).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      await (await connect(o)).deleteTemplate(ref, { signal });
      process.stdout.write(`deleted template ${ref}\n`);
    }),
  );
  registerTemplatePortCommands(template);
}

/** `nubo template import|export`: OVF 1.x packages. */
function registerTemplatePortCommands(template: Command): void {
  const imp = apiCommand(
    template,
    'import <file>',
    'import an OVF 1.x package (.ova, or .ovf with its files beside it) as a template (admin): the local <file> is uploaded (an .ovf is first packed into an OVA with the files it references); ' +
      'with --import the controller reads <file> on its own machine instead. The disk becomes the image <name>-disk (vmdk and vdi converted to qcow2), vCPUs and memory come from the OVF',
  )
    .option('--name <name>', 'template name (default: the OVF\'s virtual system name)')
    .option('--import', '<file> is a path on the controller\'s machine, under the directory it was started with (--image-import-dir; a relative path is made absolute here); nothing is uploaded');
  connectionOptions(imp).action(
    runCliAction(async (signal, file: string, o: ApiOpts & { name?: string; import?: boolean }) => {
      const api = await connect(o);
      const name = o.name !== undefined ? { name: o.name } : {};
      const t = o.import ? await api.importTemplate({ path: resolve(file), ...name }, { signal }) : await uploadPackage(api, file, name, signal);
      if (o.json) return printJson(t);
      printTemplate(t);
    }),
  );

  const exp = outputFileArgs(
    apiCommand(template, 'export <template>', 'download a template (id or name) as an OVA: OVF 1.x descriptor, SHA256 manifest, streamOptimized vmdk disk'),
    'the .ova file to write',
  );
  connectionOptions(exp, { json: false }).action(
    runCliAction(async (signal, ref: string, positional: string | undefined, o: ApiOpts & { output?: string; force?: boolean }) => {
      const file = outputFile(positional, o.output, o.force === true);
      const client = await connect(o);
      const progress = startByteProgress(`exporting template ${ref}`);
      const { bytes } = await client.exportTemplate(ref, resolve(file), { signal, overwrite: o.force === true, onProgress: (b, t) => progress.update(b, t) }).finally(() => progress.stop());
      process.stdout.write(`exported template ${ref} to ${file} (${fmtBytes(bytes)})\n`);
    }),
  );
}

/** Uploads a local .ova, or an .ovf packed with its files into a temporary OVA first (removed afterwards), with a progress bar. */
async function uploadPackage(api: NuboClient, file: string, name: { name?: string }, signal: AbortSignal): Promise<TemplateView> {
  const tmp = /\.ovf$/i.test(file) ? await mkdtemp(join(tmpdir(), 'nubo-ova-')) : undefined;
  try {
    const ova = tmp === undefined ? file : await packOvfFile(file, tmp, signal);
    const progress = startByteProgress(`uploading ${basename(file)}`);
    return await api.uploadTemplate({ file: ova, ...name }, { signal, onProgress: (sent, total) => progress.update(sent, total) }).finally(() => progress.stop());
  } finally {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }
}

/** `ovf` and the files it references (and its .mf, if there is one) beside it, as an OVA in `dir`. */
async function packOvfFile(ovf: string, dir: string, signal: AbortSignal): Promise<string> {
  const src = dirname(ovf);
  const descriptor = basename(ovf);
  let files: readonly string[];
  try {
    files = parseOvfEnvelope((await readInputFile(ovf, 'template import')).replace(/^\uFEFF/, '')).files.map((f) => f.href);
  } catch (err) {
    if (err instanceof OvfError) throw new UsageError('BAD_INPUT_FILE', `template import ${ovf}: ${err.message}`, { path: ovf });
    throw err;
  }
  const mf = `${descriptor.slice(0, -4)}.mf`;
  const hasMf = await stat(join(src, mf)).then((s) => s.isFile(), () => false);
  for (const f of files) {
    const ok = isPackageMemberName(f) && (await stat(join(src, f)).then((s) => s.isFile(), () => false));
    if (!ok) throw new UsageError('BAD_INPUT_FILE', `template import ${ovf}: it references ${JSON.stringify(f)}, which is not a file beside it`, { path: ovf });
  }
  const ova = join(dir, `${descriptor.slice(0, -4)}.ova`);
  // Symlinked files are packed as what they point to: an OVA holds plain files only.
  await pipeline(packOva(src, [descriptor, ...(hasMf ? [mf] : []), ...files], { follow: true }), createWriteStream(ova), { signal });
  return ova;
}

function printTemplate(t: TemplateView): void {
  printFields([
    ['id', t.id],
    ['name', t.name],
    ['owner', t.owner],
    ['image', t.image],
    ['disk mode', t.diskMode],
    ['vcpus', t.vcpus],
    ['memory', fmtMiB(t.memoryMiB)],
    ['cpu model', t.cpuModel],
    ['kernel', dash(t.kernel)],
    ['initrd', dash(t.initrd)],
    ['cmdline', dash(t.cmdline)],
    ['nics', t.nics.map((n, i) => `nic${i}:${n.network ?? '-'}`).join(' ') || '-'],
    ['requirements', dash(t.requirements)],
    ['cluster', t.cluster ?? 'any'],
    ['burst', t.burst ?? '-'],
    ['user data', t.userData === undefined ? '-' : `${Buffer.byteLength(t.userData)} bytes`],
    ['created', fmtTime(t.createdAt)],
  ]);
}
