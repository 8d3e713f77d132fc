import type { MigrationView } from '../contract/migration-schemas.js';
import { copyPercent, diskPercent, megabytesPerSecond, ramPercent, type MigrationStats } from './migration-stats.js';
import { fmtBytes } from './output.js';

/** Value formats shared by the migration commands and the --wait progress. */

/** Migration ids are UUIDs; tables show their first 8 characters, which the commands also accept. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** 38 → "38 ms", 4210 → "4.2 s", 125000 → "2m 05s". */
export function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** An instant as an offset from the migration's start: "+0.4 s". */
export function fmtOffset(iso: string, startedAt: string): string {
  const d = Date.parse(iso) - Date.parse(startedAt);
  return Number.isNaN(d) ? iso : `+${(Math.max(0, d) / 1000).toFixed(1)} s`;
}

export function fmtPercent(p: number): string {
  return `${Math.floor(p)}%`;
}

export function route(m: Pick<MigrationView, 'source' | 'destination'>): string {
  return `${m.source} → ${m.destination}`;
}

/** The stages in which memory is on the move; the numbers mean nothing before (and on the roll-back). */
const MOVING_RAM: ReadonlySet<string> = new Set(['precopy', 'postcopy', 'stop-and-copy']);

/**
 * What is moving in the current stage, for the progress display: the disk
 * copy while mirroring, RAM with dirty rate, passes and throughput during
 * pre-copy; '' when there is nothing to show.
 */
export function progressDetail(stage: string, s: MigrationStats): string {
  const parts: string[] = [];
  const disk = diskPercent(s);
  const copied = copyPercent(s);
  if (stage === 'copying' && copied !== undefined) {
    parts.push(`files ${fmtPercent(copied)} (${fmtBytes(s.copiedBytes ?? 0)} of ${fmtBytes(s.copyTotalBytes ?? 0)})`);
    if (s.throughputMBps !== undefined) parts.push(`${s.throughputMBps.toFixed(1)} MB/s`);
  }
  if (stage === 'mirroring' && disk !== undefined) {
    parts.push(`disk ${fmtPercent(disk)} (${fmtBytes(s.diskCopiedBytes ?? 0)} of ${fmtBytes(s.diskTotalBytes ?? 0)})`);
  }
  if (!MOVING_RAM.has(stage)) return parts.join(' · ');
  const ram = ramPercent(s);
  if (ram !== undefined) parts.push(`RAM ${fmtPercent(ram)} sent`);
  if (s.dirtyRateBytes !== undefined) parts.push(`dirty ${fmtBytes(s.dirtyRateBytes)}/s`);
  if (s.passes !== undefined) parts.push(`pass ${s.passes}`);
  const mb = megabytesPerSecond(s);
  if (mb !== undefined) parts.push(`${mb.toFixed(1)} MB/s`);
  return parts.join(' · ');
}
