import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Hypervisor } from '../hypervisor/hypervisor.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import { NuboError } from '../errors/nubo-error.js';
import { createImage, imageInfo } from '../storage/qemu-img.js';
import { runCommand } from '../util/run-command.js';
import type { AgentVmReport, TransferFileName } from './agent-api.js';

/** The name a capture is offered under (and its file's name in the VM's directory). */
export const CAPTURE_FILE: TransferFileName = 'capture.qcow2';

/**
 * The key of a capture's transfer offer among the agent's offers. Not the VM's
 * id: a capture is a file of its own, so offering it must neither end a cold
 * migration's offer of the VM's files nor keep the VM from starting.
 */
export const captureOfferKey = (vmId: string): string => `${vmId}/capture`;

/** A capture the VM's state does not allow (HTTP 409). */
export class CaptureConflictError extends NuboError {
  readonly code = 'CONFLICT';
  constructor(readonly vmId: string, reason: string) {
    super(`VM ${vmId}: ${reason}`, { vmId, reason });
  }
}

/** What capturing a prepared VM's disk needs of the agent (AgentService hands it over, its lock on the VM held). */
export interface VmCaptureHost {
  readonly vmId: string;
  readonly hypervisor: Hypervisor;
  readonly logger: Logger;
  /** The VM's disk file (local or on the shared datastore). */
  readonly diskPath: string;
  /** Where the capture goes: in the VM's own directory on this host. */
  readonly capturePath: string;
  report(): Promise<AgentVmReport>;
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
export async function captureVmDisk(host: VmCaptureHost, signal?: AbortSignal): Promise<{ sizeBytes: number }> {
  const cur = await host.report();
  if (cur.incomingMigrationId !== undefined) throw new CaptureConflictError(host.vmId, `it is the destination of migration ${cur.incomingMigrationId}`);
  const live = cur.state === 'running' || cur.state === 'paused';
  if (!live && cur.state !== 'poweroff' && cur.state !== 'suspended') {
    throw new CaptureConflictError(host.vmId, `cannot capture its disk: it is ${cur.state} (allowed when running, paused, poweroff, suspended)`);
  }
  const part = partOf(host.capturePath);
  await removeCapture(host.capturePath);
  const began = Date.now();
  try {
    if (live) {
      const hv = host.hypervisor;
      if (!hv.disks?.backup) throw new UnsupportedError('disk capture', `the ${hv.kind} driver cannot copy the disk of a running VM`);
      const { virtualSize } = await imageInfo(host.diskPath, { signal });
      await createImage(part, 'qcow2', virtualSize, { signal });
      await hv.disks.backup(host.vmId, 'root', part, { signal, timeoutMs: 3_600_000 });
    } else {
      // Nothing has the disk open (the VM's lock keeps it from starting meanwhile).
      await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', host.diskPath, part], { signal, timeoutMs: 3_600_000 });
    }
    await rename(part, host.capturePath);
  } catch (err) {
    await removeCapture(host.capturePath);
    throw err;
  }
  const { size } = await stat(host.capturePath);
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
