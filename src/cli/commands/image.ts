import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import type { NuboClient } from '../../client/nubo-client.js';
import { RemoteError } from '../../client/remote-error.js';
import { registerImageFormatSchema, type ImageView, type RegisterImageBody } from '../../contract/image-schemas.js';
import { parseS3Location, type ImageFromObjectBody } from '../../contract/image-object-schemas.js';
import { formatOfFileName } from '../../storage/format-of-file-name.js';
import { UsageError } from '../usage-error.js';
import { apiCommand, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { fmtBytes, fmtMiB, fmtTime, printJson, printTable } from '../output.js';
import { DEFAULT_IMAGE_MIN_MEMORY_MIB, MIN_VM_MEMORY_MIB } from '../../core/memory-minimum.js';
import { runCliAction } from '../run-cli-action.js';

/** `nubo image list|register|delete` (beside `image build-tiny`); `register` also takes vmdk and vdi disks, and S3 objects (`--from-s3`). */
export function registerImageCommands(image: Command): void {
  connectionOptions(apiCommand(image, 'list', 'list the images in the controller\'s image store')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const images = await (await connect(o)).listImages({ signal });
      if (o.json) return printJson(images);
      printImages(images);
    }),
  );

  const register = apiCommand(
    image,
    'register <name> [file]',
    'upload a local file into the image store under a name (with --import: a file in the controller\'s --image-import-dir instead, read there; ' +
      'with --from-s3 BUCKET/KEY: an object of one of your S3 buckets, copied by the controller). ' +
      'Disk images are checked with qemu-img (no backing files); vmdk and vdi disks are converted to qcow2',
  );
  register.option('--import', '<file> is a path on the controller\'s machine, under the directory it was started with (--image-import-dir); nothing is uploaded');
  register.option('--from-s3 <bucket/key>', 'make the image of an S3 object you own (s3://bucket/key also taken): a disk (qcow2, raw, vmdk, vdi); no <file> then, nothing is uploaded');
  register.addOption(
    new Option('--format <format>', 'what the file is (default: the disk format the controller detects, which must agree with a .qcow2/.raw/.vmdk/.vdi extension; kernel and initrd must be given)').choices(
      registerImageFormatSchema.options,
    ),
  );
  register.option(
    '--min-memory <MiB>',
    `the least memory its guest boots with (as Glance's min_ram): VMs booting from it are refused less, at create and resize; default ${DEFAULT_IMAGE_MIN_MEMORY_MIB} (measure it: boot it with decreasing memory)`,
    intArg(MIN_VM_MEMORY_MIB, 1024 * 1024, 'MiB'),
  );
  register.addHelpText('after', `
From S3 (the controller's S3 listener, port 7491 by default; keys from
nubo user access-key create):

  aws --endpoint-url http://127.0.0.1:7491 s3 cp disk.qcow2 s3://my-bucket/disk.qcow2
  nubo image register my-disk --from-s3 my-bucket/disk.qcow2

The object is copied into the image store and checked as an uploaded file is;
later changes to the object do not touch the image.`);
  connectionOptions(register).action(
      runCliAction(async (signal, name: string, path: string | undefined, o: ApiOpts & { format?: RegisterImageBody['format']; import?: boolean; fromS3?: string; minMemory?: number }) => {
        const api = await connect(o);
        const minMemory = o.minMemory !== undefined ? { minMemoryMiB: o.minMemory } : {};
        const format = { ...(o.format ? { format: o.format } : {}), ...minMemory };
        let img: ImageView;
        if (o.fromS3 !== undefined) {
          img = await api.registerImageFromS3({ ...fromS3Body(name, o.fromS3, path, o), ...minMemory }, { signal });
        } else {
          if (path === undefined) throw new UsageError('INVALID_ARGUMENT', 'give the <file> to register, or --from-s3 BUCKET/KEY');
          img = o.import
            ? await api.registerImage({ name, path: resolve(path), ...format }, { signal })
            : await uploadWithProgress(api, { name, file: path, ...uploadFormat(path, o.format), ...minMemory }, signal, o.json === true).catch(hintAtExtension(path, o.format));
        }
        if (o.json) return printJson(img);
        printImages([img]);
      }),
    );

  connectionOptions(apiCommand(image, 'delete <image>', 'delete an image from the store (by id, name or the start of its id); refused while a template or a VM that is not terminated uses it'), { json: false }).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      await (await connect(o)).deleteImage(ref, { signal });
      process.stdout.write(`deleted image ${ref}\n`);
    }),
  );
}

