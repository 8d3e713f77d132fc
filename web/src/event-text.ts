import type { NuboEvent } from './api-types';

/** One event as a line an operator reads: what happened to which resource, with its new state when it has one. */
export function eventText(e: NuboEvent): string {
  const name = typeof e.data['name'] === 'string' ? e.data['name'] : e.resourceId.slice(0, 8);
  const to = typeof e.data['to'] === 'string' ? ` → ${e.data['to']}` : typeof e.data['state'] === 'string' ? ` → ${e.data['state']}` : '';
  return `${e.resource} ${name}: ${e.kind}${to}`;
}
