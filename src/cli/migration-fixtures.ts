import { migrationView, type MigrationView } from '../contract/migration-schemas.js';

/** Canned migrations for the CLI suites, checked against the API schema so that they stay true to the contract. */

export const MIGRATION_ID = '3f2a9c1e-7b4d-4e8a-9c21-5d6e7f809a1b';
const t0 = Date.parse('2024-05-01T12:00:00.000Z');
/** An instant `ms` after the fixtures' start. */
export const at = (ms: number): string => new Date(t0 + ms).toISOString();

export const POLICY = { maxBandwidthMiBps: 1024, downtimeMs: 300, maxDowntimeMs: 2000, autoConverge: true, xbzrle: false, postcopy: false, timeoutS: 600 };

export function migration(over: Partial<MigrationView> = {}): MigrationView {
  return migrationView.parse({
    id: MIGRATION_ID, vm: 'web-1', vmId: 'vm-1', kind: 'live', source: 'h1', destination: 'h2', stage: 'reservation', state: 'running',
    reason: null, startedAt: at(0), finishedAt: null, stats: {}, policy: POLICY,
    journal: [{ stage: 'reservation', at: at(0), data: { cpus: 1, memoryMib: 128 } }],
    ...over,
  });
}

/** The journal of a migration that went through `stages`, 400 ms apart. */
export function journal(stages: readonly string[]): MigrationView['journal'] {
  return stages.map((stage, i) => ({ stage, at: at(i * 400) }));
}

/** Live numbers as the controller writes them during pre-copy. */
export function precopyStats(transferredMiB: number, remainingMiB: number, passes: number): Record<string, unknown> {
  const MiB = 1024 * 1024;
  return { status: 'active', transferredBytes: transferredMiB * MiB, remainingBytes: remainingMiB * MiB, totalBytes: 128 * MiB, dirtyRateBytes: 2 * MiB, passes, mbps: 800, convergence: [] };
}

/** A migration that succeeded after `stages`, with the end-of-run totals. */
export function succeeded(stages: readonly string[], over: Partial<MigrationView> = {}): MigrationView {
  const j = journal(stages);
  const MiB = 1024 * 1024;
  return migration({
    stage: stages.at(-1) ?? 'cleaned', state: 'succeeded', finishedAt: at(4210), journal: j,
    stats: {
      ...precopyStats(150, 0, 3), status: 'completed', totalTimeMs: 4210, downtimeMs: 38, transferredBytes: 150 * MiB, finalDirtyRateBytes: 1.5 * MiB,
      convergence: [{ at: at(2100), kind: 'raise-downtime', reason: 'remaining 12 MiB would take 80 ms > 50 ms' }],
    },
    ...over,
  });
}
