import type { HeartbeatRecord } from '../store/repositories/hosts-repository.js';
import { NotFoundError } from '../store/store-errors.js';
import type { Failpoints } from '../util/failpoints.js';

/** The one store call the recorder makes (`HostsRepository.recordHeartbeats`): answers the ids written. */
export interface HeartbeatWriter {
  recordHeartbeats(beats: readonly HeartbeatRecord[]): Promise<Set<string>>;
}

export interface HeartbeatRecorderOptions {
  /** How long a beat waits for others to share its write (default 50 ms). */
  readonly windowMs?: number | undefined;
  /** A batch this large is written without waiting out the window (default 500). */
  readonly maxBatch?: number | undefined;
  /** `heartbeat.write` before a batch is written, `heartbeat.written` after its commit, before its beats are answered. */
  readonly failpoints?: Failpoints | undefined;
}

interface Waiter {
  readonly ok: () => void;
  readonly fail: (err: unknown) => void;
}

/**
 * Writes the heartbeats of many hosts together (a group commit): each beat
 * waits at most `windowMs` for others, then one transaction writes them all,
 * and each beat's promise settles when its row is committed — so a beat the
 * controller answered is stored, as before. A thousand hosts beating every
 * 5 s made 200 commits a second, the largest part of the store's time
 * (bench/scale.ts); batched they make a few. One write at a time: beats that
 * arrive meanwhile form the next batch.
 */
export class HeartbeatRecorder {
  readonly #writer: HeartbeatWriter;
  readonly #windowMs: number;
  readonly #maxBatch: number;
  readonly #failpoints: Failpoints | undefined;
  #pending = new Map<string, { record: HeartbeatRecord; waiters: Waiter[] }>();
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;

  constructor(writer: HeartbeatWriter, o: HeartbeatRecorderOptions = {}) {
    this.#writer = writer;
    this.#windowMs = o.windowMs ?? 50;
    this.#maxBatch = o.maxBatch ?? 500;
    this.#failpoints = o.failpoints;
  }

  /**
   * Records the host's beat in the next batch; settles when it is committed.
   * Two beats of one host in one batch are one record (the later time — the
   * time of the write when either has none —, the latest data given).
   * @throws NotFoundError when the host is no longer stored
   */
  record(record: HeartbeatRecord): Promise<void> {
    return new Promise<void>((ok, fail) => {
      const had = this.#pending.get(record.id);
      if (had === undefined) {
        this.#pending.set(record.id, { record, waiters: [{ ok, fail }] });
      } else {
        const [a, b] = [record.at, had.record.at];
        had.record = { id: record.id, at: a === undefined || b === undefined ? undefined : a > b ? a : b, usage: record.usage ?? had.record.usage };
        had.waiters.push({ ok, fail });
      }
      this.#schedule();
    });
  }

  /** Writes what is pending now and waits for it (and for a write under way). */
  async flush(): Promise<void> {
    while (this.#writing !== undefined || this.#pending.size > 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      if (this.#writing === undefined) this.#writing = this.#write();
      await this.#writing;
    }
  }

  #schedule(): void {
    if (this.#writing !== undefined) return; // the write under way starts the next batch when it ends
    if (this.#pending.size >= this.#maxBatch) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#writing = this.#write();
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      if (this.#writing === undefined && this.#pending.size > 0) this.#writing = this.#write();
    }, this.#windowMs);
  }

  async #write(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      await this.#failpoints?.hit('heartbeat.write');
      const written = await this.#writer.recordHeartbeats([...batch.values()].map((b) => b.record));
      await this.#failpoints?.hit('heartbeat.written');
      for (const [id, b] of batch) {
        const settle = written.has(id) ? (w: Waiter) => w.ok() : (w: Waiter) => w.fail(new NotFoundError('host', id));
        for (const w of b.waiters) settle(w);
      }
    } catch (err) {
      for (const b of batch.values()) for (const w of b.waiters) w.fail(err);
    } finally {
      this.#writing = undefined;
      // Beats that came during the write: their batch starts now, or after its window when it is the only one.
      if (this.#pending.size > 0) this.#schedule();
    }
  }
}
