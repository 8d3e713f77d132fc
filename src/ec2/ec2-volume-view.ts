import type { ImageView } from '../contract/image-schemas.js';
import type { VolumeView } from '../contract/storage-schemas.js';
import type { TemplateView } from '../contract/template-schemas.js';
import type { VmView } from '../contract/vm-schemas.js';
import { Ec2ApiError } from './ec2-api-error.js';
import { nativeCall, type Ec2Call, type Ec2Context } from './ec2-context.js';
import { zoneOfCluster } from './ec2-zones.js';
import { DEFAULT_CLUSTER } from '../core/placement/cluster-fit.js';
import type { Filterable } from './ec2-filters.js';
import { isEc2Id } from './ec2-ids.js';
import { deviceOfSlot, gibOf, ROOT_DEVICE, ROOT_VOLUME_PREFIX, volumeStatusOf, type Ec2AttachmentStatus, type Ec2VolumeStatus } from './ec2-volume-state.js';
import type { XmlObject } from './ec2-xml.js';

/**
 * What an EC2 volume is in nubo: either a native volume (a data disk with a
 * life of its own, `/api/v1/volumes`) or an instance's root disk, which EC2
 * shows as a volume too — the one nubo's disk snapshots are taken of.
 */
export type NuboVolume =
  | { readonly kind: 'data'; readonly volumeId: string; readonly volume: VolumeView }
  | { readonly kind: 'root'; readonly volumeId: string; readonly vm: VmView };

export interface Ec2Volume {
  readonly volumeId: string;
  readonly source: NuboVolume;
  readonly status: Ec2VolumeStatus;
  readonly xml: XmlObject;
  readonly filterable: Filterable;
}

export const VOLUME_FILTERS = ['volume-id', 'status', 'size', 'availability-zone', 'volume-type', 'snapshot-id', 'create-time', 'encrypted',
  'attachment.instance-id', 'attachment.status', 'attachment.device', 'attachment.delete-on-termination'];

