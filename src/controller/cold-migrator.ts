import type { Logger } from 'pino';
import { carryConsoleLog } from './carry-console-log.js';
import type { AgentClient } from '../client/agent-client.js';
import { RemoteError, UnreachableError } from '../client/remote-error.js';
import type { ReceiveStatus } from '../contract/agent-api.js';
import type { ColdMigrationStage } from '../core/migration/cold-migration-stage.js';
import { decideColdMigration, type ColdDestHolding, type ColdMigrationDecision, type ColdSourceHolding } from '../core/migration/decide-cold-migration.js';
import { parseMigrationPolicy } from '../core/migration/migration-policy.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { sleep } from '../util/deadline.js';
import { MigrationAbortedError, MigrationLostError, MigrationStepError } from './migration-errors.js';
import { MigrationRuns } from './migration-runs.js';
import { agentVmId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';

export interface ColdMigratorOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
  /** How often the destination's copy is asked for its progress. */
  readonly pollIntervalMs?: number | undefined;
  /** How long the destination may not answer during the copy before the migration is aborted (a blip is not a failure). */
  readonly unreachableGraceMs?: number | undefined;
}


interface Ends {
  readonly m: MigrationRecord;
  readonly src: AgentClient;
  readonly dst: AgentClient;
  /** Where the destination agent reaches the source agent for the files. */
  readonly srcUrl: string;
  readonly id: string;
}

const MIB = 1024 * 1024;
const AT_REST: ReadonlySet<string> = new Set(['poweroff', 'suspended', 'crashed', 'error']);

const notFound = (err: unknown): boolean => err instanceof RemoteError && (err.code === 'VM_NOT_FOUND' || err.code === 'NOT_FOUND');

/**
 * Drives one cold migration (DESIGN.md §5, "Cold migration") of a powered-off
 * or suspended VM: the source agent offers the VM's files under a token of
 * their own, the destination agent pulls and verifies them (sha256 on both
 * sides) and installs them under temporary names, the store commits, the
 * source's files go. Stages are journalled before the next side effect; on a
 * failure, a cancel or a restart the next step is core's
 * `decideColdMigration`, from the journal and what both agents hold now.
 */
export class ColdMigrator {
  readonly #o: ColdMigratorOptions;
  readonly #runs: MigrationRuns;

  constructor(o: ColdMigratorOptions) {
    this.#o = o;
    this.#runs = new MigrationRuns({ store: o.store, logger: o.logger, kind: 'cold', action: 'migrate' });
  }

  /**
   * At start-up, before operations resume: a cold migration recorded but
   * whose VM never entered its `migrate` operation made no side effect
   * anywhere: it ends, freeing its reservation.
   */
  async sweepUnstarted(): Promise<void> {
    await this.#runs.sweepUnstarted();
  }

  /** Marks a migration as begun here (before the VM's operation is kicked). */
  begun(migrationId: string): void {
    this.#runs.begun(migrationId);
  }

