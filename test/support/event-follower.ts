import type { EventView } from '../../src/contract/event-schemas.js';
import { pollUntil } from '../../src/util/deadline.js';

/**
 * Reads `GET /api/v1/events` (the SSE stream) as one user for as long as a
 * test runs, across controller deaths: when the stream ends or fails it
 * connects again with Last-Event-ID, as a browser's EventSource does, so
 * every event the user may read is in `frames` once, in order.
 */
export class EventFollower {
  readonly frames: EventView[] = [];
  /** How many times the stream was opened again after it ended (a controller restart). */
  reconnects = 0;
  readonly #abort = new AbortController();
  readonly #loop: Promise<void>;

  constructor(readonly baseUrl: string, readonly token: string) {
    this.#loop = this.#follow();
  }

  async #follow(): Promise<void> {
    const signal = this.#abort.signal;
    for (let first = true; !signal.aborted; first = false) {
      if (!first) {
        this.reconnects++;
        await new Promise((r) => setTimeout(r, 250));
      }
      try {
        const last = this.frames.at(-1)?.seq;
        const res = await fetch(`${this.baseUrl}/api/v1/events`, { headers: { authorization: `Bearer ${this.token}`, ...(last !== undefined ? { 'last-event-id': String(last) } : {}) }, signal });
        if (res.status !== 200 || res.body === null) continue;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const data = buf.slice(0, i).split('\n').find((l) => l.startsWith('data:'));
            buf = buf.slice(i + 2);
            if (data === undefined) continue;
            const e = JSON.parse(data.slice(5)) as EventView;
            // A resumed stream starts after the last seq seen: a repeat would be the server's fault, and the test's assertions would see it.
            this.frames.push(e);
          }
        }
      } catch {
        // The controller died or is not listening yet: connect again.
      }
    }
  }

  /** The events about one resource, in stream order. */
  about(resource: string, id: string): EventView[] {
    return this.frames.filter((e) => e.resource === resource && e.resourceId === id);
  }

  /** Waits until the frames read so far satisfy `ok`. */
  async until(what: string, ok: (frames: readonly EventView[]) => boolean, timeoutMs = 60_000): Promise<void> {
    await pollUntil(`event stream: ${what}`, () => (ok(this.frames) ? true : undefined), { timeoutMs, intervalMs: 100 });
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }
}

/** A lease's states as its events tell them, each change once (the created event's state first). */
export function leaseStates(events: readonly EventView[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const s = e.data['state'];
    if (typeof s === 'string' && out.at(-1) !== s) out.push(s);
  }
  return out;
}
