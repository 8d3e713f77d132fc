import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import { RemoteError } from '../client/remote-error.js';
import type { AgentVmReport, MigrationProgressReport } from '../contract/agent-api.js';
import { abortEndsWithoutCancel, decideMigration, type MigrationDecision, type SideView } from '../core/migration/decide-migration.js';
import { finalFigures } from '../core/migration/final-figures.js';
import { resolutionDeadline } from '../core/migration/resolution-deadline.js';
import { applyConvergenceStep, initialLevers, nextConvergenceStep, type ProgressSample } from '../core/migration/convergence-policy.js';
import { parseMigrationPolicy, toMigrationParameters, type MigrationPolicy } from '../core/migration/migration-policy.js';
import type { MigrationStage } from '../core/migration/migration-stage.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { pollUntil, sleep } from '../util/deadline.js';
import { MigrationAbortedError, MigrationLostError, MigrationStepError } from './migration-errors.js';
import { CancelRequest, MigrationRuns } from './migration-runs.js';
import { agentVmId } from './agent-vm-id.js';
import { progressStats } from './progress-stats.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { Failpoints } from '../util/failpoints.js';

export interface LiveMigratorOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
  /** How often the source's progress is read during pre-copy. */
  readonly pollIntervalMs?: number;
  /** Whether hosts can switch to post-copy (userfaultfd; only sensible with KVM). */
  readonly postcopySupported?: boolean;
  /** Fault injection for tests: `migration.<stage>` is hit right after each stage is journalled. */
  readonly failpoints?: Failpoints | undefined;
}


/** Nothing safe could be done yet: ask both agents again. */
class RetryDecision extends Error {}

interface Ends {
  readonly m: MigrationRecord;
  readonly src: AgentClient;
  readonly dst: AgentClient;
  readonly id: string;
}

/**
 * Drives one live migration through DESIGN.md §5's stages, journalling each
 * before the next side effect, so that whatever stops it — a failed step, a
 * cancel, a controller crash — the decision of what to do next is taken by
 * core's `decideMigration` from the journal and what both agents say they
 * hold, never from memory of this process.
 */
export class LiveMigrator {
  readonly #o: LiveMigratorOptions;
  readonly #runs: MigrationRuns;

  constructor(o: LiveMigratorOptions) {
    this.#o = o;
    this.#runs = new MigrationRuns({ store: o.store, logger: o.logger, kind: 'live', action: 'migrate-live' });
  }

  /**
   * At start-up, before operations resume: a migration recorded but whose VM
   * never entered `migrate-live` (the controller stopped between the two
   * writes) made no side effect on any agent: it ends, freeing its room.
   */
  async sweepUnstarted(): Promise<void> {
    await this.#runs.sweepUnstarted();
  }

  /** Marks a migration as begun here (before the VM's operation is kicked). */
  begun(migrationId: string): void {
    this.#runs.begun(migrationId);
  }

