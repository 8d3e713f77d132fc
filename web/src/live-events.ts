import { fetchEventSource } from '@microsoft/fetch-event-source';
import type { NuboEvent } from './api-types';

type Listener = (e: NuboEvent) => void;

/** How long to wait before reconnecting after the stream broke. */
const RETRY_MS = 2_000;

/**
 * The API's event stream (`GET /api/v1/events`), read with fetch so that the
 * token goes in the Authorization header (EventSource cannot send one), and
 * fanned out to the pages that listen. Starts at the newest event: the pages
 * load the current state themselves and only need to hear of changes.
 */
export class LiveEvents {
  readonly #listeners = new Set<Listener>();
  readonly #stop = new AbortController();
  #lastSeq = 0;
  connected = false;

  constructor(token: string, since: number, onStatus: (connected: boolean) => void) {
    this.#lastSeq = since;
    void fetchEventSource(`/api/v1/events?since=${since}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: this.#stop.signal,
      // Hidden tabs keep the stream: an operator expects a background tab to be current when they come back.
      openWhenHidden: true,
      onopen: async (res) => {
        if (!res.ok) throw new Error(`event stream: ${res.status}`);
        this.connected = true;
        onStatus(true);
      },
      onmessage: (m) => {
        if (m.data === '') return;
        const e = JSON.parse(m.data) as NuboEvent;
        this.#lastSeq = e.seq;
        for (const l of this.#listeners) l(e);
      },
      onerror: () => {
        this.connected = false;
        onStatus(false);
        return RETRY_MS;
      },
    }).catch(() => onStatus(false));
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  listen(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  close(): void {
    this.#stop.abort();
  }
}
