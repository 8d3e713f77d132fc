import { NuboError } from '../errors/nubo-error.js';

/**
 * A qcow2 internal snapshot of a disk: it lives inside the disk's own file,
 * so it goes wherever the file goes (a cold migration, a stop). The file is
 * the only record of it; nubo keeps none.
 */
export interface DiskSnapshot {
  /** The snapshot's tag, unique in its file. */
  readonly name: string;
  /**
   * qcow2's own number for it. qemu-img looks a snapshot up by id before it
   * looks at names (`snapshot -a 1` reverts to id 1, not to a snapshot named
   * "1"), so a revert names the id it found for the name.
   */
  readonly id: string;
  /** When it was taken (host clock), ISO 8601. */
  readonly createdAt: string;
  /** The guest's clock, in seconds, when it was taken from a running VM; 0 for one taken at rest. */
  readonly vmClockSec: number;
}

/** A snapshot name the disk has already (HTTP 409). */
export class DiskSnapshotExistsError extends NuboError {
  readonly code = 'SNAPSHOT_EXISTS';
  constructor(readonly snapshot: string) {
    super(`a snapshot named ${JSON.stringify(snapshot)} already exists on the VM's disk`, { resource: 'snapshot', field: 'name', value: snapshot });
  }
}

/** No snapshot of that name on the disk (HTTP 404). */
export class DiskSnapshotNotFoundError extends NuboError {
  readonly code = 'SNAPSHOT_NOT_FOUND';
  constructor(readonly snapshot: string) {
    super(`the VM's disk has no snapshot named ${JSON.stringify(snapshot)}`, { resource: 'snapshot', id: snapshot });
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * QEMU's `SnapshotInfo` list — the `snapshots` of an ImageInfo, which QMP
 * (`query-named-block-nodes`) and `qemu-img info --output=json` both give —
 * as DiskSnapshots, in the file's order (oldest first). Absent means none.
 */
export function parseSnapshotInfos(raw: unknown): DiskSnapshot[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new TypeError('snapshots: not a list');
  return raw.map((s: unknown, i) => {
    if (!isRecord(s) || typeof s['name'] !== 'string' || typeof s['id'] !== 'string') throw new TypeError(`snapshots[${i}]: no name or id`);
    const sec = Number(s['date-sec'] ?? 0);
    const nsec = Number(s['date-nsec'] ?? 0);
    return { name: s['name'], id: s['id'], createdAt: new Date(sec * 1000 + Math.floor(nsec / 1e6)).toISOString(), vmClockSec: Number(s['vm-clock-sec'] ?? 0) };
  });
}
