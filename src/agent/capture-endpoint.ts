import { join } from 'node:path';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { ValidationError } from '../errors/validation-error.js';
import { captureRequestSchema, type TransferOffer } from '../contract/agent-api.js';
import type { AgentHost } from './agent-host.js';
import { CAPTURE_FILE, captureOfferKey, captureVmDisk, removeCapture, sweepCaptures } from './vm-capture.js';

/** Disk capture (see vm-capture.ts): the controller pulls a standalone copy of a VM's disk. */
export class CaptureEndpoint {
  constructor(readonly host: AgentHost) {}

  /**
   * Captures the VM's disk (running, paused, powered off or suspended) into
   * `capture.qcow2` in its directory and offers it like a cold migration's
   * files; a capture there before is replaced. The controller deletes it when
   * it has its copy.
   */
  capture(id: string, input: unknown, signal?: AbortSignal): Promise<TransferOffer> {
    const r = captureRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('capture', zodIssues(r.error)));
    const req = r.data;
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      const spec = await vm.readSpec();
      h.offers.revoke(captureOfferKey(id));
      const path = join(vm.paths.dir, CAPTURE_FILE);
      const { sizeBytes } = await captureVmDisk(vm, { diskPath: vm.files(spec).disk, capturePath: path }, signal);
      const o = h.offers.open(captureOfferKey(id), req.captureId, [{ name: CAPTURE_FILE, path, sizeBytes }], req.ttlS * 1000);
      return { transferId: o.transferId, token: o.token, files: o.files.map((f) => ({ name: f.name, sizeBytes: f.sizeBytes })), expiresAt: new Date(o.expiresAt).toISOString() };
    }, signal);
  }

  /** Ends the capture's offer and deletes its file. Idempotent (also for a VM this host no longer holds). */
  deleteCapture(id: string, signal?: AbortSignal): Promise<void> {
    const h = this.host;
    h.offers.revoke(captureOfferKey(id));
    return h.locks.run(id, () => removeCapture(join(h.records.paths(id).dir, CAPTURE_FILE)), signal);
  }

  /** At start-up: captures whose offers died with the previous process. */
  sweepCaptures(): Promise<void> {
    return sweepCaptures(this.host.records.root, this.host.logger);
  }
}
