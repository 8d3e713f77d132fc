import { readdir } from 'node:fs/promises';
import { parseVmSpec } from '../vm-spec.js';
import { errorMessage } from '../../errors/nubo-error.js';
import type { WaitOptions } from '../../util/deadline.js';
import { isVmId } from '../../core/vm-id.js';
import { abandonDiskMoves } from './qmp-disk-move.js';
import { vmPaths } from './vm-paths.js';
import { isQemuOf, readPidFile } from './qemu-process.js';
import { readVmRecord } from './vm-record.js';
import type { LiveVm, QemuRegistry } from './qemu-registry.js';
import { waitDefault as opt } from './wait-default.js';

/**
 * Takes over the VMs an earlier process of the driver left in its run
 * directory: reconnects to each live QEMU (and settles a disk move it left
 * half-way), marks the dead ones crashed. Ids in `claimed` are being launched
 * now and are not the earlier process's.
 */
export async function adoptQemuVms(reg: QemuRegistry, claimed: ReadonlySet<string>, opts: WaitOptions): Promise<void> {
  const names = await readdir(reg.opts.runDir).catch(() => [] as string[]);
  for (const name of names) {
    if (!isVmId(name) || reg.has(name) || claimed.has(name)) continue;
    const paths = vmPaths(reg.opts.runDir, name);
    // One unusable record must not keep the other VMs from being adopted; its QEMU (if any) is left as it is, for an operator.
    const record = await readVmRecord(paths.record).catch((err: unknown) => {
      reg.log.error({ vmId: name, err: errorMessage(err) }, 'vm record unusable: not adopted');
      return undefined;
    });
    if (!record || record.spec.id !== name) continue;
    const pid = await readPidFile(paths.pidFile);
    const vm: LiveVm = { record, paths, pid: pid ?? 0, qmp: undefined, exit: undefined, guestShutdown: false, ending: false, starting: undefined };
    reg.add(vm);
    if (pid !== undefined && (await isQemuOf(pid, name))) {
      try {
        await reg.connect(vm, opts);
        await settleDiskMoves(reg, vm, opts);
        reg.log.info({ vmId: name, pid }, 'vm adopted');
        continue;
      } catch (err) {
        vm.exit = { state: 'crashed', reason: `QMP unreachable: ${errorMessage(err)}` };
      }
    } else {
      vm.exit = { state: 'crashed', reason: 'the QEMU process was gone when the driver restarted' };
    }
  }
}

/** A disk move the previous process left is finished (it had switched over) or undone; the record follows. */
async function settleDiskMoves(reg: QemuRegistry, vm: LiveVm, opts: WaitOptions): Promise<void> {
  const vmId = vm.record.spec.id;
  const found = await abandonDiskMoves(reg.qmp(vm), vm.record.movedDisks ?? [], opt(opts, 30_000)).catch(() => []);
  for (const a of found) {
    if (a.pivoted && a.path !== '') {
      const moved = new Set(vm.record.movedDisks ?? []);
      if (moved.has(a.diskId)) moved.delete(a.diskId);
      else moved.add(a.diskId);
      const spec = parseVmSpec({ ...vm.record.spec, disks: vm.record.spec.disks.map((d) => (d.id === a.diskId ? { ...d, path: a.path } : d)) });
      await reg.setRecord(vm, { ...vm.record, spec, movedDisks: [...moved] });
    }
    reg.log.warn({ vmId, diskId: a.diskId, pivoted: a.pivoted }, a.pivoted ? 'disk move of the previous driver process had switched over: finished' : 'disk move of the previous driver process undone');
  }
}
