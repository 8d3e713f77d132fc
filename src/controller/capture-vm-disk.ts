import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { pullFile } from '../transfer/pull-file.js';
import { CAPTURE_FILE } from '../contract/agent-api.js';
import type { AgentClient } from '../client/agent-client.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { deadline, type WaitOptions } from '../util/deadline.js';
import { agentVmId } from './agent-vm-id.js';
import { CaptureError } from './capture-error.js';

export interface CaptureVmDiskDeps {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
}

/**
 * Copies the VM's disk, as it is now, into `dest` on the controller: its
 * host's agent makes a standalone qcow2 of it (a point-in-time block job for a
 * running VM, a flattening convert for one at rest) and offers it under a
 * token of its own; the file is pulled and checked against the size and the
 * sha256 the agent computed as it sent it. Whatever happens, the agent is told
 * to delete its capture afterwards. `dest` is the caller's to remove.
 * @throws RemoteError (the agent refused), UnreachableError, FileTransferError, TimeoutError
 */
export async function captureVmDisk(deps: CaptureVmDiskDeps, vm: Vm, dest: string, opts: WaitOptions = {}): Promise<{ sizeBytes: number; sha256: string }> {
  if (vm.hostId === null) throw new CaptureError(vm.name, `VM ${vm.name} is on no host`);
  const host = await deps.store.hosts.get(vm.hostId);
  const agent = deps.agentFor(host);
  const id = agentVmId(vm.id);
  const timeoutMs = opts.timeoutMs ?? 3_600_000;
  const d = deadline(`capture of the disk of VM ${vm.name}`, timeoutMs, opts.signal);
  const began = Date.now();
  try {
    const offer = await agent.capture(id, { captureId: randomUUID(), ttlS: Math.ceil(timeoutMs / 1000) + 60 }, { signal: d.signal, timeoutMs });
    const file = offer.files.find((f) => f.name === CAPTURE_FILE);
    if (file === undefined) throw new CaptureError(vm.name, `host ${host.name} offered no ${CAPTURE_FILE}`);
    const { sha256 } = await pullFile({
      url: `${host.agentUrl.replace(/\/$/, '')}/agent/v1/transfers/${offer.transferId}/files/${CAPTURE_FILE}`,
      token: offer.token,
      dest,
      sizeBytes: file.sizeBytes,
      signal: d.signal,
    });
    deps.logger.info({ vmId: vm.id, host: host.name, bytes: file.sizeBytes, ms: Date.now() - began }, 'vm disk captured and copied');
    return { sizeBytes: file.sizeBytes, sha256 };
  } finally {
    d.dispose();
    // Not under the caller's signal: its abort may be why we are here, and the host must not keep the copy.
    await agent.deleteCapture(id, { timeoutMs: 30_000 }).catch((err: unknown) => deps.logger.warn({ vmId: vm.id, host: host.name, err: errorMessage(err) }, 'deleting the disk capture on the host failed'));
  }
}
