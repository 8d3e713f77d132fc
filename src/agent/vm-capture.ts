import { readdir, rename, rm, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { join } from 'node:path';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import { createImage, imageInfo } from '../storage/qemu-img.js';
import { runCommand } from '../util/run-command.js';
import { CAPTURE_FILE } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { VmHost } from './vm-host.js';

// The capture's file name is part of the wire contract (the controller pulls it by name).
export { CAPTURE_FILE };

/**
 * The key of a capture's transfer offer among the agent's offers. Not the VM's
 * id: a capture is a file of its own, so offering it must neither end a cold
 * migration's offer of the VM's files nor keep the VM from starting.
 */
export const captureOfferKey = (vmId: string): string => `${vmId}/capture`;

/** What capturing uses of the VM (handed over with its lock held). */
type CaptureVm = Pick<VmHost, 'vmId' | 'hypervisor' | 'logger' | 'report'>;

/** The files of a capture: the VM's disk (local or on the shared datastore), and where the capture goes (in the VM's own directory on this host). */
export interface CaptureFiles {
  readonly diskPath: string;
  readonly capturePath: string;
}

const partOf = (path: string): string => `${path}.part`;

/**
 * Makes a standalone qcow2 (no backing file) of the VM's disk as it is now,
 * at `capturePath`: of a running or paused VM by a block job while the guest
 * runs on (crash-consistent at the instant the job starts), of a powered-off
 * or suspended VM by `qemu-img convert`, which flattens the overlay onto its
 * base. The file is written under a temporary name and renamed when complete;
 * on any failure nothing is left.
 */
export async function captureVmDisk(host: CaptureVm, files: CaptureFiles, signal?: AbortSignal): Promise<{ sizeBytes: number }> {
  const cur = await host.report();
  if (cur.incomingMigrationId !== undefined) throw new AgentConflictError({ vmId: host.vmId }, 'in-migration', `it is the destination of migration ${cur.incomingMigrationId}`);
  const live = cur.state === 'running' || cur.state === 'paused';
  if (!live && cur.state !== 'poweroff' && cur.state !== 'suspended') {
    throw new AgentConflictError({ vmId: host.vmId }, 'wrong-state', `cannot capture its disk: it is ${cur.state} (allowed when running, paused, poweroff, suspended)`);
  }
  const part = partOf(files.capturePath);
  await removeCapture(files.capturePath);
  const began = Date.now();
  try {
    if (live) {
      const hv = host.hypervisor;
      if (!hv.disks?.backup) throw new UnsupportedError('disk capture', `the ${hv.kind} driver cannot copy the disk of a running VM`);
      const { virtualSize } = await imageInfo(files.diskPath, { signal });
      await createImage(part, 'qcow2', virtualSize, { signal });
      await hv.disks.backup(host.vmId, 'root', part, { signal, timeoutMs: 3_600_000 });
    } else {
      // Nothing has the disk open (the VM's lock keeps it from starting meanwhile).
      await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', files.diskPath, part], { signal, timeoutMs: 3_600_000 });
    }
    await rename(part, files.capturePath);
  } catch (err) {
    await removeCapture(files.capturePath);
    throw err;
  }
  const { size } = await stat(files.capturePath);
  host.logger.info({ vmId: host.vmId, from: cur.state, bytes: size, ms: Date.now() - began }, 'vm disk captured');
  return { sizeBytes: size };
}

/** Deletes a capture and its partial file. Idempotent. */
export async function removeCapture(capturePath: string): Promise<void> {
  await rm(partOf(capturePath), { force: true });
  await rm(capturePath, { force: true });
}

/**
 * At start-up: captures are offered from memory only, so every capture file
 * found in a VM directory belongs to a request that is over.
 */
export async function sweepCaptures(vmsDir: string, logger: Logger): Promise<void> {
  for (const id of await readdir(vmsDir).catch(() => [] as string[])) {
    const path = join(vmsDir, id, CAPTURE_FILE);
    if (await stat(path).then(() => true, () => stat(partOf(path)).then(() => true, () => false))) {
      await removeCapture(path);
      logger.info({ vmId: id }, 'leftover disk capture removed');
    }
  }
}
