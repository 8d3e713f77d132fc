import { parseS3Location } from '../contract/image-object-schemas.js';
import type { ImageView } from '../contract/image-schemas.js';
import type { NetworkView } from '../contract/network-schemas.js';
import type { TemplateView } from '../contract/template-schemas.js';
import { Ec2ApiError, invalidParameterValue, missingParameter } from './ec2-api-error.js';
import { nativeCall, type Ec2Call, type Ec2Context, type Ec2Handler } from './ec2-context.js';
import { amiNics } from './ami-nics.js';

/** The kernel command line of an AMI registered with a kernel no template of the caller's boots yet. */
export const DEFAULT_KERNEL_CMDLINE = 'console=ttyS0 root=/dev/vda';

interface RegisterRequest {
  readonly bucket: string;
  readonly key: string;
  readonly name: string;
  readonly kernel: string | undefined;
  readonly initrd: string | undefined;
}

/** `bucket/key` (an `s3://` prefix or a leading slash tolerated): the object the image is made of. */
export function parseImageLocation(location: string): { bucket: string; key: string } {
  const at = parseS3Location(location);
  if (at === undefined) throw invalidParameterValue('ImageLocation', `${JSON.stringify(location)} is not bucket/key of an S3 object`);
  return at;
}

/** Every parameter checked before anything is written; what nubo does not take is refused by name, not ignored silently. */
function parse(call: Ec2Call): RegisterRequest {
  const p = call.params;
  const location = p.optional('ImageLocation');
  if (location === undefined) {
    // EC2 also registers an EBS-backed AMI from a snapshot; nubo's AMIs are made of an image, so the object is required.
    if (p.hasPrefix('BlockDeviceMapping.')) throw new Ec2ApiError('InvalidParameterCombination', 'nubo registers an AMI from an S3 object only: give ImageLocation (bucket/key of a qcow2, raw or vmdk disk), not a snapshot in BlockDeviceMapping');
    throw missingParameter('ImageLocation');
  }
  if (p.hasPrefix('BlockDeviceMapping.')) throw new Ec2ApiError('InvalidParameterCombination', 'BlockDeviceMapping cannot be combined with ImageLocation here: the AMI\'s one disk is the object');
  const name = p.required('Name');
  if (!/^[A-Za-z0-9()[\] ./'@_-]{3,128}$/.test(name)) throw invalidParameterValue('Name', 'must be 3-128 characters of letters, digits and ( ) [ ] space . / - \' @ _');
  const arch = p.optional('Architecture');
  if (arch !== undefined && arch !== 'x86_64') throw invalidParameterValue('Architecture', `${JSON.stringify(arch)}: this cloud runs x86_64 guests only`);
  const virt = p.optional('VirtualizationType');
  if (virt !== undefined && virt !== 'hvm' && virt !== 'paravirtual') throw invalidParameterValue('VirtualizationType', `${JSON.stringify(virt)} is not hvm or paravirtual`);
  const root = p.optional('RootDeviceName');
  if (root !== undefined && !/^\/dev\/[a-z]{2,4}[0-9]{0,2}$/.test(root)) throw invalidParameterValue('RootDeviceName', `${JSON.stringify(root)} is not a device name such as /dev/vda or /dev/sda1`);
  const description = p.optional('Description');
  if (description !== undefined && description.length > 255) throw invalidParameterValue('Description', 'is longer than 255 characters');
  const initrd = p.optional('RamdiskId');
  const kernel = p.optional('KernelId');
  if (initrd !== undefined && kernel === undefined) throw new Ec2ApiError('InvalidParameterCombination', 'RamdiskId needs a KernelId');
  return { ...parseImageLocation(location), name, kernel, initrd };
}

/** A kernel or initrd image the caller may use, named as DescribeImageAttribute's kernel/ramdisk shows it. */
async function bootImage(ctx: Ec2Context, call: Ec2Call, ref: string, param: string, format: 'kernel' | 'initrd'): Promise<ImageView> {
  const img = await nativeCall<ImageView>(ctx, call, 'GET', `/api/v1/images/${encodeURIComponent(ref)}`, undefined, { notFound: 'InvalidParameterValue' }).catch((err: unknown) => {
    throw err instanceof Ec2ApiError && err.awsCode === 'InvalidParameterValue' ? invalidParameterValue(param, `no image ${JSON.stringify(ref)} of yours or shared with you`) : err;
  });
  if (img.format !== format) throw invalidParameterValue(param, `image ${img.name} is ${img.format}, not ${format === 'kernel' ? 'a kernel' : 'an initrd'}`);
  return img;
}

/**
 * RegisterImage from an S3 object: the object becomes a nubo image (checked
 * as `image register` checks a file, and kept as an object of the system
 * bucket) and a template on it, which is the AMI. The template's size is the
 * smallest instance type (RunInstances' InstanceType gives the VM its own);
 * KernelId/RamdiskId name kernel and initrd images for direct kernel boot
 * (as DescribeImageAttribute shows them), with the command line of a visible
 * template that boots the same kernel, else DEFAULT_KERNEL_CMDLINE. Its
 * instances get a NIC on the caller's default network (`amiNics`), so they are
 * reachable like the `tiny` AMI's.
 *
 * A template that cannot be made takes its image away again. A controller
 * that dies between the two leaves the image without an AMI: the caller's,
 * listed by `nubo image list`, deletable; nothing half-copied is ever an image.
 */
export const registerImage: Ec2Handler = async (ctx, call) => {
  const req = parse(call);
  const kernel = req.kernel === undefined ? undefined : await bootImage(ctx, call, req.kernel, 'KernelId', 'kernel');
  const initrd = req.initrd === undefined ? undefined : await bootImage(ctx, call, req.initrd, 'RamdiskId', 'initrd');
  const templates = await nativeCall<TemplateView[]>(ctx, call, 'GET', '/api/v1/templates', undefined);
  const me = await nativeCall<{ name: string }>(ctx, call, 'GET', '/api/v1/users/me', undefined);
  const taken = templates.find((t) => t.name === req.name && t.owner === me.name);
  // Checked before the copy: a taken name costs no bytes.
  if (taken) throw new Ec2ApiError('InvalidAMIName.Duplicate', `AMI name ${req.name} is already in use by AMI ${await ctx.records.awsIdOf('image', taken.id)}`);
  const cmdline = kernel === undefined ? undefined : (templates.find((t) => t.kernel === kernel.name && t.cmdline !== undefined)?.cmdline ?? DEFAULT_KERNEL_CMDLINE);
  const nics = amiNics(await nativeCall<NetworkView[]>(ctx, call, 'GET', '/api/v1/networks', undefined));
  const size = [...ctx.instanceTypes.values()].sort((a, b) => a.memoryMiB - b.memoryMiB || a.vcpus - b.vcpus)[0] ?? { vcpus: 1, memoryMiB: 128 };
  const image = await nativeCall<ImageView>(ctx, call, 'POST', '/api/v1/images/from-s3', { name: req.name, bucket: req.bucket, key: req.key }, {
    conflict: 'InvalidAMIName.Duplicate', quota: 'ResourceLimitExceeded', fields: { bucket: 'ImageLocation', key: 'ImageLocation', object: 'ImageLocation', format: 'ImageLocation', name: 'Name' },
  });
  let template: TemplateView;
  try {
    template = await nativeCall<TemplateView>(ctx, call, 'POST', '/api/v1/templates', {
      name: req.name, vcpus: size.vcpus, memoryMiB: size.memoryMiB, image: image.id, nics,
      ...(kernel ? { kernel: kernel.id, cmdline } : {}), ...(initrd ? { initrd: initrd.id } : {}),
    }, { conflict: 'InvalidAMIName.Duplicate', quota: 'ResourceLimitExceeded', fields: { name: 'Name', kernel: 'KernelId', initrd: 'RamdiskId' } });
  } catch (err) {
    await nativeCall(ctx, call, 'DELETE', `/api/v1/images/${image.id}`, undefined).catch(() => undefined);
    throw err;
  }
  return { imageId: await ctx.records.awsIdOf('image', template.id) };
};
