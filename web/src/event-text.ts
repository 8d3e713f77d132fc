import type { NuboEvent } from './api-types';

/**
 * One event as a line an operator reads: which resource (by name when the
 * page knows it), what happened, and its new state when it has one.
 * `data.name` names the resource only on creation-like events; elsewhere it
 * names something else (a snapshot), so it is not taken for the resource.
 */
export function eventText(e: NuboEvent, names: ReadonlyMap<string, string>): string {
  const created = /\.(created|registered)$/.test(e.kind) && typeof e.data['name'] === 'string';
  const who = names.get(e.resourceId) ?? (created ? String(e.data['name']) : e.resourceId.slice(0, 8));
  const to = typeof e.data['to'] === 'string' ? ` → ${e.data['to']}` : typeof e.data['state'] === 'string' ? ` → ${e.data['state']}` : '';
  const text = (k: string): string => (typeof e.data[k] === 'string' ? e.data[k] : '');
  const what = e.kind === 'vm.snapshot' ? `snapshot ${text('action')} ${text('name')}`.trim() : e.kind;
  return `${e.resource} ${who}: ${what}${to}`;
}
