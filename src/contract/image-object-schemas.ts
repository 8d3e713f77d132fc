import { z } from 'zod';
import { resourceNameSchema } from './api-schemas.js';
import { minMemoryMiBSchema } from './image-schemas.js';

/**
 * `POST /api/v1/images/from-s3`: an image made from an S3 object the caller
 * owns (the EC2 adaptor's RegisterImage and any native client). Only disk
 * formats: a kernel or initrd is uploaded as before.
 */
export const imageFromObjectBody = z.strictObject({
  name: resourceNameSchema,
  bucket: z.string().min(1).max(63),
  key: z.string().min(1).max(1024),
  /** Default: what qemu-img detects; vmdk and vdi are converted to qcow2. */
  format: z.enum(['qcow2', 'raw', 'vmdk', 'vdi']).optional(),
  minMemoryMiB: minMemoryMiBSchema.optional(),
});
export type ImageFromObjectBody = z.input<typeof imageFromObjectBody>;

/** `bucket/key` of an S3 object (an `s3://` prefix or a leading slash tolerated); undefined when the text names no object. */
export function parseS3Location(location: string): { bucket: string; key: string } | undefined {
  const rest = location.replace(/^s3:\/\//, '').replace(/^\//, '');
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { bucket: rest.slice(0, slash), key: rest.slice(slash + 1) };
}

/** `POST /api/v1/images/{id}/export-s3`: the image's disk written as an object into a bucket the caller owns (EC2's ExportImage). */
export const imageToObjectBody = z.strictObject({
  bucket: z.string().min(1).max(63),
  key: z.string().min(1).max(1024),
  /** qcow2 (the image as it is) or raw (converted). */
  format: z.enum(['qcow2', 'raw']).default('qcow2'),
});
export type ImageToObjectBody = z.input<typeof imageToObjectBody>;

export const imageObjectView = z.object({
  bucket: z.string(),
  key: z.string(),
  sizeBytes: z.number().int(),
  /** Of the object's bytes, also kept as its user metadata `x-amz-meta-sha256`. */
  sha256: z.string(),
  etag: z.string(),
});
export type ImageObjectView = z.infer<typeof imageObjectView>;
