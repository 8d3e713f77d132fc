import { InvalidArgumentError, type Command } from 'commander';
import type { CloudView } from '../../contract/cloud-schemas.js';
import { apiCommand, connect, connectionOptions, intArg, readInputFile, type ApiOpts } from '../api-command.js';
import { dash, fmtAge, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';

interface AddOpts extends ApiOpts {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretFile: string;
  instanceType?: Record<string, string>;
  image?: Record<string, string>;
  capacity: number;
  price?: number;
  burst?: 'never' | 'when-full';
  s3Endpoint?: string;
  imageBucket?: string;
}

/** `KEY=VALUE`, repeatable, into one map (a key given twice is an error: which one was meant?). */
function pairArg(flag: string): (value: string, previous?: Record<string, string>) => Record<string, string> {
  return (value, previous = {}) => {
    const i = value.indexOf('=');
    if (i <= 0 || i === value.length - 1) throw new InvalidArgumentError(`expected KEY=VALUE for ${flag}, not ${JSON.stringify(value)}.`);
    const key = value.slice(0, i);
    if (Object.hasOwn(previous, key)) throw new InvalidArgumentError(`${key} is given twice.`);
    return { ...previous, [key]: value.slice(i + 1) };
  };
}

function priceArg(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a price of 0 or more.');
  return n;
}

function burstArg(value: string): 'never' | 'when-full' {
  if (value !== 'never' && value !== 'when-full') throw new InvalidArgumentError('expected when-full or never.');
  return value;
}

const health = (c: CloudView, now: number): string => (c.reachable === null ? 'unchecked' : c.reachable ? `ok (${fmtAge(c.checkedAt, now)})` : `UNREACHABLE (${fmtAge(c.checkedAt, now)})`);

/** `nubo cloud add|list|show|remove`: remote EC2 clouds VMs burst to (admin). */
export function registerCloudCommands(program: Command): void {
  const cloud = program.command('cloud').description('remote EC2 clouds VMs burst to when no local host takes them, or when they ask for one (admin; README: Hybrid cloud)');

  const add = apiCommand(cloud, 'add <name>', 'register a remote EC2 cloud; VMs ask for it with the requirement cloud == "<name>"')
    .requiredOption('--endpoint <url>', 'its EC2 endpoint, e.g. https://ec2.eu-west-1.amazonaws.com or another nubo\'s --ec2-listen')
    .requiredOption('--region <region>', 'the region requests are signed for')
    .requiredOption('--access-key-id <id>', 'the access key nubo signs with')
    .requiredOption('--secret-file <file>', 'file holding the secret access key (stored sealed; not on the command line, where ps shows it)')
    .requiredOption('--instance-type <size=type>', 'a nubo size <vcpus>x<memoryMiB> and the instance type it runs as there, repeatable (e.g. 1x128=t3.nano)', pairArg('--instance-type'))
    .requiredOption('--image <image=ami>', 'a nubo image (name or id) and its AMI there, repeatable (e.g. debian=ami-0123456789abcdef0)', pairArg('--image'))
    .requiredOption('--capacity <vms>', 'at most this many VMs there at once', intArg(1, 100_000, 'VMs'))
    .option('--price <per-hour>', 'what a VM-hour there costs (shown)', priceArg)
    .option('--burst <policy>', 'when-full (default): VMs no local host takes go there (when the controller\'s --burst-policy allows); never: only VMs that ask for it (requirements cloud == "NAME", or a template made with --burst NAME or any)', burstArg)
    .option('--s3-endpoint <url>', 'the cloud\'s S3 endpoint: images with no --image entry are uploaded there (multipart), registered and remembered (with --image-bucket)')
    .option('--image-bucket <bucket>', 'the bucket images are uploaded to (made if missing)');
  connectionOptions(add).action(
    runCliAction(async (signal, name: string, o: AddOpts) => {
      const secretAccessKey = (await readInputFile(o.secretFile, '--secret-file')).trim();
      const c = await (await connect(o)).addCloud({
        name, endpoint: o.endpoint, region: o.region, accessKeyId: o.accessKeyId, secretAccessKey, instanceTypes: o.instanceType ?? {}, images: o.image ?? {}, capacity: o.capacity,
        ...(o.price !== undefined ? { pricePerHour: o.price } : {}), ...(o.burst !== undefined ? { burst: o.burst } : {}),
        ...(o.s3Endpoint !== undefined ? { s3Endpoint: o.s3Endpoint } : {}), ...(o.imageBucket !== undefined ? { imageBucket: o.imageBucket } : {}),
      }, { signal });
      if (o.json) return printJson(c);
      process.stdout.write(`cloud ${c.name} (${c.id}) registered: ${c.endpoint}, up to ${c.capacity} VMs, bursts ${c.burst}\n`);
    }),
  );

  connectionOptions(apiCommand(cloud, 'list', 'list remote clouds with their VMs, limit, price and the endpoint\'s last check')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const clouds = await (await connect(o)).listClouds({ signal });
      if (o.json) return printJson(clouds);
      const now = Date.now();
      printTable(['ID', 'NAME', 'ENDPOINT', 'REGION', 'VMS', 'BURST', 'PRICE/H', 'HEALTH'], clouds.map((c) => [c.id, c.name, c.endpoint, c.region, `${c.vms}/${c.capacity}`, c.burst, c.pricePerHour, health(c, now)]));
    }),
  );

  connectionOptions(apiCommand(cloud, 'show <cloud>', 'show one remote cloud (by id or name) with its maps and its VMs\' instances')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const c = await (await connect(o)).getCloud(ref, { signal });
      if (o.json) return printJson(c);
      printFields([
        ['id', c.id], ['name', c.name], ['endpoint', c.endpoint], ['region', c.region], ['access key', c.accessKeyId], ['VMs', `${c.vms} of ${c.capacity}`], ['burst', c.burst], ['price/hour', c.pricePerHour],
        ['health', health(c, Date.now())], ['last error', dash(c.error)],
        ['sizes', Object.entries(c.instanceTypes).map(([k, v]) => `${k}=${v}`).join(', ')], ['images', Object.entries(c.images).map(([k, v]) => `${k}=${v}`).join(', ')],
        ['image uploads', c.s3Endpoint === null ? '- (mapped images only)' : `${c.s3Endpoint} bucket ${c.imageBucket ?? '?'}`],
      ]);
      if (c.instances.length > 0) {
        process.stdout.write('\n');
        printTable(['VM', 'NAME', 'INSTANCE', 'TYPE', 'AMI', 'REMOTE STATE'], c.instances.map((i) => [i.vm, dash(i.vmName), dash(i.instanceId), i.instanceType, i.imageId, dash(i.remoteState)]));
      }
    }),
  );

  connectionOptions(apiCommand(cloud, 'remove <cloud>', 'forget a remote cloud (by id or name); refused while VMs are bound to it')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const c = await (await connect(o)).removeCloud(ref, { signal });
      if (o.json) return printJson(c);
      process.stdout.write(`removed cloud ${c.name} (${c.id})\n`);
    }),
  );
}
