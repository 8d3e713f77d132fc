import type { TemplateView } from '../contract/template-schemas.js';
import type { SaveAsView } from '../contract/capture-schemas.js';
import { Ec2ApiError, invalidParameterValue } from './ec2-api-error.js';
import { nativeCall, type Ec2Call, type Ec2Context, type Ec2Handler } from './ec2-context.js';
import { checkFilters, passesFilters } from './ec2-filters.js';
import { isEc2Id } from './ec2-ids.js';
import { resolveInstances } from './ec2-instances.js';

/**
 * AMIs are nubo's templates (a disk image plus the settings a VM boots with),
 * those the caller may read: their own, an admin's catalog and those shared
 * with their groups. `ami-` ids map to template ids.
 */

/** The AMI's own refusal when it names nothing (or nothing the caller may see: told apart from nothing at all by no one). */
export function amiNotFound(amiId: string): Ec2ApiError {
  return new Ec2ApiError('InvalidAMIID.NotFound', `The image id '[${amiId}]' does not exist`);
}

/**
 * The template id an AMI id maps to, whether or not the caller may see it (a
 * store read, no native call: for one whose next native call checks that
 * itself, RunInstances' create); `InvalidAMIID.*` for a malformed or unknown id.
 */
export async function amiTemplateId(ctx: Ec2Context, amiId: string, param = 'ImageId'): Promise<string> {
  if (!isEc2Id('image', amiId)) throw new Ec2ApiError('InvalidAMIID.Malformed', `Invalid id: "${amiId}" (expecting "ami-..." in ${param})`);
  const id = await ctx.records.nuboIdOf('image', amiId);
  if (id === undefined) throw amiNotFound(amiId);
  return id;
}

/** The template behind an AMI id the caller may see; `InvalidAMIID.*` otherwise. */
export async function resolveImage(ctx: Ec2Context, call: Ec2Call, amiId: string, param = 'ImageId'): Promise<TemplateView> {
  const id = await amiTemplateId(ctx, amiId, param);
  try {
    return await nativeCall<TemplateView>(ctx, call, 'GET', `/api/v1/templates/${id}`, undefined, { notFound: 'InvalidAMIID.NotFound' });
  } catch (err) {
    throw err instanceof Ec2ApiError && err.awsCode === 'InvalidAMIID.NotFound' ? amiNotFound(amiId) : err;
  }
}

export const describeImages: Ec2Handler = async (ctx, call) => {
  const filters = call.params.filters();
  checkFilters(filters, ['image-id', 'name', 'state', 'owner-id', 'owner-alias', 'architecture', 'image-type', 'is-public']);
  const ids = call.params.list('ImageId');
  const owners = call.params.list('Owner');
  const executableBy = call.params.list('ExecutableBy');
  const me = await nativeCall<{ id: string; name: string }>(ctx, call, 'GET', '/api/v1/users/me', undefined);
  const templates = ids.length > 0 ? await Promise.all(ids.map((i) => resolveImage(ctx, call, i, 'ImageId'))) : await nativeCall<TemplateView[]>(ctx, call, 'GET', '/api/v1/templates', undefined);
  const amis = await Promise.all(templates.map((t) => ctx.records.awsIdOf('image', t.id)));
  const tags = await ctx.records.tags(call.userId, amis);
  const out = [];
  for (const [i, t] of templates.entries()) {
    const amiId = amis[i] ?? '';
    const mine = t.owner === me.name;
    const ownerId = mine ? me.id : t.owner;
    if (owners.length > 0 && !owners.some((o) => ownerMatches(o, mine, t.owner, ownerId))) continue;
    if (executableBy.length > 0 && !executableBy.some((u) => u === 'self' || u === me.id || (u === 'all' && !mine))) continue;
    const tg = new Map(tags.filter((x) => x.resourceId === amiId).map((x) => [x.key, x.value]));
    const fields = { 'image-id': [amiId], name: [t.name], state: ['available'], 'owner-id': [ownerId], 'owner-alias': mine ? ['self'] : [], architecture: ['x86_64'], 'image-type': ['machine'], 'is-public': [String(!mine)] };
    if (!passesFilters(filters, { fields, tags: tg })) continue;
    out.push({
      imageId: amiId, imageLocation: `${t.owner}/${t.name}`, imageState: 'available', imageOwnerId: ownerId, creationDate: t.createdAt,
      isPublic: !mine, architecture: 'x86_64', imageType: 'machine', name: t.name, description: `nubo template ${t.name}: image ${t.image}, ${t.vcpus} vCPU, ${t.memoryMiB} MiB`,
      rootDeviceType: 'ebs', rootDeviceName: '/dev/vda', blockDeviceMapping: [], virtualizationType: 'hvm', hypervisor: 'xen', enaSupport: false,
      tagSet: [...tg].map(([key, value]) => ({ key, value })),
    });
  }
  return { imagesSet: out };
};

