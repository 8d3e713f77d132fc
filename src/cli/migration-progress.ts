import cliProgress from 'cli-progress';
import type { MigrationView } from '../contract/migration-schemas.js';
import { fmtDuration, fmtOffset, progressDetail, route, shortId } from './migration-format.js';
import { copyPercent, diskPercent, elapsedMs, ramPercent, readStats } from './migration-stats.js';

/** Shows a migration's progress while `nubo vm migrate --wait` polls it. */
export interface MigrationProgress {
  /** Called with every answer of the poll, the first one included. */
  update(m: MigrationView): void;
  /** Idempotent. */
  stop(): void;
}

export interface MigrationProgressOptions {
  /** Where to draw; stderr, so that stdout stays the command's result. */
  readonly stream?: NodeJS.WriteStream;
  /** Default: whether the stream is a terminal. */
  readonly tty?: boolean;
}

/** The bar's percent: the disk copy while mirroring, the files copied in a cold migration, else the share of RAM sent. */
export function barPercent(m: MigrationView): number {
  const s = readStats(m);
  const p = m.stage === 'mirroring' ? diskPercent(s) : m.kind === 'cold' ? copyPercent(s) : ramPercent(s);
  return Math.round(p ?? 0);
}

/** One journal entry as a line: "  +0.4 s  prepared", with the current numbers if it is the stage the migration is in. */
function stageLine(m: MigrationView, e: MigrationView['journal'][number], current: boolean): string {
  const detail = current ? progressDetail(e.stage, readStats(m)) : '';
  return `  ${fmtOffset(e.at, m.startedAt).padEnd(9)} ${e.stage}${detail ? `  ${detail}` : ''}`;
}

function endLine(m: MigrationView): string {
  return `  ${fmtOffset(m.finishedAt ?? m.startedAt, m.startedAt).padEnd(9)} ${m.state}${m.reason !== null ? `: ${m.reason}` : ''}`;
}

/**
 * On a terminal: a line per stage reached (from the journal, so that stages
 * passed between two polls show too) above a live bar with the stage, the
 * percent, dirty rate, passes and throughput. Elsewhere (logs, pipes): the
 * same stage lines, one per stage change, and no bar.
 */
export function startMigrationProgress(first: MigrationView, o: MigrationProgressOptions = {}): MigrationProgress {
  const stream = o.stream ?? process.stderr;
  const tty = o.tty ?? stream.isTTY === true;
  const header = `migration ${shortId(first.id)} of ${first.vm}: ${route(first)}`;
  let shown = 0;
  let ended = false;
  const newLines = (m: MigrationView): string[] => {
    const lines = m.journal.slice(shown).map((e, i, fresh) => stageLine(m, e, m.state === 'running' && i === fresh.length - 1 && e.stage === m.stage));
    shown = m.journal.length;
    if (m.state !== 'running' && !ended) {
      ended = true;
      // A success is said once, by the command's summary on stdout; a failure's reason belongs here, on its timeline.
      if (m.state !== 'succeeded') lines.push(endLine(m));
    }
    return lines;
  };

  if (!tty) {
    stream.write(`${header}\n`);
    return {
      update: (m) => {
        for (const l of newLines(m)) stream.write(`${l}\n`);
      },
      stop() {},
    };
  }

  const multi = new cliProgress.MultiBar({
    format: ' {stage} [{bar}] {percentage}% {detail} {elapsed}',
    hideCursor: true,
    clearOnComplete: true,
    stream,
    barsize: 20,
  }, cliProgress.Presets.shades_classic);
  multi.log(`${header}\n`);
  const payload = (m: MigrationView): Record<string, string> => ({
    stage: m.stage.padEnd(13),
    detail: progressDetail(m.stage, readStats(m)),
    elapsed: fmtDuration(elapsedMs(m) ?? 0),
  });
  let stopped = false;
  const bar = multi.create(100, barPercent(first), payload(first));
  return {
    update(m) {
      for (const l of newLines(m)) multi.log(`${l}\n`);
      bar.update(barPercent(m), payload(m));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      // stop() drops log lines not yet drawn (they are drawn with the next frame): draw them first.
      multi.update();
      multi.stop();
    },
  };
}
