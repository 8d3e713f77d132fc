import { mkdir, rm, stat } from 'node:fs/promises';
import type { LiveMigration } from '../hypervisor/live-migration.js';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { ValidationError } from '../errors/validation-error.js';
import { createOverlay, imageInfo } from '../storage/qemu-img.js';
import { runCommand } from '../util/run-command.js';
import {
  incomingRequestSchema,
  migrateRequestSchema,
  mirrorRequestSchema,
  tuneRequestSchema,
  type AgentVmReport,
  type IncomingReadyReport,
  type MigrationProgressReport,
} from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { AgentHost } from './agent-host.js';
import { AgentMigrationError } from './agent-migration-error.js';
import { refuseCopyWithSnapshots } from './vm-snapshots.js';

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/**
 * Live migration (DESIGN.md §5) as one host takes part in it: the
 * destination's side (incoming, activate) and the source's (mirror, migrate,
 * progress, tuning, cancel, resume).
 */
export class LiveMigrationEndpoint {
  constructor(readonly host: AgentHost) {}

  #migration(id: string): LiveMigration {
    const m = this.host.hypervisor.migration;
    if (!m) throw new AgentMigrationError(id, `the ${this.host.hypervisor.kind} driver cannot live-migrate`);
    return m;
  }

  #tls(): { dir: string } | undefined {
    return this.host.o.migrationTlsDir === undefined ? undefined : { dir: this.host.o.migrationTlsDir };
  }

  /**
   * Destination, stage 1: makes the disks (shared: the source's own; local:
   * an empty overlay on this host's copy of the same base image, or an empty
   * image of the same size for standalone disks), the config drive, and a
   * QEMU waiting for the stream. Idempotent for the same migration.
   */
  incoming(id: string, input: unknown, signal?: AbortSignal): Promise<IncomingReadyReport> {
    const r = incomingRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('incoming migration', zodIssues(r.error)));
    const req = r.data;
    const spec = req.spec;
    const h = this.host;
    return h.locks.run(id, async () => {
      const migration = this.#migration(id);
      const vm = h.vm(id);
      const p = vm.paths;
      const marker = await h.records.readIncoming(id);
      if (marker) {
        if (marker.migrationId !== req.migrationId) throw new AgentConflictError({ vmId: id }, 'busy', `already waiting for migration ${marker.migrationId}`);
        const cur = await vm.report();
        if (cur.state === 'inmigrate') return marker.ready;
        await vm.hypervisor.destroy(id, { signal });
      } else if (await h.records.readSpec(id)) {
        throw new AgentConflictError({ vmId: id }, 'exists', 'this host already holds the VM');
      }
      if (h.o.migrationAddress === undefined) throw new AgentMigrationError(id, 'this agent has no migration address (--migration-address)');
      const files = vm.files(spec);
      await rm(p.dir, { recursive: true, force: true });
      await mkdir(p.dir, { recursive: true });
      try {
        let mirrorSync: 'top' | 'full' | undefined;
        if (files.sharedDir !== undefined) {
          if (!(await exists(files.disk))) throw new AgentMigrationError(id, `the shared datastore has no disk ${files.disk}`);
          await vm.ensureImages(spec, signal);
        } else {
          const base = await vm.ensureImages(spec, signal);
          if (spec.disk.mode === 'overlay') {
            await createOverlay(base, spec.disk.image.format === 'raw' ? 'raw' : 'qcow2', files.disk, { signal });
            mirrorSync = 'top';
          } else {
            const info = await imageInfo(base, { signal });
            await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', files.disk, String(info.virtualSize)], { signal, timeoutMs: 60_000 });
            mirrorSync = 'full';
          }
          await vm.buildConfigDrive(spec, files.iso, signal);
        }
        await vm.writeSpec(spec);
        await h.firewalls.beforeStart(id, spec, signal);
        const ready = await migration.startIncoming(vm.hvSpec(spec), {
          listenHost: h.o.migrationAddress,
          tls: this.#tls(),
          ...(mirrorSync !== undefined ? { nbdDisks: ['root'] } : {}),
          postcopy: req.postcopy,
          autostart: req.autostart,
          ...(signal ? { signal } : {}),
        });
        const report: IncomingReadyReport = {
          uri: ready.uri,
          ...(ready.nbd ? { nbd: { host: ready.nbd.host, port: ready.nbd.port, exports: ready.nbd.exports.map((e) => ({ diskId: e.diskId, name: e.name })) } } : {}),
          ...(mirrorSync !== undefined ? { mirrorSync } : {}),
          tls: h.o.migrationTlsDir !== undefined,
        };
        await h.records.writeIncoming(id, { migrationId: req.migrationId, ready: report });
        h.logger.info({ vmId: id, migrationId: req.migrationId, uri: ready.uri, storage: spec.disk.datastore }, 'waiting for incoming migration');
        return report;
      } catch (err) {
        await vm.hypervisor.destroy(id).catch(() => {});
        await rm(p.dir, { recursive: true, force: true });
        throw err;
      }
    }, signal);
  }

  /** Source, non-shared storage: mirrors the VM's disk to the destination's NBD export. */
  mirror(id: string, input: unknown, signal?: AbortSignal): Promise<void> {
    const r = mirrorRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('disk mirror', zodIssues(r.error)));
    const req = r.data;
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      await vm.readSpec();
      await refuseCopyWithSnapshots(vm, 'be live-migrated to another host\'s local datastore', signal);
      await this.#migration(id).mirrorDisks(id, { nbd: req.nbd, sync: req.sync, tls: this.#tls(), maxBandwidthBytes: req.maxBandwidthBytes, ...(signal ? { signal } : {}) });
    }, signal);
  }

  /** Source, stage 2: starts the pre-copy. */
  migrate(id: string, input: unknown, signal?: AbortSignal): Promise<void> {
    const r = migrateRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('migration', zodIssues(r.error)));
    const req = r.data;
    return this.host.locks.run(id, async () => {
      await this.host.records.requireSpec(id);
      await this.#migration(id).migrateOut(id, { uri: req.uri, params: req.params, tls: this.#tls(), destAutostart: req.destAutostart, ...(signal ? { signal } : {}) });
    }, signal);
  }

  /**
   * Not serialised with the other calls: progress is read while a long call may hold the VM's lock.
   * `waitMs`: a source answers as soon as its migration ends, or after that long (a long poll).
   */
  async migrationStatus(id: string, signal?: AbortSignal, waitMs?: number): Promise<MigrationProgressReport> {
    await this.host.records.requireSpec(id);
    const p = await this.#migration(id).migrationStatus(id, { ...(signal ? { signal } : {}), ...(waitMs !== undefined ? { waitMs } : {}) });
    return { ...p, disks: p.disks.map((d) => ({ ...d })) };
  }

  async tuneMigration(id: string, input: unknown, signal?: AbortSignal): Promise<void> {
    const r = tuneRequestSchema.safeParse(input);
    if (!r.success) throw new ValidationError('migration tuning', zodIssues(r.error));
    await this.host.records.requireSpec(id);
    await this.#migration(id).tuneMigration(id, r.data, { ...(signal ? { signal } : {}) });
  }

  completeMirrors(id: string, signal?: AbortSignal): Promise<void> {
    return this.host.locks.run(id, async () => {
      await this.host.records.requireSpec(id);
      await this.#migration(id).completeMirrors(id, { ...(signal ? { signal } : {}) });
    }, signal);
  }

  /** Source: abandons the migration; the VM keeps running here. */
  cancelMigration(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      await vm.readSpec();
      const cur = await vm.report();
      if (cur.state === 'running' || cur.state === 'paused') await this.#migration(id).cancelMigration(id, { ...(signal ? { signal } : {}) });
      return vm.report();
    }, signal);
  }

  /**
   * Destination, stage 5: runs the VM that arrived; it is this host's VM from now on. With resume on completion
   * QEMU runs it already: this confirms the switch (drops the incoming marker, the NBD server, the TLS credentials).
   */
  activate(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      await vm.readSpec();
      // Also when it runs: an agent that died between `cont` and here left the driver's record saying "incoming" (a no-op otherwise).
      await this.#migration(id).activateIncoming(id, { ...(signal ? { signal } : {}) });
      await h.records.removeIncoming(id);
      h.logger.info({ vmId: id }, 'incoming migration activated');
      return vm.report();
    }, signal);
  }

  /**
   * Source after a failed migration whose destination is known dead: runs the
   * postmigrate copy again. Only the controller can know that no other copy
   * runs, so only it calls this; the driver still refuses when the destination
   * was to run the guest on its own at completion (resume on completion).
   */
  resumeSource(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      await vm.readSpec();
      const cur = await vm.report();
      if (cur.state === 'postmigrate' || cur.state === 'paused') await this.#migration(id).resumeSource(id, { ...(signal ? { signal } : {}) });
      return vm.report();
    }, signal);
  }
}
