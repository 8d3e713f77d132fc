import assert from 'node:assert/strict';
import { agentVmId } from '../../src/controller/agent-vm-id.js';
import { isQemuOf } from '../../src/hypervisor/qemu/qemu-process.js';
import type { MigrationLab } from './migration-lab.js';

/** `terminate-hard`, then: no host runs the VM, holds its files or keeps a reservation. */
export async function terminateEverywhere(lab: MigrationLab, vmId: string): Promise<void> {
  await lab.api.vmAction(vmId, 'terminate-hard');
  await lab.waitState(vmId, 'terminated');
  const id = agentVmId(vmId);
  for (const h of lab.hosts) {
    const pid = await lab.qemuPid(h.index, vmId);
    assert.equal(pid !== undefined && (await isQemuOf(pid, id)), false, `${h.name} still runs the VM`);
    assert.ok(!(await lab.agentVms(h.index)).includes(id), `${h.name} still holds the VM's files`);
    assert.deepEqual((await lab.api.getHost(h.name)).reserved, { cpus: 0, memoryMiB: 0, diskMiB: 0 }, `${h.name} holds no reservation`);
  }
}
