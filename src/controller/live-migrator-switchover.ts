import type { AgentVmReport, MigrationProgressReport } from '../contract/agent-api.js';
import { finalFigures } from '../core/migration/final-figures.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import { pollUntil, sleep } from '../util/deadline.js';
import type { Ends, LiveMigratorOptions } from './live-migrator-deps.js';
import { finishForward } from './live-migrator-finish.js';
import type { PrecopyEnd } from './live-migrator-precopy.js';
import { journalStage } from './live-migrator-stage.js';
import { MigrationStepError } from './migration-errors.js';
import { progressStats } from './progress-stats.js';

export interface SwitchOver {
  /** The destination runs the guest on its own at completion (QEMU autostart): the journal and the commit record it after. */
  readonly resumeOnCompletion: boolean;
  /** Non-shared storage: the source completes its disk mirrors after the memory, before the destination may run. */
  readonly mirrored: boolean;
  /** What the source said at completion. */
  readonly final: PrecopyEnd;
  /** When the migration started (ms). */
  readonly began: number;
  /** Cancel and timeout: only until the destination holds the VM. */
  readonly signal: AbortSignal;
  /** Controller shutdown: past the commit nothing else stops it. */
  readonly stopping: AbortSignal;
}

/**
 * Stages 3–5, once the source said completed. With resume on completion the
 * guest already runs (or is about to) on the destination — QEMU started it the
 * moment the stream completed, which is the commit point — so this only waits
 * to see it run, then journals, commits and confirms what happened. Otherwise
 * the destination waits paused: the commit comes first, then `cont`.
 */
export async function switchOver(o: LiveMigratorOptions, e: Ends, m0: MigrationRecord, s: SwitchOver): Promise<void> {
  const { final, signal, stopping } = s;
  const opt = { signal };
  // Stage 3 happened inside QEMU: the source paused for the last pass. Its length is QEMU's downtime.
  // QEMU fills its downtime in a moment after it says completed: a 0 journaled here is the record's only figure when
  // the resolution finishes the migration (the destination's agent lost inside activate: CI, session 9).
  const settled = await withDowntime(e, final, stopping);
  const stopAndCopy = journalStage(o, m0, 'stop-and-copy', { downtimeMs: settled.downtimeMs ?? null, observed: 'at completion, from QEMU' });
  // The source says completed a moment before the destination has loaded the last of the stream: wait until it holds the
  // VM. Asked often: without resume on completion the guest is paused until activation. Only a read, so it overlaps the
  // journal write — unless the mirrors are to be completed first, a side effect that waits for the journal.
  const destHolds = (): Promise<AgentVmReport> => pollUntil('the destination to hold the complete image', async () => {
    const r = await e.dst.get(e.id, opt);
    return r.state === 'inmigrate' ? undefined : r;
  }, { signal, timeoutMs: 30_000, intervalMs: 5 });
  let m: MigrationRecord;
  let dst: AgentVmReport;
  if (s.mirrored) {
    m = await stopAndCopy;
    await e.src.completeMirrors(e.id, opt);
    dst = await destHolds();
  } else {
    [m, dst] = await Promise.all([stopAndCopy, destHolds()]);
  }
  // Autostart runs it, unless the guest was paused on the source when it left (QEMU keeps that run state).
  const holding = s.resumeOnCompletion ? ['running', 'paused'] : ['paused'];
  if (!holding.includes(dst.state)) {
    throw new MigrationStepError(m.id, `the destination holds the VM ${dst.state}, not ${s.resumeOnCompletion ? 'running' : 'paused with the complete image'}`);
  }
  m = await journalStage(o, m, 'transferred', { transferredBytes: final.transferredBytes, passes: final.passes });

  // Stage 4: without resume on completion the only commit point; with it, the record of the switch QEMU made.
  m = await o.store.migrations.commit(m.id);
  o.logger.info({ migrationId: m.id, vmId: m.vmId, resumeOnCompletion: s.resumeOnCompletion }, 'migration committed');
  await o.failpoints?.hit('migration.committed');

  // Stage 5: run it on the destination (a confirmation when it runs already), then let go of the source's paused copy.
  // Past the commit a cancel no longer applies.
  const act = await e.dst.activate(e.id, { signal: stopping });
  if (act.state !== 'running') throw new MigrationStepError(m.id, `the destination reports ${act.state} after cont`);
  m = await journalStage(o, m, 'activated');
  const totalTimeMs = Date.now() - s.began;
  const figures = await readFinalFigures(o, e, m, settled, stopping);
  const kept = finalFigures(m.journal, m.stats, figures);
  await finishForward(o, e, m, { totalTimeMs, ...kept, finalDirtyRateBytes: figures.dirtyRateBytes, mbps: figures.mbps });
}

/**
 * The source's report of the completed migration, asked again (a few times, ~50 ms at most) while QEMU's downtime
 * still reads 0: QEMU fills it in a moment after it says completed.
 */
async function withDowntime(e: Ends, report: PrecopyEnd, stopping: AbortSignal): Promise<PrecopyEnd> {
  let p = report;
  for (let i = 0; i < 5 && !(p.downtimeMs !== undefined && p.downtimeMs > 0); i++) {
    const r = await e.src.migrationStatus(e.id, { signal: stopping, timeoutMs: 5_000 }).catch(() => undefined);
    if (r?.status !== 'completed') break;
    p = { ...r, dirtyRateBytes: report.dirtyRateBytes, actions: report.actions };
    if (!(p.downtimeMs !== undefined && p.downtimeMs > 0)) await sleep(10, stopping);
  }
  return p;
}

/**
 * After activation, from the source (its QEMU keeps the completed migration's figures until it is released): QEMU's
 * downtime and totals, if it had not filled them in at stage 3. Recorded as the last progress.
 */
async function readFinalFigures(o: LiveMigratorOptions, e: Ends, m: MigrationRecord, atCompletion: PrecopyEnd, stopping: AbortSignal): Promise<MigrationProgressReport> {
  const p = await withDowntime(e, atCompletion, stopping);
  await o.store.migrations.updateProgress(m.id, progressStats(p, atCompletion.actions));
  return p;
}