/**
 * The format an upload claims: --format, else what the file's extension says. The
 * controller sees only the bytes and the name the image gets, so the claim of a
 * `.vmdk` that is really raw has to travel with the upload, as it does with a path
 * (`--import`) or an S3 key, for the mismatch to be refused rather than registered raw.
 */
function uploadFormat(path: string, format: RegisterImageBody['format'] | undefined): { format?: RegisterImageBody['format'] } {
  const claimed = format ?? formatOfFileName(path);
  return claimed !== undefined ? { format: claimed } : {};
}

/** A format refused that the user never typed came from the file's name: say so, and how to register it as what it is. */
function hintAtExtension(path: string, format: RegisterImageBody['format'] | undefined): (err: unknown) => never {
  return (err) => {
    const claimed = formatOfFileName(path);
    const issues = err instanceof RemoteError ? err.details['issues'] : undefined;
    if (format === undefined && claimed !== undefined && Array.isArray(issues) && issues.some((i: { field?: unknown }) => i.field === 'format')) {
      const m = /qemu-img detects (\w+)/.exec(err instanceof Error ? err.message : '');
      const why = `${path} is named as a ${claimed} disk but is not one${m ? ` (qemu-img detects ${m[1]}: give --format ${m[1]}, or rename it)` : ''}`;
      throw new RemoteError(400, 'VALIDATION_FAILED', `invalid image: format: ${why}`, { issues: [{ field: 'format', message: why }] });
    }
    throw err;
  };
}

/** The request of `register --from-s3`: refused before anything is sent when it also names a file, --import or a format S3 images cannot have. */
function fromS3Body(name: string, location: string, path: string | undefined, o: { format?: RegisterImageBody['format']; import?: boolean }): ImageFromObjectBody {
  if (path !== undefined || o.import === true) throw new UsageError('INVALID_ARGUMENT', '--from-s3 takes no <file> and no --import: the image is made of the S3 object');
  const at = parseS3Location(location);
  if (at === undefined) throw new UsageError('INVALID_ARGUMENT', `--from-s3: ${JSON.stringify(location)} is not BUCKET/KEY of an S3 object`);
  const format = o.format;
  if (format !== undefined && format !== 'qcow2' && format !== 'raw' && format !== 'vmdk' && format !== 'vdi') {
    throw new UsageError('INVALID_ARGUMENT', `--format ${format}: an image from S3 is a disk (qcow2, raw, vmdk or vdi); upload a kernel or initrd as a file`);
  }
  return { name, ...at, ...(format !== undefined ? { format } : {}) };
}

async function uploadWithProgress(api: NuboClient, input: Parameters<NuboClient['uploadImage']>[0], signal: AbortSignal, quiet: boolean): Promise<ImageView> {
  // The bar goes to stderr, so `--json` output stays clean.
  const bar = new cliProgress.SingleBar({ format: `uploading ${input.name} [{bar}] {percentage}% {value}/{total} MiB`, hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  try {
    return await api.uploadImage(input, {
      signal,
      onProgress: (sent, total) => {
        if (quiet) return;
        const mib = (n: number): number => Math.round((n / 2 ** 20) * 10) / 10;
        if (!started) bar.start(mib(total), mib(sent));
        else bar.update(mib(sent));
        started = true;
      },
    });
  } finally {
    if (started) bar.stop();
  }
}

function printImages(images: readonly ImageView[]): void {
  printTable(
    ['ID', 'NAME', 'FORMAT', 'SIZE', 'VIRTUAL', 'MIN MEMORY', 'OWNER', 'CREATED'],
    images.map((i) => [i.id, i.name, i.format, fmtBytes(i.sizeBytes), fmtBytes(i.virtualSizeBytes), i.minMemoryMiB !== undefined ? fmtMiB(i.minMemoryMiB) : '-', i.owner, fmtTime(i.createdAt)]),
  );
}