  /** Asks a running cold migration to stop before its commit. */
  cancel(migrationId: string, reason = 'cancelled by the user'): Promise<MigrationRecord> {
    return this.#runs.cancel(migrationId, reason, (m) =>
      m.stage === 'committed' || m.stage === 'cleaned' ? `it is past its commit (${m.stage}); it finishes on the destination` : undefined,
    );
  }

  /**
   * Runs the VM's unfinished cold migration to its end. Resolves when the VM
   * is on the destination; throws MigrationAbortedError when it stays on (or
   * went back to) the source, MigrationLostError when no copy is left.
   */
  async drive(vm: Vm, stopping: AbortSignal): Promise<void> {
    const [m] = await this.#o.store.migrations.list({ vmId: vm.id, state: 'running' });
    if (!m || m.kind !== 'cold') throw new MigrationAbortedError(m?.id ?? '-', 'the VM has no running cold migration record');
    const srcHost = await this.#o.store.hosts.get(m.sourceHostId);
    const ends: Ends = { m, src: this.#o.agentFor(srcHost), dst: this.#o.agentFor(await this.#o.store.hosts.get(m.destHostId)), srcUrl: srcHost.agentUrl, id: agentVmId(vm.id) };
    return this.#runs.run(m.id, async (cancel, resumed) => {
      const signal = AbortSignal.any([stopping, cancel.signal]);
      if (resumed) {
        this.#o.logger.warn({ migrationId: m.id, vmId: vm.id, stage: m.stage }, 'resuming an unfinished cold migration: asking both agents');
        return this.#resolve(ends, `the controller restarted during ${m.stage}`, stopping);
      }
      try {
        await this.#run(ends, vm, signal, stopping);
      } catch (err) {
        if (stopping.aborted) throw err; // the next controller resolves it from the journal
        const cause = cancel.signal.aborted ? errorMessage(cancel.signal.reason) : errorMessage(err);
        this.#o.logger.warn({ migrationId: m.id, vmId: vm.id, err }, 'cold migration step failed');
        await this.#resolve(ends, cause, stopping, cancel.signal.aborted);
      }
    });
  }

  async #stage(m: MigrationRecord, stage: ColdMigrationStage, data?: JsonObject): Promise<MigrationRecord> {
    this.#o.logger.info({ migrationId: m.id, vmId: m.vmId, stage, ...data }, 'cold migration stage');
    return this.#o.store.migrations.updateStage(m.id, stage, data);
  }

  async #run(e: Ends, vm: Vm, signal: AbortSignal, stopping: AbortSignal): Promise<void> {
    let m = e.m;
    const policy = parseMigrationPolicy(m.policy);
    const began = Date.parse(m.startedAt);
    const sig = AbortSignal.any([signal, AbortSignal.timeout(policy.timeoutS * 1000)]);
    const o = { signal: sig };
    const spec = (vm.spec as unknown as ControllerVmSpec).agent;

    // The offer outlives the migration's own deadline a little: the controller revokes it when it ends anyway.
    const offer = await e.src.offerTransfer(e.id, { migrationId: m.id, ttlS: policy.timeoutS + 60 }, o);
    const totalBytes = offer.files.reduce((s, f) => s + f.sizeBytes, 0);
    m = await this.#stage(m, 'copying', { files: offer.files.map((f) => ({ name: f.name, sizeBytes: f.sizeBytes })), totalBytes });
    const t0 = Date.now();
    await e.dst.receive(e.id, {
      migrationId: m.id,
      spec,
      source: { url: e.srcUrl, transferId: offer.transferId, token: offer.token },
      files: offer.files,
      maxBandwidthBytes: policy.maxBandwidthMiBps * MIB,
    }, o);
    const done = await this.#pollCopy(e, m, t0, sig);
    const copyMs = Date.now() - t0;
    const throughputMBps = copyMs > 0 ? totalBytes / 1e6 / (copyMs / 1000) : 0;
    m = await this.#stage(m, 'verified', { files: done.files.map((f) => ({ name: f.name, sizeBytes: f.sizeBytes, sha256: f.sha256 ?? null })), copyMs });

    // The only commit point: from here the destination's files are the VM, and a cancel no longer applies.
    m = await this.#o.store.migrations.commit(m.id);
    this.#o.logger.info({ migrationId: m.id, vmId: m.vmId }, 'cold migration committed');
    await this.#commitDest(e, m, stopping);
    await this.#finishForward(e, m, { totalTimeMs: Date.now() - began, copyMs, transferredBytes: totalBytes, throughputMBps: Number(throughputMBps.toFixed(1)) }, true);
  }

  /** The destination drops its "received, not committed" mark; harmless if it fails (its copy is complete either way). */
  async #commitDest(e: Ends, m: MigrationRecord, stopping: AbortSignal): Promise<void> {
    try {
      await e.dst.commitReceive(e.id, { signal: stopping, timeoutMs: 30_000 });
    } catch (err) {
      this.#o.logger.warn({ migrationId: m.id, err }, 'the destination did not take the commit mark; its copy is complete anyway');
    }
  }

  /** Polls the destination's copy to its end, recording the bytes copied; throws when it fails, or when the destination stays silent. */
  async #pollCopy(e: Ends, m: MigrationRecord, t0: number, signal: AbortSignal): Promise<ReceiveStatus> {
    const every = this.#o.pollIntervalMs ?? 250;
    const grace = this.#o.unreachableGraceMs ?? 10_000;
    let lastAnswer = Date.now();
    let lastWrite = 0;
    for (;;) {
      let s: ReceiveStatus;
      const asked = Date.now();
      try {
        // A long poll: the destination answers as soon as the copy ends, so a short copy is not rounded up to the next poll.
        s = await e.dst.receiveStatus(e.id, { signal, timeoutMs: 5_000 + every, waitMs: Math.min(every, 5_000) });
        lastAnswer = Date.now();
      } catch (err) {
        if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : err;
        if (notFound(err)) throw new MigrationStepError(m.id, 'the destination no longer has the copy (its agent restarted?)', { cause: err });
        if (!(err instanceof UnreachableError)) throw err;
        if (Date.now() - lastAnswer > grace) throw new MigrationStepError(m.id, `the destination agent has not answered for ${Math.round(grace / 1000)} s: ${err.message}`, { cause: err });
        await sleep(every, signal);
        continue;
      }
      if (s.migrationId !== undefined && s.migrationId !== m.id) throw new MigrationStepError(m.id, `the destination is copying another migration (${s.migrationId})`);
      if (s.state === 'failed') throw new MigrationStepError(m.id, `the destination's copy failed: ${s.error ?? 'no reason given'}`);
      const ended = s.state === 'verified' || s.state === 'done';
      const now = Date.now();
      if (ended || now - lastWrite >= 500) {
        lastWrite = now;
        const secs = (now - t0) / 1000;
        await this.#o.store.migrations.updateProgress(m.id, {
          copiedBytes: s.copiedBytes,
          copyTotalBytes: s.totalBytes,
          throughputMBps: secs > 0 ? Number((s.copiedBytes / 1e6 / secs).toFixed(1)) : 0,
        });
      }
      if (ended) return s;
      // An agent that answered at once (one from before the long poll) is asked again no sooner than before.
      const left = every - (Date.now() - asked);
      if (left > 0) await sleep(left, signal);
    }
  }

  /** After the commit: the source's files go; if its agent is away, the host monitor releases them when it reports again. */
  async #finishForward(e: Ends, m: MigrationRecord, stats: JsonObject, releaseSource: boolean, reason?: string): Promise<void> {
    let cleaned = false;
    if (releaseSource) {
      await carryConsoleLog(e, this.#o.logger, m.id);
      try {
        await e.src.release(e.id, { timeoutMs: 60_000 });
        cleaned = true;
      } catch (err) {
        this.#o.logger.warn({ migrationId: m.id, err }, "source files not deleted yet; the host monitor releases them when the agent answers");
      }
    }
    if (cleaned) m = await this.#stage(m, 'cleaned');
    await this.#o.store.migrations.finish(m.id, { state: 'succeeded', stats: { ...stats, sourceReleased: cleaned }, ...(reason !== undefined ? { reason } : {}) });
    this.#o.logger.info({ migrationId: m.id, vmId: m.vmId, ...stats }, 'cold migration succeeded');
  }

  async #sourceView(e: Ends): Promise<ColdSourceHolding> {
    try {
      const r = await e.src.get(e.id, { timeoutMs: 5_000 });
      return AT_REST.has(r.state) ? 'holds' : 'running';
    } catch (err) {
      return notFound(err) ? 'absent' : 'unreachable';
    }
  }

  async #destView(e: Ends, migrationId: string): Promise<ColdDestHolding> {
    try {
      const s = await e.dst.receiveStatus(e.id, { timeoutMs: 5_000 });
      // Another migration's copy is not this one's: for this decision the destination holds nothing of it.
      if (s.migrationId !== undefined && s.migrationId !== migrationId) return 'none';
      if (s.state === 'copying') return 'copying';
      return s.state === 'failed' ? 'none' : 'complete';
    } catch (err) {
      return notFound(err) ? 'none' : 'unreachable';
    }
  }

  /**
   * After a failure, a cancel or a restart: asks both agents, lets core
   * decide, carries the decision out and records the outcome. Repeats while
   * the decision is to wait.
   */
  async #resolve(e: Ends, cause: string, stopping: AbortSignal, cancelled = false): Promise<void> {
    const store = this.#o.store;
    const waitUntil = Date.now() + 10 * 60_000;
    for (;;) {
      const m = await store.migrations.get(e.m.id);
      const vm = await store.vms.get(m.vmId);
      const committed = vm.hostId === m.destHostId;
      const source = await this.#sourceView(e);
      const dest = await this.#destView(e, m.id);
      const d: ColdMigrationDecision = decideColdMigration({ stage: m.stage as ColdMigrationStage, committed, source, dest, cause });
      this.#o.logger.warn({ migrationId: m.id, vmId: m.vmId, stage: m.stage, committed, source, dest, decision: d }, 'cold migration decision');
      const decided: JsonObject = { decision: d.kind, reason: d.reason, cause, source, dest };
      switch (d.kind) {
        case 'abort': {
          if (m.stage !== 'aborting') await this.#stage(m, 'aborting', decided);
          // A destination that does not answer removes a partial copy itself when its agent starts again; the host monitor releases a complete one.
          let destReleased = false;
          if (dest !== 'unreachable') {
            try {
              await e.dst.release(e.id, { timeoutMs: 60_000 });
              destReleased = true;
            } catch (err) {
              this.#o.logger.warn({ migrationId: m.id, err }, "the destination's copy was not removed yet");
            }
          }
          if (source !== 'unreachable') await e.src.revokeTransfer(e.id, { timeoutMs: 10_000 }).catch(() => {});
          await store.migrations.finish(m.id, { state: cancelled ? 'aborted' : 'failed', reason: `${cause}; ${d.reason}`, stats: { destReleased } });
          throw new MigrationAbortedError(m.id, cause);
        }
        case 'roll-forward': {
          let cur = m;
          if (d.commit && !committed) cur = await store.migrations.commit(m.id);
          if (dest === 'complete') await this.#commitDest(e, cur, stopping);
          await this.#finishForward(e, cur, { totalTimeMs: Date.now() - Date.parse(m.startedAt) }, d.releaseSource, `rolled forward after: ${cause}`);
          return;
        }
        case 'revert-to-source': {
          const r = await store.migrations.revertCommit(m.id, d.reason);
          if (dest !== 'unreachable') await e.dst.release(e.id, { timeoutMs: 60_000 }).catch(() => {});
          await e.src.revokeTransfer(e.id, { timeoutMs: 10_000 }).catch(() => {});
          await store.migrations.finish(r.id, { state: 'failed', reason: `${cause}; ${d.reason}` });
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
      }
    }
  }
}
