import { z } from 'zod';
import { resourceNameSchema } from './api-schemas.js';
import { DEFAULT_IMAGE_MIN_MEMORY_MIB, MIN_VM_MEMORY_MIB } from '../core/memory-minimum.js';

/** The native API's shapes for images (`/api/v1/images`). */

export const imageFormatSchema = z.enum(['qcow2', 'raw', 'kernel', 'initrd']);
export const imageView = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  format: imageFormatSchema,
  sizeBytes: z.number(),
  virtualSizeBytes: z.number(),
  sha256: z.string(),
  createdAt: z.string(),
  /** The least memory (MiB) a VM booting from it is given: creates and resizes below it are refused. Always sent; optional for readers of older controllers. */
  minMemoryMiB: z.number().optional(),
});
export type ImageView = z.infer<typeof imageView>;
/** What a file may be registered as: vmdk and vdi disks are converted to qcow2 on the way in. */
export const registerImageFormatSchema = z.enum(['qcow2', 'raw', 'vmdk', 'vdi', 'kernel', 'initrd']);
const MIN_MEMORY_HELP = `the least memory (MiB) its guest boots with, ${MIN_VM_MEMORY_MIB} or more (as Glance's min_ram): VMs booting from it are refused less, at create and resize; default ${DEFAULT_IMAGE_MIN_MEMORY_MIB}`;
/** An image's minimum memory as a body field. */
export const minMemoryMiBSchema = z.number().int().min(MIN_VM_MEMORY_MIB).max(1024 * 1024).describe(MIN_MEMORY_HELP);
/** A path on the controller's machine, in its import directory. */
export const controllerPathSchema = z.string().max(4096).regex(/^\/[^\0]*$/, 'must be an absolute path');
export const registerImageBody = z.strictObject({
  name: resourceNameSchema,
  /** A file in the controller's import directory (--image-import-dir; symlinks and .. resolved), copied into the image store. */
  path: controllerPathSchema,
  /** Default: the disk format qemu-img detects (held against a .qcow2/.raw/.vmdk/.vdi extension); kernel and initrd must be given. */
  format: registerImageFormatSchema.optional(),
  minMemoryMiB: minMemoryMiBSchema.optional(),
});
export type RegisterImageBody = z.input<typeof registerImageBody>;
/** `POST /api/v1/images/upload`: the file is the request body (application/octet-stream); these are its query string. */
export const uploadImageQuery = z.strictObject({
  name: resourceNameSchema,
  /** As for registration: default the disk format qemu-img detects; kernel and initrd must be given. */
  format: registerImageFormatSchema.optional(),
  /** The body's SHA-256 (64 lowercase hex digits): checked before anything is kept. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits').optional(),
  minMemoryMiB: z.coerce.number().int().min(MIN_VM_MEMORY_MIB).max(1024 * 1024).describe(MIN_MEMORY_HELP).optional(),
});
export type UploadImageQuery = z.input<typeof uploadImageQuery>;
