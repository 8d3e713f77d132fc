/** What a live pre-copy migration's cost depends on. */
export interface MigrationPredictionInput {
  /** Guest memory to copy. */
  readonly memoryBytes: number;
  /** How fast the guest dirties memory (QEMU's `calc-dirty-rate`, MiB/s, converted to bytes). */
  readonly dirtyBytesPerSec: number;
  /** What the link carries (measured, or recent migrations' throughput), already capped by the migration's max-bandwidth. */
  readonly bandwidthBytesPerSec: number;
  /** QEMU's downtime-limit: it stops the guest once the rest fits in it. */
  readonly downtimeLimitMs: number;
  /** Fixed cost outside the copy and the pause (destination start, setup). */
  readonly setupMs?: number | undefined;
  /**
   * The switch-over's fixed pause (stopping the guest, its device state, the
   * destination taking over), on top of copying the last dirty pages: part of
   * the downtime, and of the total. Learned from past migrations (switchover-cost.ts).
   */
  readonly switchoverMs?: number | undefined;
  /** Passes after which the prediction gives up (QEMU itself never does; the controller's convergence policy acts). */
  readonly maxPasses?: number | undefined;
}

export interface MigrationPrediction {
  readonly totalMs: number;
  readonly downtimeMs: number;
  /** Pre-copy passes before the stop-and-copy. */
  readonly passes: number;
  readonly transferredBytes: number;
  /** False when the guest dirties memory as fast as the link copies it: the downtime would exceed the limit. */
  readonly converges: boolean;
}

/**
 * The classic pre-copy model (Clark et al. 2005; Akoush et al. 2010): pass 1
 * copies all memory while the guest runs; each next pass copies what was
 * dirtied during the previous one (never more than all memory); once the rest
 * can be sent within the downtime limit the guest stops and it is sent. A
 * pass that does not shrink the rest means it never will. The downtime is
 * that last copy plus the switch-over's fixed pause (`switchoverMs`), which
 * the copy-only model left out — it predicted ~0 for an idle guest, where
 * QEMU under TCG reports hundreds of milliseconds.
 */
export function predictMigration(i: MigrationPredictionInput): MigrationPrediction {
  const bw = i.bandwidthBytesPerSec;
  const maxPasses = i.maxPasses ?? 30;
  const limitBytes = (i.downtimeLimitMs / 1000) * bw;
  let remaining = i.memoryBytes;
  let precopyMs = 0;
  let transferred = 0;
  let passes = 0;
  let converges = true;
  for (;;) {
    const passMs = (remaining / bw) * 1000;
    precopyMs += passMs;
    transferred += remaining;
    passes++;
    const next = Math.min(i.memoryBytes, i.dirtyBytesPerSec * (passMs / 1000));
    if (next <= limitBytes) {
      remaining = next;
      break;
    }
    if (next >= remaining || passes >= maxPasses) {
      remaining = next;
      converges = false;
      break;
    }
    remaining = next;
  }
  const downtimeMs = (i.switchoverMs ?? 0) + (remaining / bw) * 1000;
  return { totalMs: (i.setupMs ?? 0) + precopyMs + downtimeMs, downtimeMs, passes, transferredBytes: transferred + remaining, converges };
}