const notFound = (id: string): Ec2ApiError => new Ec2ApiError('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);

/** The volume a `vol-` id names, if the caller may see it; another user's looks exactly like a missing one. */
export async function resolveVolume(ctx: Ec2Context, call: Ec2Call, volumeId: string, param = 'VolumeId'): Promise<NuboVolume> {
  if (!isEc2Id('volume', volumeId)) throw new Ec2ApiError('InvalidVolumeID.Malformed', `Invalid id: "${volumeId}" (expecting "vol-..." in ${param})`);
  const nuboId = await ctx.records.nuboIdOf('volume', volumeId);
  if (nuboId === undefined) throw notFound(volumeId);
  const hidden = (err: unknown): never => {
    throw err instanceof Ec2ApiError && err.awsCode === 'InvalidVolume.NotFound' ? notFound(volumeId) : err;
  };
  if (nuboId.startsWith(ROOT_VOLUME_PREFIX)) {
    const vm = await nativeCall<VmView>(ctx, call, 'GET', `/api/v1/vms/${nuboId.slice(ROOT_VOLUME_PREFIX.length)}`, undefined, { notFound: 'InvalidVolume.NotFound' }).catch(hidden);
    if (vm.state === 'terminated') throw notFound(volumeId);
    return { kind: 'root', volumeId, vm };
  }
  const volume = await nativeCall<VolumeView>(ctx, call, 'GET', `/api/v1/volumes/${nuboId}`, undefined, { notFound: 'InvalidVolume.NotFound' }).catch(hidden);
  return { kind: 'data', volumeId, volume };
}

/** Every volume the caller sees: their native volumes, then the root disks of their instances that are not terminated. */
export async function listVolumes(ctx: Ec2Context, call: Ec2Call): Promise<NuboVolume[]> {
  const volumes = await nativeCall<VolumeView[]>(ctx, call, 'GET', '/api/v1/volumes', undefined);
  const vms = (await nativeCall<VmView[]>(ctx, call, 'GET', '/api/v1/vms', undefined)).filter((v) => v.state !== 'terminated');
  return [
    ...await Promise.all(volumes.map(async (volume) => ({ kind: 'data' as const, volumeId: await ctx.records.awsIdOf('volume', volume.id), volume }))),
    ...await Promise.all(vms.map(async (vm) => ({ kind: 'root' as const, volumeId: await ctx.records.awsIdOf('volume', `${ROOT_VOLUME_PREFIX}${vm.id}`), vm }))),
  ];
}

/** The root volume's id of a VM (made on first use, as every mapped id). */
export async function rootVolumeIdOf(ctx: Ec2Context, vmId: string): Promise<string> {
  return ctx.records.awsIdOf('volume', `${ROOT_VOLUME_PREFIX}${vmId}`);
}

/** These volumes as EC2 describes them, with what their filters match on. */
export async function describeVolumeList(ctx: Ec2Context, call: Ec2Call, list: readonly NuboVolume[]): Promise<Ec2Volume[]> {
  const tags = await ctx.records.tags(call.userId, list.map((v) => v.volumeId));
  const rootSizes = await rootSizesOf(ctx, call, list);
  const out: Ec2Volume[] = [];
  for (const v of list) {
    const myTags = new Map(tags.filter((t) => t.resourceId === v.volumeId).map((t) => [t.key, t.value]));
    const attachment = await attachmentOf(ctx, v);
    const sizeGiB = v.kind === 'data' ? gibOf(v.volume.sizeMiB) : (rootSizes.get(v.vm.id) ?? 1);
    const status = v.kind === 'data' ? volumeStatusOf(v.volume.state) : 'in-use';
    const createTime = v.kind === 'data' ? v.volume.createdAt : v.vm.createdAt;
    // Its cluster's zone: a data volume's own, a root disk's its instance's. A native volume never attached and made without a cluster,
    // or an instance waiting for a host that asked for none, is shown in the default zone.
    const zone = zoneOfCluster((v.kind === 'data' ? v.volume.cluster : v.vm.cluster) ?? DEFAULT_CLUSTER);
    const xml: XmlObject = {
      volumeId: v.volumeId, size: sizeGiB, snapshotId: '', availabilityZone: zone, status, createTime,
      attachmentSet: attachment === undefined ? [] : [{ volumeId: v.volumeId, ...attachment }],
      volumeType: 'standard', encrypted: false, multiAttachEnabled: false,
      tagSet: [...myTags].map(([key, value]) => ({ key, value })),
    };
    const fields: Record<string, string[]> = {
      'volume-id': [v.volumeId], status: [status], size: [String(sizeGiB)], 'availability-zone': [zone], 'volume-type': ['standard'], 'snapshot-id': [],
      'create-time': [createTime], encrypted: ['false'],
      'attachment.instance-id': attachment === undefined ? [] : [attachment.instanceId],
      'attachment.status': attachment === undefined ? [] : [attachment.status],
      'attachment.device': attachment === undefined ? [] : [attachment.device],
      'attachment.delete-on-termination': attachment === undefined ? [] : [String(attachment.deleteOnTermination)],
    };
    out.push({ volumeId: v.volumeId, source: v, status, xml, filterable: { fields, tags: myTags } });
  }
  return out;
}

interface Attachment { instanceId: string; device: string; status: Ec2AttachmentStatus; attachTime: string; deleteOnTermination: boolean }

async function attachmentOf(ctx: Ec2Context, v: NuboVolume): Promise<Attachment | undefined> {
  if (v.kind === 'root') return { instanceId: await ctx.records.awsIdOf('instance', v.vm.id), device: ROOT_DEVICE, status: 'attached', attachTime: v.vm.createdAt, deleteOnTermination: true };
  if (v.volume.vm === null || v.volume.slot === null) return undefined;
  // nubo keeps no attach time: the volume's own creation time stands in for it.
  return { instanceId: await ctx.records.awsIdOf('instance', v.volume.vm), device: deviceOfSlot(v.volume.slot), status: 'attached', attachTime: v.volume.createdAt, deleteOnTermination: false };
}

/** A root disk's size: its image's virtual size in whole GiB (one read per image, not per VM). */
async function rootSizesOf(ctx: Ec2Context, call: Ec2Call, list: readonly NuboVolume[]): Promise<Map<string, number>> {
  const roots = list.filter((v): v is Extract<NuboVolume, { kind: 'root' }> => v.kind === 'root');
  if (roots.length === 0) return new Map();
  const templates = await nativeCall<TemplateView[]>(ctx, call, 'GET', '/api/v1/templates', undefined);
  const images = new Map<string, Promise<number | undefined>>();
  const out = new Map<string, number>();
  for (const r of roots) {
    const image = templates.find((t) => t.name === r.vm.template || t.id === r.vm.template)?.image;
    if (image === undefined) continue;
    if (!images.has(image)) {
      images.set(image, nativeCall<ImageView>(ctx, call, 'GET', `/api/v1/images/${encodeURIComponent(image)}`, undefined)
        .then((i) => gibOf(i.virtualSizeBytes / (1024 * 1024)), () => undefined));
    }
    const size = await images.get(image);
    if (size !== undefined) out.set(r.vm.id, size);
  }
  return out;
}
