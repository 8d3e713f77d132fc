import { MIN_VM_MEMORY_MIB } from '../core/memory-minimum.js';
import { invalidParameterValue } from './ec2-api-error.js';

export interface InstanceType {
  readonly name: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
}

/**
 * The default sizes DescribeInstanceTypes lists and RunInstances accepts:
 * nubo's own small ones (the tiny guest runs in 128 MiB under TCG) and a few
 * AWS names that scripts often hard-code, with AWS's vCPU and memory.
 */
export const DEFAULT_INSTANCE_TYPES: readonly InstanceType[] = Object.freeze([
  { name: 'nubo.tiny', vcpus: 1, memoryMiB: 128 },
  { name: 'nubo.small', vcpus: 1, memoryMiB: 256 },
  { name: 'nubo.medium', vcpus: 2, memoryMiB: 512 },
  { name: 'nubo.large', vcpus: 2, memoryMiB: 1024 },
  { name: 't2.nano', vcpus: 1, memoryMiB: 512 },
  { name: 't2.micro', vcpus: 1, memoryMiB: 1024 },
  { name: 't2.small', vcpus: 1, memoryMiB: 2048 },
  { name: 't3.medium', vcpus: 2, memoryMiB: 4096 },
  { name: 'm5.large', vcpus: 2, memoryMiB: 8192 },
]);

/** A checked, frozen table; names unique, sizes within what a VM may have. */
export function compileInstanceTypes(types: readonly InstanceType[] = DEFAULT_INSTANCE_TYPES): ReadonlyMap<string, InstanceType> {
  const out = new Map<string, InstanceType>();
  for (const [i, t] of types.entries()) {
    if (!/^[a-z0-9]+\.[a-z0-9]+$/.test(t.name)) throw invalidParameterValue(`instanceTypes[${i}].name`, `${JSON.stringify(t.name)} is not of the form family.size`);
    if (!Number.isInteger(t.vcpus) || t.vcpus < 1 || t.vcpus > 64) throw invalidParameterValue(`instanceTypes[${i}].vcpus`, 'must be an integer in 1..64');
    if (!Number.isInteger(t.memoryMiB) || t.memoryMiB < MIN_VM_MEMORY_MIB) throw invalidParameterValue(`instanceTypes[${i}].memoryMiB`, `must be an integer of at least ${MIN_VM_MEMORY_MIB}`);
    if (out.has(t.name)) throw invalidParameterValue(`instanceTypes[${i}].name`, `${t.name} is listed twice`);
    out.set(t.name, Object.freeze({ ...t }));
  }
  return out;
}

/** The type a VM of these sizes is shown as: the first of the table that matches, else `custom`. */
export function instanceTypeOf(types: ReadonlyMap<string, InstanceType>, vcpus: number, memoryMiB: number): string {
  for (const t of types.values()) if (t.vcpus === vcpus && t.memoryMiB === memoryMiB) return t.name;
  return 'custom';
}

/**
 * The type an instance is shown as: its record's (RunInstances',
 * ModifyInstanceAttribute's) while that type's sizes are the VM's; once they
 * differ — a resize whose record update a crash cut off — the VM's sizes
 * decide. A record's name the table does not have is kept as it is.
 */
export function shownInstanceType(types: ReadonlyMap<string, InstanceType>, recorded: string | undefined, vcpus: number, memoryMiB: number): string {
  const t = recorded === undefined ? undefined : types.get(recorded);
  if (recorded !== undefined && (t === undefined || (t.vcpus === vcpus && t.memoryMiB === memoryMiB))) return recorded;
  return instanceTypeOf(types, vcpus, memoryMiB);
}