  /** Asks a running migration to stop before its commit. */
  cancel(migrationId: string, reason = 'cancelled by the user'): Promise<MigrationRecord> {
    return this.#runs.cancel(migrationId, reason, (m) => {
      if (['committed', 'activated', 'cleaned'].includes(m.stage)) return `it is past its commit (${m.stage}); it finishes on the destination`;
      if (m.journal.some((j) => j.stage === 'postcopy')) return 'it switched to post-copy: the guest runs on the destination already';
      return undefined;
    });
  }

  /**
   * Runs the VM's unfinished migration to its end. Resolves when the VM runs
   * on the destination (or was rolled forward there); throws
   * MigrationAbortedError when it runs on the source again, MigrationLostError
   * when no copy is left.
   */
  async drive(vm: Vm, stopping: AbortSignal): Promise<void> {
    const [m] = await this.#o.store.migrations.list({ vmId: vm.id, state: 'running' });
    if (!m) throw new MigrationAbortedError('-', 'the VM has no running migration record');
    await this.#o.failpoints?.hit('migration.reservation');
    const ends: Ends = {
      m,
      src: this.#o.agentFor(await this.#o.store.hosts.get(m.sourceHostId)),
      dst: this.#o.agentFor(await this.#o.store.hosts.get(m.destHostId)),
      id: agentVmId(vm.id),
    };
    return this.#runs.run(m.id, async (cancel, resumed) => {
      const signal = AbortSignal.any([stopping, cancel.signal]);
      if (resumed) {
        this.#o.logger.warn({ migrationId: m.id, vmId: vm.id, stage: m.stage }, 'resuming an unfinished migration: asking both agents');
        return this.#resolve(ends, `the controller restarted during ${m.stage}`, stopping);
      }
      try {
        await this.#run(ends, vm, signal, stopping);
      } catch (err) {
        if (stopping.aborted) throw err; // the next controller resolves it from the journal
        const cause = cancel.signal.aborted ? errorMessage(cancel.signal.reason) : errorMessage(err);
        this.#o.logger.warn({ migrationId: m.id, vmId: vm.id, err }, 'migration step failed');
        // A user's cancel and the convergence policy's abort are decisions, not faults: the record says aborted.
        await this.#resolve(ends, cause, stopping, cancel.signal.aborted || err instanceof CancelRequest);
      }
    });
  }

  async #stage(m: MigrationRecord, stage: MigrationStage, data?: JsonObject): Promise<MigrationRecord> {
    this.#o.logger.info({ migrationId: m.id, vmId: m.vmId, stage, ...data }, 'migration stage');
    const next = await this.#o.store.migrations.updateStage(m.id, stage, data);
    await this.#o.failpoints?.hit(`migration.${stage}`);
    return next;
  }

  async #run(e: Ends, vm: Vm, signal: AbortSignal, stopping: AbortSignal): Promise<void> {
    const store = this.#o.store;
    let m = e.m;
    const policy = parseMigrationPolicy(m.policy);
    const began = Date.parse(m.startedAt);
    const overall = AbortSignal.timeout(policy.timeoutS * 1000);
    const sig = AbortSignal.any([signal, overall]);
    const o = { signal: sig };
    const spec = (vm.spec as unknown as ControllerVmSpec).agent;

    // Stage 1 (destination): identical device model, paused, waiting for the stream.
    const ready = await e.dst.incoming(e.id, { migrationId: m.id, spec, postcopy: policy.postcopy }, o);
    m = await this.#stage(m, 'prepared', { uri: ready.uri, storage: ready.nbd ? 'local' : 'shared', tls: ready.tls, ...(ready.mirrorSync ? { mirrorSync: ready.mirrorSync } : {}) });

    // Non-shared storage: the disks first, to READY; the mirror keeps them in step during pre-copy.
    if (ready.nbd && ready.mirrorSync) {
      await e.src.mirror(e.id, { nbd: ready.nbd, sync: ready.mirrorSync, maxBandwidthBytes: policy.maxBandwidthMiBps * 1024 * 1024 }, o);
      m = await this.#stage(m, 'mirroring');
      await this.#pollMirrors(e, m, sig);
    }

    // Stage 2: iterative pre-copy under the convergence policy.
    await e.src.migrate(e.id, { uri: ready.uri, params: toMigrationParameters(policy, { postcopySupported: this.#o.postcopySupported ?? false }) }, o);
    m = await this.#stage(m, 'precopy');
    const final = await this.#pollPrecopy(e, m, policy, sig);

    // Stage 3 happened inside QEMU: the source paused for the last pass. Its length is QEMU's downtime.
    const stopAndCopy = this.#stage(m, 'stop-and-copy', { downtimeMs: final.downtimeMs ?? null, observed: 'at completion, from QEMU' });
    // The source says completed a moment before the destination has loaded the last of the stream: wait for it to pause.
    // Usually a few ms: asked often, as the guest is paused until it runs on the destination. Only a read, so it overlaps
    // the journal write — unless the mirrors are to be completed first, a side effect that waits for the journal.
    const destPaused = (): Promise<AgentVmReport> => pollUntil('the destination to hold the complete image', async () => {
      const r = await e.dst.get(e.id, o);
      return r.state === 'inmigrate' ? undefined : r;
    }, { signal: sig, timeoutMs: 30_000, intervalMs: 5 });
    let dst: AgentVmReport;
    if (ready.nbd) {
      m = await stopAndCopy;
      await e.src.completeMirrors(e.id, o);
      dst = await destPaused();
    } else {
      [m, dst] = await Promise.all([stopAndCopy, destPaused()]);
    }
    if (dst.state !== 'paused') throw new MigrationStepError(m.id, `the destination holds the VM ${dst.state}, not paused with the complete image`);
    m = await this.#stage(m, 'transferred', { transferredBytes: final.transferredBytes, passes: final.passes });

    // Stage 4: the only commit point.
    m = await store.migrations.commit(m.id);
    this.#o.logger.info({ migrationId: m.id, vmId: m.vmId }, 'migration committed');
    await this.#o.failpoints?.hit('migration.committed');

    // Stage 5: run it on the destination, then let go of the source's paused copy. Past the commit a cancel no longer applies.
    const act = await e.dst.activate(e.id, { signal: stopping });
    if (act.state !== 'running') throw new MigrationStepError(m.id, `the destination reports ${act.state} after cont`);
    m = await this.#stage(m, 'activated');
    const totalTimeMs = Date.now() - began;
    const figures = await this.#finalFigures(e, m, final, stopping);
    const kept = finalFigures(m.journal, m.stats, figures);
    await this.#finishForward(e, m, {
      totalTimeMs,
      ...kept,
      finalDirtyRateBytes: figures.dirtyRateBytes,
      mbps: figures.mbps,
    });
  }

  /**
   * After activation, from the source (its QEMU keeps the completed migration's figures until it is released): QEMU's
   * downtime and totals, which it fills in a moment after it reports completion. Recorded as the last progress.
   */
  async #finalFigures(e: Ends, m: MigrationRecord, atCompletion: MigrationProgressReport & { actions: JsonObject[] }, stopping: AbortSignal): Promise<MigrationProgressReport> {
    let p: MigrationProgressReport = atCompletion;
    for (let i = 0; i < 5 && !(p.downtimeMs !== undefined && p.downtimeMs > 0); i++) {
      const r = await e.src.migrationStatus(e.id, { signal: stopping, timeoutMs: 5_000 }).catch(() => undefined);
      if (r?.status !== 'completed') break;
      p = { ...r, dirtyRateBytes: atCompletion.dirtyRateBytes };
      if (!(p.downtimeMs !== undefined && p.downtimeMs > 0)) await sleep(10, stopping);
    }
    await this.#o.store.migrations.updateProgress(m.id, progressStats(p, atCompletion.actions));
    return p;
  }

  /** After activation: the source's copy goes; if its agent is away, its heartbeat cleanup does it later. */
  async #finishForward(e: Ends, m: MigrationRecord, stats: JsonObject, reason?: string): Promise<void> {
    let cleaned = true;
    try {
      await e.src.release(e.id, { timeoutMs: 60_000 });
    } catch (err) {
      cleaned = false;
      this.#o.logger.warn({ migrationId: m.id, err }, 'source copy not released yet; the host monitor releases it when the agent answers');
    }
    if (cleaned) m = await this.#stage(m, 'cleaned');
    await this.#o.store.migrations.finish(m.id, { state: 'succeeded', stats: { ...stats, sourceReleased: cleaned }, ...(reason !== undefined ? { reason } : {}) });
    this.#o.logger.info({ migrationId: m.id, vmId: m.vmId, ...stats }, 'migration succeeded');
  }

  async #pollMirrors(e: Ends, m: MigrationRecord, signal: AbortSignal): Promise<void> {
    const every = this.#o.pollIntervalMs ?? 200;
    let lastWrite = 0;
    let lastDestCheck = Date.now();
    for (;;) {
      // A mirror into a destination that died just stalls (its NBD client waits): only the destination can say.
      if (Date.now() - lastDestCheck >= 1_000) {
        lastDestCheck = Date.now();
        const d = await e.dst.get(e.id, { signal, timeoutMs: 5_000 });
        if (d.state !== 'inmigrate') throw new MigrationStepError(m.id, `the destination holds the VM ${d.state} while the disks are mirrored to it`);
      }
      const p = await e.src.migrationStatus(e.id, { signal });
      if (p.disks.length === 0) throw new MigrationStepError(m.id, 'the source reports no disk mirror');
      const done = p.disks.reduce((s, d) => s + d.offset, 0);
      const len = p.disks.reduce((s, d) => s + d.len, 0);
      if (Date.now() - lastWrite >= 500 || p.disks.every((d) => d.ready)) {
        lastWrite = Date.now();
        await this.#o.store.migrations.updateProgress(m.id, { diskCopiedBytes: done, diskTotalBytes: len });
      }
      if (p.disks.every((d) => d.ready)) return;
      await sleep(every, signal);
    }
  }

  async #pollPrecopy(e: Ends, m0: MigrationRecord, policy: MigrationPolicy, signal: AbortSignal): Promise<MigrationProgressReport & { actions: JsonObject[] }> {
    const every = this.#o.pollIntervalMs ?? 100;
    let m = m0;
    const samples: ProgressSample[] = [];
    let applied = initialLevers(policy);
    let lastDirtyRate = 0;
    const actions: JsonObject[] = [];
    let lastWrite = 0;
    for (;;) {
      const asked = Date.now();
      // A long poll: the source's agent answers the moment the migration ends (QEMU's MIGRATION event), else after `every`.
      const p = await e.src.migrationStatus(e.id, { signal, waitMs: every });
      if (p.status === 'completed') {
        // The guest is paused on both ends until activation: its final figures (QEMU fills in downtime a moment after it
        // says completed) are read and recorded after the switch, not here (see #finalFigures).
        // QEMU 7.2 recomputes the dirty rate at most once a second and says 0 at completion: keep the last measured one.
        return { ...(p.dirtyRateBytes > 0 ? p : { ...p, dirtyRateBytes: lastDirtyRate }), actions };
      }
      if (p.dirtyRateBytes > 0) lastDirtyRate = p.dirtyRateBytes;
      if (p.status === 'failed' || p.status === 'cancelled' || p.status === 'cancelling') {
        throw new MigrationStepError(m.id, `QEMU reports the migration ${p.status}${p.error ? `: ${p.error}` : ''}`);
      }
      const now = Date.now();
      if (p.status === 'active' || p.status === 'postcopy-active') {
        samples.push({
          atMs: now, remainingBytes: p.remainingBytes, dirtyRateBytes: p.dirtyRateBytes, bandwidthBytesPerS: (p.mbps * 1e6) / 8, passes: p.passes,
          ...(p.expectedDowntimeMs !== undefined ? { expectedDowntimeMs: p.expectedDowntimeMs } : {}),
          ...(p.cpuThrottlePercent !== undefined ? { cpuThrottlePercent: p.cpuThrottlePercent } : {}),
        });
        const step = nextConvergenceStep(policy, samples, applied, { nowMs: now, startedAtMs: Date.parse(m.startedAt), postcopySupported: this.#o.postcopySupported ?? false });
        if (step.kind !== 'none') {
          actions.push({ at: new Date(now).toISOString(), kind: step.kind, reason: step.reason });
          this.#o.logger.info({ migrationId: m.id, step }, 'convergence policy');
          switch (step.kind) {
            case 'raise-downtime':
              await e.src.tuneMigration(e.id, { downtimeLimitMs: step.downtimeLimitMs }, { signal });
              break;
            case 'throttle':
              await e.src.tuneMigration(e.id, { cpuThrottlePercent: step.cpuThrottlePercent }, { signal });
              break;
            case 'postcopy':
              // Journalled first: from the switch on the destination is the VM, and a restart must know it.
              m = await this.#stage(m, 'postcopy', { reason: step.reason });
              await e.src.tuneMigration(e.id, { startPostcopy: true }, { signal });
              break;
            case 'abort':
              await this.#o.store.migrations.updateProgress(m.id, progressStats(p, actions));
              throw new CancelRequest(`the convergence policy gave up: ${step.reason}`);
          }
          applied = applyConvergenceStep(applied, step, p.passes);
          await this.#o.store.migrations.updateProgress(m.id, progressStats(p, actions));
          lastWrite = now;
        }
      }
      if (now - lastWrite >= 500) {
        lastWrite = now;
        await this.#o.store.migrations.updateProgress(m.id, progressStats(p, actions));
      }
      // The agent waited already (unless the migration was not in flight yet, or it is an agent that does not wait): keep the cadence.
      const left = every - (Date.now() - asked);
      if (left > 0) await sleep(left, signal);
    }
  }

  async #view(agent: AgentClient, id: string): Promise<SideView> {
    try {
      const r = await agent.get(id, { timeoutMs: 5_000 });
      return { reachable: true, state: r.state };
    } catch (err) {
      if (err instanceof RemoteError && (err.code === 'VM_NOT_FOUND' || err.code === 'NOT_FOUND')) return { reachable: true, state: 'absent' };
      return { reachable: false };
    }
  }

  /**
   * After a failure, a cancel or a restart: asks both agents, lets core
   * decide, carries the decision out, and records the outcome. Repeats while
   * the decision is to wait (an end that cannot be asked yet).
   */
  async #resolve(e: Ends, cause: string, stopping: AbortSignal, cancelled = false): Promise<void> {
    const store = this.#o.store;
    const resolvingSinceMs = Date.now();
    for (;;) {
      const m = await store.migrations.get(e.m.id);
      // Ended elsewhere (an admin terminated the VM): nothing is left for this drive to decide.
      if (m.state !== 'running') throw new MigrationAbortedError(m.id, `it ended meanwhile (${m.state}): ${m.reason ?? ''}`);
      const vm = await store.vms.get(m.vmId);
      const source = await this.#view(e.src, e.id);
      const dest = await this.#view(e.dst, e.id);
      const committed = vm.hostId === m.destHostId;
      const mirroredDisks = m.journal.some((j) => j.stage === 'prepared' && j.data?.['storage'] === 'local');
      const postcopyStarted = m.journal.some((j) => j.stage === 'postcopy');
      const d: MigrationDecision = decideMigration({ stage: m.stage as MigrationStage, committed, source, dest, cause, mirroredDisks, postcopyStarted });
      this.#o.logger.warn({ migrationId: m.id, vmId: m.vmId, stage: m.stage, committed, source, dest, decision: d }, 'migration decision');
      const decided: JsonObject = { decision: d.kind, reason: d.reason, cause, source: JSON.stringify(source), dest: JSON.stringify(dest) };
      const waitUntil = resolutionDeadline({
        startedAtMs: Date.parse(m.startedAt),
        timeoutS: parseMigrationPolicy(m.policy).timeoutS,
        resolvingSinceMs,
        aborting: d.kind === 'abort' || m.stage === 'aborting',
      });
      try {
        await this.#carryOut(e, m, d, { source, dest, committed, cause, cancelled, decided, waitUntil, stopping });
        return;
      } catch (err) {
        if (err instanceof MigrationAbortedError || err instanceof MigrationLostError || stopping.aborted) throw err;
        if (err instanceof RetryDecision) continue;
        // Carrying the decision out failed (an agent timed out, a host went away meanwhile): ask again.
        this.#o.logger.warn({ migrationId: m.id, decision: d.kind, err }, 'carrying out the migration decision failed; deciding again');
        if (Date.now() > waitUntil) {
          // A roll-back that ran out of time still ends in its final stage: the record must not stay `aborting`.
          if (d.kind === 'abort') await this.#stage(m, 'aborted', { gaveUp: errorMessage(err) });
          await store.migrations.finish(m.id, { state: 'failed', reason: `${cause}; could not carry out ${d.kind}: ${errorMessage(err)}` });
          throw new MigrationLostError(m.id, `could not carry out ${d.kind}: ${errorMessage(err)}`);
        }
        await sleep(2_000, stopping);
      }
    }
  }

  /** Carries out one decision; returns when the migration ended forward, throws when it ended back, RetryDecision to decide again. */
  async #carryOut(
    e: Ends,
    m: MigrationRecord,
    d: MigrationDecision,
    c: { source: SideView; dest: SideView; committed: boolean; cause: string; cancelled: boolean; decided: JsonObject; waitUntil: number; stopping: AbortSignal },
  ): Promise<void> {
    const store = this.#o.store;
    const { source, dest, committed, cause, cancelled, decided, waitUntil, stopping } = c;
    switch (d.kind) {
      case 'abort': {
        const cur = m.stage === 'aborting' ? m : await this.#stage(m, 'aborting', decided);
        // The destination's copy goes first (a source is only resumed once no other copy can run); if its agent is away, its heartbeat cleanup releases it later.
        if (dest.reachable) await e.dst.release(e.id, { timeoutMs: 60_000 });
        if (!source.reachable) {
          // The source may sit in postmigrate: only its own answer can say. Decide again once it answers.
          if (Date.now() > waitUntil) {
            await this.#stage(cur, 'aborted', { gaveUp: 'the source never answered again' });
            await store.migrations.finish(m.id, { state: 'failed', reason: `${cause}; the source never answered again`, stats: { destReleased: dest.reachable, totalTimeMs: Date.now() - Date.parse(m.startedAt) } });
            throw new MigrationLostError(m.id, 'the source never answered again');
          }
          await sleep(2_000, stopping);
          throw new RetryDecision();
        }
        let note = '';
        if (source.state !== 'absent') {
          try {
            if (d.resumeSource) await e.src.resumeSource(e.id, { timeoutMs: 30_000 });
            else if (source.state === 'running' || source.state === 'paused') await e.src.cancelMigration(e.id, { timeoutMs: 60_000 });
          } catch (err) {
            if (!abortEndsWithoutCancel({ committed, source, destGone: dest.reachable })) throw err;
            // Refused for good (a source whose own records are confused) or failed: nothing is left for it to cancel.
            this.#o.logger.warn({ migrationId: m.id, err }, 'the source refused the cancel, but it runs the VM and the destination is gone: the abort ends');
            note = `; the source's cancel failed (${errorMessage(err)}) but it runs the VM and the destination's copy is gone`;
          }
        }
        await this.#stage(cur, 'aborted');
        await store.migrations.finish(m.id, {
          state: cancelled ? 'aborted' : 'failed',
          reason: `${cause}; ${d.reason}${note}`,
          stats: { destReleased: dest.reachable, totalTimeMs: Date.now() - Date.parse(m.startedAt) },
        });
        throw new MigrationAbortedError(m.id, cause);
      }
      case 'roll-forward': {
        let cur = m;
        if (d.completeMirrors && source.reachable) await e.src.completeMirrors(e.id, { timeoutMs: 300_000 });
        if (d.commit && !committed) cur = await store.migrations.commit(m.id);
        // Also a running one: its agent may have died inside `activate` and must hear that the switch is confirmed.
        if (dest.reachable && (dest.state === 'paused' || dest.state === 'running')) {
          const r = await e.dst.activate(e.id, { timeoutMs: 30_000 });
          if (r.state !== 'running') throw new MigrationLostError(m.id, `the destination reports ${r.state} after cont`);
        }
        cur = await this.#stage(cur, 'activated', decided);
        // Nothing was read at the end this time: the journal and the last progress hold the figures.
        await this.#finishForward(e, cur, { totalTimeMs: Date.now() - Date.parse(m.startedAt), ...finalFigures(cur.journal, cur.stats) }, `rolled forward after: ${cause}`);
        return;
      }
      case 'revert-to-source': {
        if (dest.reachable) await e.dst.release(e.id, { timeoutMs: 60_000 });
        const r = await store.migrations.revertCommit(m.id, d.reason);
        await e.src.resumeSource(e.id, { timeoutMs: 30_000 });
        await this.#stage(r, 'aborted');
        await store.migrations.finish(r.id, { state: 'failed', reason: `${cause}; ${d.reason}`, stats: { destReleased: dest.reachable, totalTimeMs: Date.now() - Date.parse(m.startedAt) } });
        throw new MigrationAbortedError(m.id, `${cause}; the VM went back to its source`);
      }
      case 'lost':
        await store.migrations.finish(m.id, { state: 'failed', reason: `${cause}; ${d.reason}` });
        throw new MigrationLostError(m.id, d.reason);
      case 'wait':
        if (Date.now() > waitUntil) {
          await store.migrations.finish(m.id, { state: 'failed', reason: `${cause}; gave up waiting: ${d.reason}` });
          throw new MigrationLostError(m.id, `gave up waiting: ${d.reason}`);
        }
        await sleep(2_000, stopping);
        throw new RetryDecision();
    }
  }
}
