import type { Migration } from './api-types';

/** DESIGN §5's stages 0–5, and the journal stages (src/core/migration/migration-stage.ts) that reach each. */
export const DESIGN_STAGES: readonly { n: number; label: string; journal: readonly string[] }[] = [
  { n: 0, label: 'Pre-migration', journal: [] },
  { n: 1, label: 'Reservation', journal: ['reservation', 'prepared', 'mirroring'] },
  { n: 2, label: 'Pre-copy', journal: ['precopy', 'postcopy'] },
  { n: 3, label: 'Stop-and-copy', journal: ['stop-and-copy', 'transferred'] },
  { n: 4, label: 'Commitment', journal: ['committed'] },
  { n: 5, label: 'Activation', journal: ['activated', 'cleaned'] },
];

/**
 * How the timeline draws stage `n` when the journal reached `reached`: the
 * stage a failed or aborted migration stopped in is `stopped`, not `done` —
 * green there told operators a step had completed that never did.
 */
export function stageClass(n: number, reached: number, state: string): 'done' | 'current' | 'stopped' | '' {
  if (n < reached) return 'done';
  if (n > reached) return '';
  if (state === 'running') return 'current';
  return state === 'succeeded' ? 'done' : 'stopped';
}

/** The highest of stages 0–5 the journal has reached. */
export function designStageOf(m: Migration): number {
  let reached = 0;
  for (const j of m.journal) for (const s of DESIGN_STAGES) if (s.journal.includes(j.stage)) reached = Math.max(reached, s.n);
  return reached;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const mib = (b: number | undefined): string => (b === undefined ? '—' : `${(b / 1048576).toFixed(1)} MiB`);
const ms = (v: number | undefined): string => (v === undefined ? '—' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`);

/** A migration record's numbers, formatted: the live ones while it runs, the totals once it ended. */
export function migrationNumbers(m: Migration): { percentSent: number | undefined; percentDisk: number | undefined; disk: string; passes: string; dirtyRate: string; throughput: string; sent: string; cap: string; totalMs: string; downtimeMs: string } {
  const s = m.stats;
  const transferred = num(s['transferredBytes']);
  const total = num(s['totalBytes']);
  const remaining = num(s['remainingBytes']);
  // Pre-copy sends RAM more than once: "sent" is against the guest's RAM, capped at 100 %, and 100 % when nothing remains.
  const percentSent = total !== undefined && total > 0 && remaining !== undefined ? Math.min(100, Math.round(((total - remaining) / total) * 100)) : undefined;
  // Non-shared storage only: the disks mirrored to the destination before and during pre-copy (src/controller/live-migrator-mirrors.ts).
  const diskDone = num(s['diskCopiedBytes']);
  const diskTotal = num(s['diskTotalBytes']);
  const percentDisk = diskDone !== undefined && diskTotal !== undefined && diskTotal > 0 ? Math.min(100, Math.floor((diskDone / diskTotal) * 100)) : undefined;
  const mbps = num(s['mbps']);
  const dirty = num(s['dirtyRateBytes']);
  const finished = m.finishedAt !== null ? Date.parse(m.finishedAt) - Date.parse(m.startedAt) : undefined;
  return {
    percentSent,
    percentDisk,
    disk: diskDone === undefined || diskTotal === undefined ? '—' : `${mib(diskDone)} of ${mib(diskTotal)}`,
    passes: String(num(s['passes']) ?? '—'),
    dirtyRate: dirty === undefined ? '—' : `${mib(dirty)}/s`,
    throughput: mbps === undefined ? '—' : `${mbps.toFixed(0)} Mbit/s`,
    sent: mib(transferred),
    cap: ((c) => (c === undefined ? '—' : `${c} MiB/s`))(num(m.policy?.['maxBandwidthMiBps'])),
    totalMs: ms(num(s['totalTimeMs']) ?? finished),
    downtimeMs: ms(num(s['downtimeMs'])),
  };
}
