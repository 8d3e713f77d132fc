import type { Api } from './api';
import type { NuboEvent } from './api-types';

/** Pages of history read at sign-in at most; past that the stream starts where the reading stopped. */
const MAX_PAGES = 20;
const RECENT = 20;

/**
 * The newest event's seq and the last few events. The API pages history
 * forward from a seq and has no "latest" query, so this reads forward; the
 * controller prunes old events, which keeps the walk short.
 */
export async function newestEvents(api: Api): Promise<{ lastSeq: number; recent: NuboEvent[] }> {
  let since = 0;
  let recent: NuboEvent[] = [];
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await api.get<NuboEvent[]>(`/events/history?since=${since}`);
    if (page.length === 0) break;
    recent = [...recent, ...page].slice(-RECENT);
    since = page.at(-1)!.seq;
  }
  return { lastSeq: since, recent };
}
