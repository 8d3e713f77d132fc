import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { registerImageFormatSchema, type ImageView, type RegisterImageBody } from '../../controller/api/api-schemas.js';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { fmtBytes, fmtTime, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

/** `nubo image list|register|delete` (beside `image build-tiny`); `register` also takes vmdk and vdi disks. */
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
    'register <name> <path>',
    'copy a file into the image store under a name; the controller reads <path> on its own machine (a relative path is made absolute here). ' +
      'Disk images are checked with qemu-img (no backing files); vmdk and vdi disks are converted to qcow2',
  );
  register.addOption(
    new Option('--format <format>', 'what the file is (default: the disk format the controller detects, which must agree with a .qcow2/.raw/.vmdk/.vdi extension; kernel and initrd must be given)').choices(
      registerImageFormatSchema.options,
    ),
  );
  connectionOptions(register).action(
      runCliAction(async (signal, name: string, path: string, o: ApiOpts & { format?: RegisterImageBody['format'] }) => {
        const img = await (await connect(o)).registerImage({ name, path: resolve(path), ...(o.format ? { format: o.format } : {}) }, { signal });
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

function printImages(images: readonly ImageView[]): void {
  printTable(
    ['ID', 'NAME', 'FORMAT', 'SIZE', 'VIRTUAL', 'OWNER', 'CREATED'],
    images.map((i) => [i.id, i.name, i.format, fmtBytes(i.sizeBytes), fmtBytes(i.virtualSizeBytes), i.owner, fmtTime(i.createdAt)]),
  );
}
