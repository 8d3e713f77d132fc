import { MIN_VM_MEMORY_MIB } from '../core/memory-minimum.js';
import { z } from 'zod';

/** `POST /api/v1/vms/{id}/resize`: the VM's new vCPUs and memory (the bounds a VM spec has). */
export const resizeVmBody = z.strictObject({
  vcpus: z.number().int().min(1).max(64).describe('virtual CPUs, 1-64'),
  memoryMiB: z.number().int().min(MIN_VM_MEMORY_MIB).max(1024 * 1024).describe(`memory in MiB, ${MIN_VM_MEMORY_MIB} or more, and at least the minimum of each image the VM boots from`),
});
export type ResizeVmBody = z.infer<typeof resizeVmBody>;
