import type { FieldIssue } from '../errors/validation-error.js';
import type { NicSpec, VmSpec } from './vm-spec.js';

/**
 * Why `nic` cannot join the VM's devices, as field issues of the NIC (empty
 * when it can): its device id, MAC, TAP name or PCI slot is taken, or the VM
 * has as many NICs as it may. Both drivers check hot-plugs with it.
 */
export function nicConflicts(spec: VmSpec, nic: NicSpec): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (spec.disks.some((d) => d.id === nic.id) || spec.nics.some((n) => n.id === nic.id) || nic.id === 'cidata') {
    issues.push({ field: 'id', message: `device id ${nic.id} is already in use on VM ${spec.id}` });
  }
  if (spec.nics.some((n) => n.mac === nic.mac)) issues.push({ field: 'mac', message: `MAC ${nic.mac} is already in use on VM ${spec.id}` });
  if (nic.kind === 'tap' && spec.nics.some((n) => n.kind === 'tap' && n.ifname === nic.ifname)) {
    issues.push({ field: 'ifname', message: `TAP ${nic.ifname} is already in use on VM ${spec.id}` });
  }
  if (nic.kind === 'tap' && nic.vlan !== undefined && nic.bridge === undefined) issues.push({ field: 'vlan', message: 'a VLAN needs a bridge' });
  if (nic.pciSlot !== undefined && [...spec.disks, ...spec.nics].some((d) => d.pciSlot === nic.pciSlot)) {
    issues.push({ field: 'pciSlot', message: `PCI slot ${nic.pciSlot} is already in use on VM ${spec.id}` });
  }
  if (spec.nics.length >= 8) issues.push({ field: 'id', message: `VM ${spec.id} already has 8 NICs, the most it may have` });
  return issues;
}
