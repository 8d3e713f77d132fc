import assert from 'node:assert/strict';
import { agentVmId } from '../../src/controller/agent-vm-id.js';
import type { VmDetailView } from '../../src/contract/vm-schemas.js';
import { isQemuOf } from '../../src/hypervisor/qemu/qemu-process.js';
import { ensureLabController } from '../../src/lab/lab-controller.js';
import { isLabProcess, stopLabProcess } from '../../src/lab/lab-process.js';
import { readLabState } from '../../src/lab/lab-state.js';
import { pollUntil } from '../../src/util/deadline.js';
import { runCommand } from '../../src/util/run-command.js';
import type { MigrationLab } from './migration-lab.js';

/** HA cases over a MigrationLab in `process` mode: VMs put on one host, the host killed or cut off, copies counted. */
export class HaLab {
  constructor(readonly lab: MigrationLab) {}

  /** Creates the VMs on host `i` (the others disabled meanwhile, so placement picks it), running. */
  async vmsOn(i: number, vms: readonly { name: string; ha: boolean; datastore: 'local' | 'shared' }[]): Promise<VmDetailView[]> {
    const { api } = this.lab;
    const others = this.lab.hosts.filter((h) => h.index !== i);
    for (const h of others) await api.disableHost(h.name);
    try {
      const created = [];
      for (const v of vms) created.push(await api.createVm({ template: 'tiny-mig', name: v.name, datastore: v.datastore, ha: v.ha }));
      const out = [];
      for (const c of created) out.push(await this.lab.waitState(c.id, 'running', 240_000));
      for (const vm of out) assert.equal(vm.host, this.lab.host(i).name);
      return out;
    } finally {
      for (const h of others) await api.enableHost(h.name);
    }
  }

  /** Which hosts run a live QEMU of the VM right now (by the pid files of every host's run directory). */
  async runningCopies(vmId: string): Promise<string[]> {
    const id = agentVmId(vmId);
    const on: string[] = [];
    for (const h of this.lab.hosts) {
      const pid = await this.lab.qemuPid(h.index, vmId);
      if (pid !== undefined && (await isQemuOf(pid, id))) on.push(h.name);
    }
    return on;
  }

  /** Cuts host `i`'s uplink (a partition: its agent and QEMUs keep running). */
  async cutLink(i: number): Promise<void> {
    await runCommand('ip', ['link', 'set', 'dev', this.lab.host(i).vethRoot, 'down']);
  }

  /** Waits for the VM to run on a host other than `notOn`, sampling its copies meanwhile: never two at once. */
  async waitRestarted(vmId: string, notOn: string, timeoutMs: number): Promise<{ vm: VmDetailView; maxCopies: number }> {
    let maxCopies = 0;
    const vm = await pollUntil(`${vmId} running off ${notOn}`, async () => {
      maxCopies = Math.max(maxCopies, (await this.runningCopies(vmId)).length);
      const v = await this.lab.api.getVm(vmId);
      return v.state === 'running' && v.host !== null && v.host !== notOn ? v : undefined;
    }, { timeoutMs, intervalMs: 200 });
    return { vm, maxCopies };
  }

  /** Restarts only the lab's controller process (the agents and links stay as they are), with these failpoints armed. */
  async restartController(failpoints?: string): Promise<void> {
    const state = await readLabState(this.lab.dir);
    assert.ok(state?.controller && state.controllerUrl, 'the lab runs its controller');
    if (await isLabProcess(state.controller)) await stopLabProcess(state.controller);
    if (failpoints === undefined) delete process.env['NUBO_FAILPOINTS'];
    else process.env['NUBO_FAILPOINTS'] = failpoints;
    try {
      await ensureLabController(state, Number(new URL(state.controllerUrl).port), 500);
    } finally {
      delete process.env['NUBO_FAILPOINTS'];
    }
  }

  /** Waits for the lab's controller process to exit (a failpoint's `exit`). */
  async controllerExited(timeoutMs: number): Promise<void> {
    await pollUntil('controller exits', async () => ((await this.lab.controllerProcess()).alive ? undefined : true), { timeoutMs, intervalMs: 200 });
  }
}
