import { z } from 'zod';
import {
  agentVmReportSchema,
  hostReportSchema,
  incomingReadySchema,
  migrationProgressSchema,
  receiveStatusSchema,
  transferOfferSchema,
  type AgentVmReport,
  type AgentVmSpecInput,
  type AttachNicRequest,
  type HostReport,
  type IncomingReadyReport,
  type IncomingRequest,
  type MigrationProgressReport,
  type ReceiveRequest,
  type ReceiveStatus,
  type TransferOffer,
  type TransferOfferRequest,
  type migrateRequestSchema,
  type mirrorRequestSchema,
  type tuneRequestSchema,
} from '../contract/agent-api.js';
import { diskMoveStatusSchema, type DiskMoveRequest, type DiskMoveStatus, type VolumeAttachment } from '../contract/agent-api.js';
import { diskSnapshotSchema, type DiskSnapshotReport } from '../contract/agent-api.js';
import type { CaptureRequest } from '../contract/agent-api.js';
import { agentRebootReportSchema, type AgentRebootReport, type RebootRequest, type StartRequest } from '../contract/agent-api.js';
import { dirtyRateSchema, type DirtyRateReport } from '../contract/agent-api.js';
import { vmFirewallReportSchema, type VmFirewall, type VmFirewallReport } from '../contract/agent-api.js';
import type { WaitOptions } from '../util/deadline.js';
import { agentMetricsSchema, type AgentMetrics } from '../contract/metrics-schemas.js';
import { jsonRequest } from './json-request.js';
import type { EarlierConsole } from '../contract/console-log-schemas.js';

const staleReleasedSchema = z.object({ released: z.array(z.string()) });

/** The controller's typed client of one host agent. */
export class AgentClient {
  /** `beforeCall` may throw to stop a call with a side effect (any but GET) before it is sent: a controller that lost its leadership. */
  constructor(readonly baseUrl: string, readonly token: string, private readonly beforeCall?: () => void) {}

