import type { Api } from './api';
import type { NuboEvent } from './api-types';

/** Events the overview lists under "Recent events". */
const RECENT = 20;

/**
 * The newest event's seq and the last few events, in one request: the API
 * walks its event table back from the newest row (`?latest=N`), so sign-in
 * costs the same with ten events or a million. With none the stream starts
 * at 0.
 */
export async function newestEvents(api: Api): Promise<{ lastSeq: number; recent: NuboEvent[] }> {
  const recent = await api.get<NuboEvent[]>(`/events/history?latest=${RECENT}`);
  return { lastSeq: recent.at(-1)?.seq ?? 0, recent };
}
