import type { NuboClient } from '../../src/client/nubo-client.js';
import type { EventView } from '../../src/contract/event-schemas.js';

/** Every event in the controller's log, page after page, oldest first (crash tests read what a restart did). */
export async function allEvents(api: NuboClient): Promise<EventView[]> {
  const out: EventView[] = [];
  for (let page = await api.listEvents(0); page.length > 0; page = await api.listEvents(page.at(-1)!.seq)) out.push(...page);
  return out;
}