/**
 * Whether DescribeImages' `Owner.N` names this template's owner: `self`, the
 * owner's user id or name; `amazon` and `aws-marketplace` own nothing here
 * (scripts that ask for Amazon's images get none, not everyone's).
 */
export function ownerMatches(owner: string, mine: boolean, ownerName: string, ownerId: string): boolean {
  if (owner === 'self') return mine;
  if (owner === 'amazon' || owner === 'aws-marketplace') return false;
  return owner === ownerName || owner === ownerId;
}

/** DeregisterImage: deletes the template (the disk image it names stays, as an AMI's snapshot does in EC2). */
export const deregisterImage: Ec2Handler = async (ctx, call) => {
  const t = await resolveImage(ctx, call, call.params.required('ImageId'));
  await nativeCall(ctx, call, 'DELETE', `/api/v1/templates/${t.id}`, undefined, { notFound: 'InvalidAMIID.NotFound', conflict: 'InvalidAMIID.Unavailable' });
  return { return: true };
};

export const describeImageAttribute: Ec2Handler = async (ctx, call) => {
  const amiId = call.params.required('ImageId');
  const attribute = call.params.required('Attribute');
  const t = await resolveImage(ctx, call, amiId);
  switch (attribute) {
    case 'description': return { imageId: amiId, description: { value: `nubo template ${t.name}` } };
    case 'launchPermission': return { imageId: amiId, launchPermission: [] };
    case 'blockDeviceMapping': return { imageId: amiId, blockDeviceMapping: [] };
    case 'kernel': return { imageId: amiId, kernel: t.kernel === undefined ? {} : { value: t.kernel } };
    case 'ramdisk': return { imageId: amiId, ramdisk: t.initrd === undefined ? {} : { value: t.initrd } };
    default: throw invalidParameterValue('Attribute', `${JSON.stringify(attribute)} is not one of description, launchPermission, blockDeviceMapping, kernel, ramdisk`);
  }
};

/**
 * CreateImage: nubo's save-as — the instance's disk copied into a new image
 * and a template of the instance on it, which is the new AMI. The answer
 * comes when the copy is registered (the AMI is `available` at once).
 */
export const createImage: Ec2Handler = async (ctx, call) => {
  const id = call.params.required('InstanceId');
  const name = call.params.required('Name');
  const [vm] = await resolveInstances(ctx, call, [id]);
  if (!vm) throw new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
  const saved = await nativeCall<SaveAsView>(ctx, call, 'POST', `/api/v1/vms/${vm.id}/save-as`, { image: name, template: name }, {
    notFound: 'InvalidInstanceID.NotFound', conflict: 'InvalidAMIName.Duplicate', quota: 'ResourceLimitExceeded', fields: { image: 'Name', template: 'Name' },
  });
  if (!saved.template) throw new Ec2ApiError('InternalError', 'save-as made no template', 500);
  return { imageId: await ctx.records.awsIdOf('image', saved.template.id) };
};
