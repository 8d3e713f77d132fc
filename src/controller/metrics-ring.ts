import { ValidationError } from '../errors/validation-error.js';

/**
 * A fixed number of fixed-width numeric records, oldest overwritten first, in
 * one Float64Array: a full ring costs `capacity × width × 8` bytes and never
 * more, however long the controller runs. Field 0 of every record is its
 * time (ms since the epoch), and records are pushed in time order.
 */
export class MetricRing {
  readonly #data: Float64Array;
  readonly capacity: number;
  readonly width: number;
  /** Index of the next write. */
  #head = 0;
  #size = 0;
  /** Time of the newest record (-Infinity when empty). */
  #lastAt = -Infinity;

  constructor(capacity: number, width: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new ValidationError('metric ring', [{ field: 'capacity', message: `must be a positive integer, not ${capacity}` }]);
    if (!Number.isInteger(width) || width < 1) throw new ValidationError('metric ring', [{ field: 'width', message: `must be a positive integer, not ${width}` }]);
    this.capacity = capacity;
    this.width = width;
    this.#data = new Float64Array(capacity * width);
  }

  get size(): number {
    return this.#size;
  }

  get bytes(): number {
    return this.#data.byteLength;
  }

  /** Adds a record; one not later than the newest is dropped (the same sample pulled twice), and so is one of the wrong width. */
  push(values: readonly number[]): boolean {
    if (values.length !== this.width) return false;
    const at = values[0] ?? 0;
    if (!(at > this.#lastAt)) return false;
    this.#lastAt = at;
    this.#data.set(values, this.#head * this.width);
    this.#head = (this.#head + 1) % this.capacity;
    this.#size = Math.min(this.#size + 1, this.capacity);
    return true;
  }

  /** The record at position `i`, 0 the oldest kept. */
  #at(i: number): number[] {
    const slot = (this.#head - this.#size + i + this.capacity) % this.capacity;
    return Array.from(this.#data.subarray(slot * this.width, (slot + 1) * this.width));
  }

  /** Time of the newest record, undefined when empty (no copy made). */
  get latestAt(): number | undefined {
    return this.#size === 0 ? undefined : this.#lastAt;
  }

  latest(): number[] | undefined {
    return this.#size === 0 ? undefined : this.#at(this.#size - 1);
  }

  /** Records later than `sinceMs` (all when undefined), oldest first. */
  since(sinceMs?: number): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < this.#size; i++) {
      const r = this.#at(i);
      if (sinceMs === undefined || (r[0] ?? 0) > sinceMs) out.push(r);
    }
    return out;
  }
}
