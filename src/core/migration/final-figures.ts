/** A journal entry as far as the figures go (the store's JournalEntry fits). */
export interface FiguresJournalEntry {
  readonly stage: string;
  readonly data?: Readonly<Record<string, unknown>> | undefined;
}

/** What a finished migration records of its transfer. */
export interface FinalFigures {
  /** QEMU's downtime; null only when it was never seen. */
  readonly downtimeMs: number | null;
  readonly transferredBytes?: number;
  readonly passes?: number;
}

function positive(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

function fromJournal(journal: readonly FiguresJournalEntry[], stage: string, key: string): number | undefined {
  for (let i = journal.length - 1; i >= 0; i--) {
    const e = journal[i]!;
    if (e.stage !== stage) continue;
    const v = positive(e.data?.[key]);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * The figures to record when a migration ends: what was read at its end if
 * QEMU had filled it in, else what the journal had (`stop-and-copy` keeps the
 * downtime, `transferred` the bytes and passes), else the last progress
 * recorded. QEMU reports 0 for a figure it has not filled in yet, and a
 * migration finished by a restarted controller (roll forward) reads nothing
 * at its end: a 0 or a gap must not hide a figure the journal holds.
 */
export function finalFigures(
  journal: readonly FiguresJournalEntry[],
  lastProgress: Readonly<Record<string, unknown>>,
  observed: { readonly downtimeMs?: number | null | undefined; readonly transferredBytes?: number | undefined; readonly passes?: number | undefined } = {},
): FinalFigures {
  const pick = (seen: number | null | undefined, stage: string, key: string): number | undefined =>
    positive(seen) ?? fromJournal(journal, stage, key) ?? positive(lastProgress[key]) ?? (typeof seen === 'number' ? seen : undefined);
  const downtimeMs = pick(observed.downtimeMs, 'stop-and-copy', 'downtimeMs');
  const transferredBytes = pick(observed.transferredBytes, 'transferred', 'transferredBytes');
  const passes = pick(observed.passes, 'transferred', 'passes');
  return {
    downtimeMs: downtimeMs ?? null,
    ...(transferredBytes !== undefined ? { transferredBytes } : {}),
    ...(passes !== undefined ? { passes } : {}),
  };
}
