import { fetchEventSource } from '@microsoft/fetch-event-source';
import type { NuboEvent } from './api-types';

type Listener = (e: NuboEvent) => void;

/** Where the stream starts: the newest event's seq, and the few events before it that the overview lists. */
export interface EventHistory { readonly lastSeq: number; readonly recent: NuboEvent[] }

/** How long to wait before reconnecting after the stream broke. */
const RETRY_MS = 2_000;

/**
 * The API's event stream (`GET /api/v1/events`), read with fetch so that the
 * token goes in the Authorization header (EventSource cannot send one), and
 * fanned out to the pages that listen. Starts at the newest event: the pages
 * load the current state themselves and only need to hear of changes.
 *
 * Finding the newest event means reading the history (with thousands of
 * events, many pages): the pages must not wait for it, so it is read in the
 * background and the stream starts when it is done. A page that loaded its
 * data before that reloads when the stream opens (onOpen), so no change made
 * in between is missed.
 */
export class LiveEvents {
  readonly #listeners = new Set<Listener>();
  readonly #openListeners = new Set<() => void>();
  readonly #stop = new AbortController();
  #lastSeq = 0;
  connected = false;
  /** The events before the stream's start (filled when `ready` resolves). */
  recent: NuboEvent[] = [];
  /** Resolves when the history is read, before the stream's first event. */
  readonly ready: Promise<void>;

  constructor(token: string, history: () => Promise<EventHistory>, onStatus: (connected: boolean) => void) {
    this.ready = this.#readHistory(history, onStatus).then(({ lastSeq, recent }) => {
      this.#lastSeq = lastSeq;
      this.recent = recent;
      this.#stream(token, lastSeq, onStatus);
    }, () => {});
  }

  async #readHistory(history: () => Promise<EventHistory>, onStatus: (connected: boolean) => void): Promise<EventHistory> {
    for (;;) {
      this.#stop.signal.throwIfAborted();
      try {
        return await history();
      } catch {
        onStatus(false);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  #stream(token: string, since: number, onStatus: (connected: boolean) => void): void {
    void fetchEventSource(`/api/v1/events?since=${since}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: this.#stop.signal,
      // Hidden tabs keep the stream: an operator expects a background tab to be current when they come back.
      openWhenHidden: true,
      onopen: async (res) => {
        if (!res.ok) throw new Error(`event stream: ${res.status}`);
        this.connected = true;
        onStatus(true);
        for (const l of this.#openListeners) l();
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

  /** Called whenever the stream (re)opens: what a page loaded before then may be older than the stream's start. */
  onOpen(l: () => void): () => void {
    this.#openListeners.add(l);
    return () => this.#openListeners.delete(l);
  }

  close(): void {
    this.#stop.abort();
  }
}
