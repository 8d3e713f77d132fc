import { z } from 'zod';
import { resourceNameSchema } from './api-schemas.js';
import { MIN_VM_MEMORY_MIB } from '../core/memory-minimum.js';
import { controllerPathSchema, uploadImageQuery } from './image-schemas.js';

/** The native API's shapes for templates (`/api/v1/templates`). */

export const templateNic = z.strictObject({ network: z.string().max(64).optional() });
export const templateBody = z.strictObject({
  name: resourceNameSchema,
  vcpus: z.number().int().min(1).max(64),
  memoryMiB: z.number().int().min(MIN_VM_MEMORY_MIB).max(1024 * 1024),
  /** Image name or id of the root disk. */
  image: z.string().min(1).max(64),
  diskMode: z.enum(['overlay', 'copy']).default('overlay'),
  /** Where the VM's disk lives: the host's own datastore, or the `shared` one every host sees (live migration then moves only memory). */
  datastore: z.enum(['local', 'shared']).default('local'),
  /** Direct kernel boot: image names or ids of format kernel/initrd. */
  kernel: z.string().max(64).optional(),
  initrd: z.string().max(64).optional(),
  cmdline: z.string().max(2048).optional(),
  cpuModel: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/).default('qemu64'),
  nics: z.array(templateNic).max(8).default([{}]),
  userData: z.string().max(64 * 1024).optional(),
  /** Placement requirements, e.g. `free_memory_mb > 512 && cpu_model == "qemu64"`. */
  requirements: z.string().max(1024).optional(),
  /** The cluster its VMs are placed in (it must exist); default any. */
  cluster: resourceNameSchema.optional(),
  /** The burst flag: its VMs may go to this remote cloud (it must be registered), or `any` (the cheapest that takes them), when no local host takes them and the controller's --burst-policy allows. */
  burst: resourceNameSchema.optional()
    .describe('a registered cloud\'s name, or `any`: its VMs may burst there (local hosts first; when the controller\'s --burst-policy allows) — also to a cloud registered with burst: never; README: Hybrid cloud'),
});
export type TemplateBody = z.input<typeof templateBody>;
/** `PATCH /api/v1/templates/{id}`: what may change in place (the rest: make another template). */
export const updateTemplateBody = z.strictObject({
  burst: resourceNameSchema.nullable().describe('the burst flag: a registered cloud\'s name, `any`, or null for none; VMs made before keep theirs'),
});
export type UpdateTemplateBody = z.input<typeof updateTemplateBody>;
/** An OVF 1.x package in the controller's import directory (--image-import-dir; symlinks and .. resolved, for the .ovf's files too): an .ova, or an .ovf with its files beside it. */
export const importTemplateBody = z.strictObject({
  path: controllerPathSchema,
  /** Default: the OVF's VirtualSystem name. */
  name: resourceNameSchema.optional(),
});
export type ImportTemplateBody = z.input<typeof importTemplateBody>;
/** `POST /api/v1/templates/import/upload`: the .ova is the request body (application/octet-stream); these are its query string. */
export const uploadTemplateQuery = z.strictObject({
  /** Default: the OVF's VirtualSystem name. */
  name: resourceNameSchema.optional(),
  /** The body's SHA-256 (64 lowercase hex digits): checked before anything is kept. */
  sha256: uploadImageQuery.shape.sha256,
});
export type UploadTemplateQuery = z.input<typeof uploadTemplateQuery>;
export const templateView = templateBody.extend({ id: z.string(), owner: z.string(), createdAt: z.string(), diskMode: z.enum(['overlay', 'copy']), datastore: z.enum(['local', 'shared']), cpuModel: z.string(), nics: z.array(templateNic) });
export type TemplateView = z.infer<typeof templateView>;
