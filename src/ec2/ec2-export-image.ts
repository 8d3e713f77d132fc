import { randomBytes } from 'node:crypto';
import type { ImageObjectView } from '../contract/image-object-schemas.js';
import { errorMessage } from '../errors/nubo-error.js';
import { Ec2ApiError, invalidParameterValue } from './ec2-api-error.js';
import type { Ec2Call, Ec2Context, Ec2Handler } from './ec2-context.js';
import { resolveImage } from './ec2-images.js';
import type { Ec2Params } from './ec2-params.js';
import type { ExportImageTaskRecord } from './ec2-records.js';
import type { XmlObject } from './ec2-xml.js';

/**
 * ExportImage and DescribeExportImageTasks: an AMI's disk written as an
 * object into a bucket the caller owns, at `{S3Prefix}{ExportImageTaskId}.{format}`
 * as EC2 names it. EC2's formats are VMDK, RAW and VHD; nubo writes RAW
 * and, its own extension, QCOW2 (what its images are), and refuses the
 * others by name. The task runs after the answer (status `active`, then
 * `completed`, or `deleted` with the reason, as EC2 ends a failed one);
 * a task a controller's crash left `active` is run again when it is next
 * read (the write replaces the object, so a second run changes nothing).
 * The object carries the sha256 of its bytes as `x-amz-meta-sha256`.
 */

const FORMATS: Readonly<Record<string, 'raw' | 'qcow2'>> = { RAW: 'raw', QCOW2: 'qcow2' };
/** Tasks running in this process, by id. */
const running = new Map<string, Promise<void>>();

const newTaskId = (): string => `export-ami-${randomBytes(9).toString('hex').slice(0, 17)}`;
export const exportObjectKey = (t: Pick<ExportImageTaskRecord, 'prefix' | 'id' | 'format'>): string => `${t.prefix}${t.id}.${t.format.toLowerCase()}`;

function taskXml(t: ExportImageTaskRecord): XmlObject {
  return {
    description: t.description ?? undefined, exportImageTaskId: t.id, imageId: t.imageId, progress: t.status === 'active' ? String(t.progress) : undefined,
    s3ExportLocation: { s3Bucket: t.bucket, s3Prefix: t.prefix }, status: t.status, statusMessage: t.statusMessage ?? undefined,
  };
}

function run(ctx: Ec2Context, call: Ec2Call, t: ExportImageTaskRecord, templateImage: string | undefined): void {
  if (running.has(t.id)) return;
  const p = (async () => {
    try {
      const image = templateImage ?? (await resolveImage(ctx, call, t.imageId)).image;
      await ctx.records.setExportTask(t.id, { status: 'active', progress: 10, statusMessage: 'writing the object' });
      await ctx.api.call<ImageObjectView>(call.userId, 'POST', `/api/v1/images/${encodeURIComponent(image)}/export-s3`, { bucket: t.bucket, key: exportObjectKey(t), format: FORMATS[t.format] ?? 'qcow2' });
      await ctx.records.setExportTask(t.id, { status: 'completed', progress: 100, statusMessage: null });
    } catch (err) {
      await ctx.records.setExportTask(t.id, { status: 'deleted', progress: 0, statusMessage: errorMessage(err) }).catch(() => undefined);
    }
  })().finally(() => running.delete(t.id));
  running.set(t.id, p);
}

/** ExportImage's parameters, every one checked before anything is written. */
export function parseExportImage(p: Ec2Params): { amiId: string; format: string; bucket: string; prefix: string; description: string | undefined; clientToken: string | undefined } {
  const amiId = p.required('ImageId');
  const format = p.required('DiskImageFormat').toUpperCase();
  if (!Object.hasOwn(FORMATS, format)) throw invalidParameterValue('DiskImageFormat', `${JSON.stringify(format)}: this cloud exports RAW or QCOW2 disks (not VMDK or VHD)`);
  const bucket = p.required('S3ExportLocation.S3Bucket');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw invalidParameterValue('S3ExportLocation.S3Bucket', `${JSON.stringify(bucket)} is not an S3 bucket name`);
  const prefix = p.optional('S3ExportLocation.S3Prefix') ?? '';
  if (prefix.length > 512) throw invalidParameterValue('S3ExportLocation.S3Prefix', 'is longer than 512 characters');
  const description = p.optional('Description');
  if (description !== undefined && description.length > 255) throw invalidParameterValue('Description', 'is longer than 255 characters');
  const clientToken = p.optional('ClientToken');
  if (clientToken !== undefined && clientToken.length > 64) throw invalidParameterValue('ClientToken', 'is longer than 64 characters');
  return { amiId, format, bucket, prefix, description, clientToken };
}

export const exportImage: Ec2Handler = async (ctx, call) => {
  const { amiId, format, bucket, prefix, description, clientToken } = parseExportImage(call.params);
  const t = await resolveImage(ctx, call, amiId);
  const { task, created } = await ctx.records.addExportTask({ id: newTaskId(), ownerId: call.userId, clientToken: clientToken ?? null, imageId: amiId, format, bucket, prefix, description: description ?? null });
  if (!created && (task.imageId !== amiId || task.bucket !== bucket || task.prefix !== prefix || task.format !== format)) {
    throw new Ec2ApiError('IdempotentParameterMismatch', `ClientToken ${clientToken ?? ''} was used with other parameters (task ${task.id})`);
  }
  if (task.status === 'active') run(ctx, call, task, t.image);
  return { ...taskXml(task), diskImageFormat: format };
};

export const describeExportImageTasks: Ec2Handler = async (ctx, call) => {
  const ids = call.params.list('ExportImageTaskId');
  const tasks = await ctx.records.exportTasks(call.userId, ids.length > 0 ? ids : undefined);
  const missing = ids.find((id) => !tasks.some((t) => t.id === id));
  if (missing !== undefined) throw new Ec2ApiError('InvalidExportImageTaskId.NotFound', `The export image task ID '${missing}' does not exist`);
  // Left active by a controller that stopped mid-way: run again (see above).
  for (const t of tasks) if (t.status === 'active') run(ctx, call, t, undefined);
  return { exportImageTaskSet: tasks.map(taskXml) };
};