  #call<T>(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, schema: z.ZodType<T> | undefined, body: unknown, o: WaitOptions, timeoutMs: number): Promise<T> {
    if (method !== 'GET') this.beforeCall?.();
    // Kept-alive node:http rather than fetch: a controller makes thousands of these a minute (keep-alive-send.ts).
    return jsonRequest({ method, url: `${this.baseUrl}${path}`, token: this.token, body, ...(schema ? { schema } : {}), signal: o.signal, timeoutMs: o.timeoutMs ?? timeoutMs, keepAlive: true });
  }

  host(o: WaitOptions = {}): Promise<HostReport> {
    return this.#call('GET', '/agent/v1/host', hostReportSchema, undefined, o, 10_000);
  }
  /** The agent's latest metrics samples. */
  metrics(o: WaitOptions = {}): Promise<AgentMetrics> {
    return this.#call('GET', '/agent/v1/metrics', agentMetricsSchema, undefined, o, 10_000);
  }
  list(o: WaitOptions = {}): Promise<AgentVmReport[]> {
    return this.#call('GET', '/agent/v1/vms', z.array(agentVmReportSchema), undefined, o, 10_000);
  }
  get(id: string, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('GET', `/agent/v1/vms/${id}`, agentVmReportSchema, undefined, o, 10_000);
  }
  /** Prolog; fetching a large image can take minutes. */
  prepare(id: string, spec: AgentVmSpecInput, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('PUT', `/agent/v1/vms/${id}`, agentVmReportSchema, spec, o, 600_000);
  }
  /** `body.size`: the size the VM boots with (see startRequestSchema); absent: the one of its record. */
  start(id: string, o: WaitOptions = {}, body?: StartRequest): Promise<AgentVmReport> {
    // Always a JSON body, `{}` without a size: the route reads `size` from it, and a POST without one reaches it as null (refused).
    return this.#call('POST', `/agent/v1/vms/${id}/start`, agentVmReportSchema, body ?? {}, o, 180_000);
  }
  powerOff(id: string, hard: boolean, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/poweroff`, agentVmReportSchema, { hard }, o, 90_000);
  }
  /** Answers once the guest runs again: after its clean shutdown (up to `graceS`) or a reset. */
  reboot(id: string, body: RebootRequest, o: WaitOptions = {}): Promise<AgentRebootReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/reboot`, agentRebootReportSchema, body, o, ((body.graceS ?? 60) + 60) * 1000);
  }
  suspend(id: string, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/suspend`, agentVmReportSchema, undefined, o, 600_000);
  }
  /** Live storage migration to the host's other datastore; answers when the VM runs on the new disk (or failed and stayed on the old one). */
  moveDisk(id: string, body: DiskMoveRequest, o: WaitOptions = {}): Promise<DiskMoveStatus> {
    return this.#call('POST', `/agent/v1/vms/${id}/disk/move`, diskMoveStatusSchema, body, o, 6 * 3_600_000);
  }
  diskMoveStatus(id: string, o: WaitOptions = {}): Promise<DiskMoveStatus> {
    return this.#call('GET', `/agent/v1/vms/${id}/disk/move`, diskMoveStatusSchema, undefined, o, 10_000);
  }
  cancelDiskMove(id: string, o: WaitOptions = {}): Promise<DiskMoveStatus> {
    return this.#call('POST', `/agent/v1/vms/${id}/disk/move/cancel`, diskMoveStatusSchema, undefined, o, 10_000);
  }
  /** Attaches a volume (its file made on first use; hot-plugged into a running VM). Idempotent. */
  attachVolume(id: string, body: VolumeAttachment, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/volumes`, agentVmReportSchema, body, o, 60_000);
  }
  /** Detaches a volume (a running guest releases it first). Idempotent. */
  detachVolume(id: string, volumeId: string, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('DELETE', `/agent/v1/vms/${id}/volumes/${volumeId}`, agentVmReportSchema, undefined, o, 60_000);
  }
  /** Deletes a detached volume's file on the host. */
  deleteVolume(volumeId: string, o: WaitOptions = {}): Promise<void> {
    return this.#call('DELETE', `/agent/v1/volumes/${volumeId}`, undefined, undefined, o, 30_000);
  }
  /** How fast the running VM dirties memory, measured over `calcTimeS` seconds (QEMU's `calc-dirty-rate`). */
  measureDirtyRate(id: string, calcTimeS: number, o: WaitOptions = {}): Promise<DirtyRateReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/dirty-rate`, dirtyRateSchema, { calcTimeS }, o, calcTimeS * 1000 + 30_000);
  }

  /** The VM's disk snapshots, oldest first. */
  listSnapshots(id: string, o: WaitOptions = {}): Promise<DiskSnapshotReport[]> {
    return this.#call('GET', `/agent/v1/vms/${id}/snapshots`, z.array(diskSnapshotSchema), undefined, o, 30_000);
  }
  /** Takes a snapshot of the VM's disk (running: QMP; powered off or suspended: qemu-img). */
  createSnapshot(id: string, name: string, o: WaitOptions = {}): Promise<DiskSnapshotReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/snapshots`, diskSnapshotSchema, { name }, o, 300_000);
  }
  /** Reverts a powered-off VM's disk to a snapshot. Idempotent. */
  revertSnapshot(id: string, name: string, o: WaitOptions = {}): Promise<DiskSnapshotReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/snapshots/${encodeURIComponent(name)}/revert`, diskSnapshotSchema, undefined, o, 300_000);
  }
  deleteSnapshot(id: string, name: string, o: WaitOptions = {}): Promise<void> {
    return this.#call('DELETE', `/agent/v1/vms/${id}/snapshots/${encodeURIComponent(name)}`, undefined, undefined, o, 300_000);
  }
  /** The tail of the VM's serial console log: its last `bytes` (default 64 KiB). */
  consoleLog(id: string, o: WaitOptions & { readonly bytes?: number } = {}): Promise<string> {
    const q = o.bytes === undefined ? '' : `?bytes=${o.bytes}`;
    return jsonRequest<string>({ method: 'GET', url: `${this.baseUrl}/agent/v1/vms/${id}/console${q}`, token: this.token, responseType: 'text', signal: o.signal, timeoutMs: o.timeoutMs ?? 10_000 });
  }
  /** Hands the VM's console log from the host it came from to this one, which shows it before its own. */
  putEarlierConsole(id: string, log: string, o: WaitOptions = {}): Promise<void> {
    return this.#call('PUT', `/agent/v1/vms/${id}/console/earlier`, undefined, { log } satisfies EarlierConsole, o, 30_000);
  }
  delete(id: string, o: WaitOptions = {}): Promise<void> {
    return this.#call('DELETE', `/agent/v1/vms/${id}`, undefined, undefined, o, 60_000);
  }
  /** Adds a NIC (spec, config drive, hot-plug when it runs); the guest has to take a hot-plugged device. Idempotent. */
  attachNic(id: string, nic: AttachNicRequest, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/nics`, agentVmReportSchema, nic, o, 60_000);
  }
  /** Removes NIC `index`; waits for the guest to release a hot-plugged one. Idempotent. */
  detachNic(id: string, index: number, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('DELETE', `/agent/v1/vms/${id}/nics/${index}`, agentVmReportSchema, undefined, o, 90_000);
  }
  /** Sets the VM's firewall (security groups) on this host: kept, and loaded on its TAPs if it runs here; an older revision changes nothing. */
  setFirewall(id: string, firewall: VmFirewall, o: WaitOptions = {}): Promise<VmFirewallReport> {
    return this.#call('PUT', `/agent/v1/vms/${id}/firewall`, vmFirewallReportSchema, firewall, o, 30_000);
  }
  /** Drops this host's copy of a VM that lives elsewhere (never a shared disk). */
  /** HA: records a fenced host's VM here from its shared disk (not started). Idempotent. */
  takeOver(id: string, spec: AgentVmSpecInput, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('PUT', `/agent/v1/vms/${id}/takeover`, agentVmReportSchema, spec, o, 60_000);
  }
  /** HA: ends this host's stale copies of these VMs (they run elsewhere now); answers the ones it held. */
  async releaseStale(vmIds: readonly string[], o: WaitOptions = {}): Promise<string[]> {
    return (await this.#call('POST', '/agent/v1/stale-vms/release', staleReleasedSchema, { vmIds }, o, 120_000)).released;
  }
  release(id: string, o: WaitOptions = {}): Promise<void> {
    return this.#call('POST', `/agent/v1/vms/${id}/release`, undefined, undefined, o, 60_000);
  }

  /** Captures the VM's disk into a standalone qcow2 and offers it for download (`capture.qcow2`); answers when the copy is made. */
  capture(id: string, req: CaptureRequest, o: WaitOptions = {}): Promise<TransferOffer> {
    return this.#call('POST', `/agent/v1/vms/${id}/capture`, transferOfferSchema, req, o, 3_600_000);
  }
  /** Deletes the VM's capture and ends its offer. Idempotent. */
  deleteCapture(id: string, o: WaitOptions = {}): Promise<void> {
    return this.#call('DELETE', `/agent/v1/vms/${id}/capture`, undefined, undefined, o, 30_000);
  }
  /** Cold migration, source: offers the VM's files to a peer under a token of their own. */
  offerTransfer(id: string, req: TransferOfferRequest, o: WaitOptions = {}): Promise<TransferOffer> {
    return this.#call('POST', `/agent/v1/vms/${id}/transfer`, transferOfferSchema, req, o, 60_000);
  }
  revokeTransfer(id: string, o: WaitOptions = {}): Promise<void> {
    return this.#call('DELETE', `/agent/v1/vms/${id}/transfer`, undefined, undefined, o, 10_000);
  }
  /** Cold migration, destination: starts pulling the offered files; answers at once. */
  receive(id: string, req: ReceiveRequest, o: WaitOptions = {}): Promise<ReceiveStatus> {
    return this.#call('POST', `/agent/v1/vms/${id}/receive`, receiveStatusSchema, req, o, 60_000);
  }
  /** `waitMs`: a long poll — the destination answers as soon as its copy ends, or after that long (an agent before the long poll answers at once). */
  receiveStatus(id: string, o: WaitOptions & { waitMs?: number } = {}): Promise<ReceiveStatus> {
    const wait = o.waitMs !== undefined && o.waitMs > 0 ? Math.round(o.waitMs) : 0;
    return this.#call('GET', `/agent/v1/vms/${id}/receive${wait > 0 ? `?waitMs=${wait}` : ''}`, receiveStatusSchema, undefined, o, 10_000 + wait);
  }
  commitReceive(id: string, o: WaitOptions = {}): Promise<void> {
    return this.#call('POST', `/agent/v1/vms/${id}/receive/commit`, undefined, undefined, o, 30_000);
  }

  incoming(id: string, req: IncomingRequest, o: WaitOptions = {}): Promise<IncomingReadyReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/incoming`, incomingReadySchema, req, o, 600_000);
  }
  activate(id: string, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/migration/activate`, agentVmReportSchema, undefined, o, 30_000);
  }
  mirror(id: string, req: z.input<typeof mirrorRequestSchema>, o: WaitOptions = {}): Promise<void> {
    return this.#call('POST', `/agent/v1/vms/${id}/migration/mirror`, undefined, req, o, 60_000);
  }
  migrate(id: string, req: z.input<typeof migrateRequestSchema>, o: WaitOptions = {}): Promise<void> {
    return this.#call('POST', `/agent/v1/vms/${id}/migration/start`, undefined, req, o, 30_000);
  }
  /** `waitMs`: a long poll — the source answers as soon as its migration ends, or after that long. */
  migrationStatus(id: string, o: WaitOptions & { waitMs?: number } = {}): Promise<MigrationProgressReport> {
    const wait = o.waitMs !== undefined && o.waitMs > 0 ? Math.round(o.waitMs) : 0;
    return this.#call('GET', `/agent/v1/vms/${id}/migration${wait > 0 ? `?waitMs=${wait}` : ''}`, migrationProgressSchema, undefined, o, 10_000 + wait);
  }
  tuneMigration(id: string, req: z.input<typeof tuneRequestSchema>, o: WaitOptions = {}): Promise<void> {
    return this.#call('POST', `/agent/v1/vms/${id}/migration/tune`, undefined, req, o, 10_000);
  }
  completeMirrors(id: string, o: WaitOptions = {}): Promise<void> {
    return this.#call('POST', `/agent/v1/vms/${id}/migration/complete-mirrors`, undefined, undefined, o, 300_000);
  }
  cancelMigration(id: string, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/migration/cancel`, agentVmReportSchema, undefined, o, 60_000);
  }
  resumeSource(id: string, o: WaitOptions = {}): Promise<AgentVmReport> {
    return this.#call('POST', `/agent/v1/vms/${id}/migration/resume-source`, agentVmReportSchema, undefined, o, 30_000);
  }
}
