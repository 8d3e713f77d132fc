import type { AgentClient } from '../client/agent-client.js';
import { RemoteError } from '../client/remote-error.js';
import { abortEndsWithoutCancel, decideMigration, type MigrationDecision, type SideView } from '../core/migration/decide-migration.js';
import { finalFigures } from '../core/migration/final-figures.js';
import { parseMigrationPolicy } from '../core/migration/migration-policy.js';
import type { MigrationStage } from '../core/migration/migration-stage.js';
import { resolutionDeadline } from '../core/migration/resolution-deadline.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { sleep } from '../util/deadline.js';
import type { Ends, LiveMigratorOptions } from './live-migrator-deps.js';
import { finishForward } from './live-migrator-finish.js';
import { journalStage, resumesOnCompletion } from './live-migrator-stage.js';
import { MigrationAbortedError, MigrationLostError } from './migration-errors.js';

/** Nothing safe could be done yet: ask both agents again. */
class RetryDecision extends Error {}

async function view(agent: AgentClient, id: string): Promise<SideView> {
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
 * the decision is to wait (an end that cannot be asked yet). Resolves when
 * the migration ended forward; throws MigrationAbortedError when the VM runs
 * on its source again, MigrationLostError when no copy is left.
 */
export async function resolveMigration(o: LiveMigratorOptions, e: Ends, cause: string, stopping: AbortSignal, cancelled = false): Promise<void> {
  const store = o.store;
  const resolvingSinceMs = Date.now();
  for (;;) {
    const m = await store.migrations.get(e.m.id);
    // Ended elsewhere (an admin terminated the VM): nothing is left for this drive to decide.
    if (m.state !== 'running') throw new MigrationAbortedError(m.id, `it ended meanwhile (${m.state}): ${m.reason ?? ''}`);
    const vm = await store.vms.get(m.vmId);
    const source = await view(e.src, e.id);
    const dest = await view(e.dst, e.id);
    const committed = vm.hostId === m.destHostId;
    const mirroredDisks = m.journal.some((j) => j.stage === 'prepared' && j.data?.['storage'] === 'local');
    const postcopyStarted = m.journal.some((j) => j.stage === 'postcopy');
    const destAutostart = resumesOnCompletion(m);
    const d: MigrationDecision = decideMigration({ stage: m.stage as MigrationStage, committed, source, dest, cause, mirroredDisks, postcopyStarted, destAutostart });
    o.logger.warn({ migrationId: m.id, vmId: m.vmId, stage: m.stage, committed, source, dest, destAutostart, decision: d }, 'migration decision');
    const decided: JsonObject = { decision: d.kind, reason: d.reason, cause, source: JSON.stringify(source), dest: JSON.stringify(dest) };
    const waitUntil = resolutionDeadline({
      startedAtMs: Date.parse(m.startedAt),
      timeoutS: parseMigrationPolicy(m.policy).timeoutS,
      resolvingSinceMs,
      aborting: d.kind === 'abort' || m.stage === 'aborting',
    });
    try {
      await carryOut(o, e, m, d, { source, dest, committed, cause, cancelled, decided, waitUntil, stopping });
      return;
    } catch (err) {
      if (err instanceof MigrationAbortedError || err instanceof MigrationLostError || stopping.aborted) throw err;
      if (err instanceof RetryDecision) continue;
      // Carrying the decision out failed (an agent timed out, a host went away meanwhile): ask again.
      o.logger.warn({ migrationId: m.id, decision: d.kind, err }, 'carrying out the migration decision failed; deciding again');
      if (Date.now() > waitUntil) {
        // A roll-back that ran out of time still ends in its final stage: the record must not stay `aborting`.
        if (d.kind === 'abort') await journalStage(o, m, 'aborted', { gaveUp: errorMessage(err) });
        await store.migrations.finish(m.id, { state: 'failed', reason: `${cause}; could not carry out ${d.kind}: ${errorMessage(err)}` });
        throw new MigrationLostError(m.id, `could not carry out ${d.kind}: ${errorMessage(err)}`);
      }
      await sleep(2_000, stopping);
    }
  }
}

interface Circumstances {
  readonly source: SideView;
  readonly dest: SideView;
  readonly committed: boolean;
  readonly cause: string;
  readonly cancelled: boolean;
  readonly decided: JsonObject;
  readonly waitUntil: number;
  readonly stopping: AbortSignal;
}

/** Carries out one decision; returns when the migration ended forward, throws when it ended back, RetryDecision to decide again. */
async function carryOut(o: LiveMigratorOptions, e: Ends, m: MigrationRecord, d: MigrationDecision, c: Circumstances): Promise<void> {
  const store = o.store;
  const { source, dest, committed, cause, cancelled, decided, waitUntil, stopping } = c;
  switch (d.kind) {
    case 'abort': {
      const cur = m.stage === 'aborting' ? m : await journalStage(o, m, 'aborting', decided);
      // The destination's copy goes first (a source is only resumed once no other copy can run); if its agent is away, its heartbeat cleanup releases it later.
      if (dest.reachable) await e.dst.release(e.id, { timeoutMs: 60_000 });
      if (!source.reachable) {
        // The source may sit in postmigrate: only its own answer can say. Decide again once it answers.
        if (Date.now() > waitUntil) {
          await journalStage(o, cur, 'aborted', { gaveUp: 'the source never answered again' });
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
          o.logger.warn({ migrationId: m.id, err }, 'the source refused the cancel, but it runs the VM and the destination is gone: the abort ends');
          note = `; the source's cancel failed (${errorMessage(err)}) but it runs the VM and the destination's copy is gone`;
        }
      }
      await journalStage(o, cur, 'aborted');
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
      cur = await journalStage(o, cur, 'activated', decided);
      // Nothing was read at the end this time: the journal and the last progress hold the figures.
      await finishForward(o, e, cur, { totalTimeMs: Date.now() - Date.parse(m.startedAt), ...finalFigures(cur.journal, cur.stats) }, `rolled forward after: ${cause}`);
      return;
    }
    case 'revert-to-source': {
      if (dest.reachable) await e.dst.release(e.id, { timeoutMs: 60_000 });
      const r = await store.migrations.revertCommit(m.id, d.reason);
      await e.src.resumeSource(e.id, { timeoutMs: 30_000 });
      await journalStage(o, r, 'aborted');
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
