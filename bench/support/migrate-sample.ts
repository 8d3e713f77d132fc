/**
 * What bench/migrate.ts measures of one migration (a Sample), the cases and
 * paths it runs, and how they are named in its tables and verdicts.
 */

export type CaseName = 'idle' | 'dirty' | 'web';
// nubo-ctl: nubo with the controller's switch-over (policy resumeOnCompletion false, as before resume on completion),
// interleaved in the same runs so that the two switches are compared against the same raw pairs. Off: BENCH_SWITCH_COMPARE=0.
// raw-rc: the raw script with nubo's QEMU settings for resume on completion (return-path on the source, the destination
// started without -S): the pause it shows is QEMU's own with those settings, so nubo − raw-rc is what nubo's software
// adds and raw-rc − raw what the settings cost. Off: BENCH_RAW_RESUME_COMPARE=0.
export type PathName = 'raw' | 'raw-rc' | 'nubo' | 'nubo-ctl';
export const PATH_LABEL: Record<PathName, string> = { raw: 'raw', 'raw-rc': 'raw, resume on completion', nubo: 'nubo', 'nubo-ctl': 'nubo, controller switch' };
export const isRaw = (p: PathName): p is 'raw' | 'raw-rc' => p === 'raw' || p === 'raw-rc';
export const CASES: readonly CaseName[] = ['idle', 'web', 'dirty'];
export const CASE_LABEL: Record<CaseName, string> = { idle: '(a) idle', dirty: '(b) dirtying memory', web: '(c) serving 512 KiB to a fabric client' };

export interface ClientStats {
  gapMs: number; ok: number; failed: number; errors: string[];
  /** The answer before the longest silence and the one that ended it, ms from the start of the migration. */
  lastAnswerBeforeGap: number; firstAnswerAfterGap: number;
  beforeRps: number; duringRps: number; afterRps: number;
}

export interface Sample {
  case: CaseName; path: PathName; run: number; from: string; to: string;
  /** raw: destination QEMU start → destination running; nubo: POST → journal `activated`. */
  totalMs: number;
  /** nubo only: the migration record's stats.totalTimeMs (its startedAt → activated). */
  recordTotalMs?: number;
  /** nubo only: POST → record finished (source released). */
  postToFinishedMs?: number;
  qemuDowntimeMs: number | null;
  /** The guest's pause by QEMU's own event timestamps: source STOP → destination RESUME (nubo: from the agents' debug logs). */
  pauseMs?: number;
  transferredBytes: number;
  passes: number;
  /** QEMU's dirty rate: raw, the last reported during pre-copy; nubo, the record's finalDirtyRateBytes. */
  dirtyRateBytes: number;
  maxThrottlePercent?: number;
  /** raw only: the dirty rate in the `completed` query-migrate answer itself. */
  completedDirtyRateBytes?: number;
  /** What the guest itself wrote per second just before the migration (dirty case). */
  guestDirtyMiBps?: number;
  /** Phases, ms: prepare (destination ready to receive), copy (→ source completed), switch (→ destination running). */
  phases: { prepare: number; copy: number; switch: number };
  /** Raw step times or nubo journal stages, ms from the start. */
  steps: Record<string, number>;
  /** nubo only: absolute ms of the POST (to place the agents' log lines). */
  startedAtMs?: number;
  /** nubo only: the agents' requests and the destination QEMU start, ms from the POST (from their logs). */
  agent?: Record<string, number>;
  /** nubo only: the convergence policy's actions (raised downtime limits, throttles): they lengthen QEMU's own pause. */
  convergence?: unknown[];
  client?: ClientStats;
  /** Network-level downtime: the longest silence between ICMP echo replies across the migration (ms from its start). */
  icmp?: { downtimeMs: number; lastReplyBefore: number; firstReplyAfter: number; lost: number; replies: number; medianIntervalMs: number };
}

/** A migration that did not complete, with who held the fabric port at the time. */
export interface FailedMigration { case: CaseName; path: PathName; run: number; error: string; fabricHolders: string[] }
