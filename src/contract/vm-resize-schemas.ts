import { z } from 'zod';

/** `POST /api/v1/vms/{id}/resize`: the VM's new vCPUs and memory (the bounds a VM spec has). */
export const resizeVmBody = z.strictObject({
  vcpus: z.number().int().min(1).max(64).describe('virtual CPUs, 1-64'),
  memoryMiB: z.number().int().min(16).max(1024 * 1024).describe('memory in MiB, 16 or more'),
});
export type ResizeVmBody = z.infer<typeof resizeVmBody>;
