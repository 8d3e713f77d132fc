import { DOMParser, type Element } from '@xmldom/xmldom';
import { ValidationError } from '../errors/validation-error.js';
import type { HostCapacity } from '../core/leases/slot-table.js';
import type { TraceLease, Workload } from './trace-lease.js';

/** `HH:MM:SS.ss` (hours may exceed 24) → seconds. */
export function parseLwfTime(s: string): number | undefined {
  const m = /^(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$/.exec(s.trim());
  return m === null ? undefined : Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

const kids = (el: Element | undefined, name: string): Element[] => {
  const out: Element[] = [];
  for (let n = el?.firstChild ?? null; n !== null; n = n.nextSibling) if (n.nodeType === 1 && (n as Element).localName === name) out.push(n as Element);
  return out;
};
const kid = (el: Element | undefined, name: string): Element | undefined => kids(el, name)[0];

/**
 * Reads Haizea's Lease Workload Format: the site's node sets and the lease
 * requests (an empty `<start/>` is best effort, `<exact time>` an advance
 * reservation, `<now/>` immediate). CPU 100 is one CPU. Errors name the
 * element and its line.
 */
export function readLwf(xml: string, source = 'LWF workload'): Workload {
  const fail = (el: Element | undefined, message: string): never => {
    const line = (el as { lineNumber?: number } | undefined)?.lineNumber;
    throw new ValidationError(source, [{ field: line === undefined ? (el?.localName ?? 'document') : `line ${line} <${el!.localName}>`, message }]);
  };
  let root: Element | null | undefined;
  try {
    root = new DOMParser({
      onError: (level, msg) => {
        if (level !== 'warning') throw new Error(msg);
      },
    }).parseFromString(xml, 'text/xml').documentElement;
  } catch (err) {
    throw new ValidationError(source, [{ field: 'document', message: `not well-formed XML: ${err instanceof Error ? err.message : String(err)}` }]);
  }
  if (!root || root.localName !== 'lease-workload') fail(root ?? undefined, 'the root element must be <lease-workload>');
  const attrNum = (el: Element, name: string, min: number): number => {
    const raw = el.getAttribute(name);
    const v = Number(raw);
    if (raw === null || raw.trim() === '' || !Number.isFinite(v) || v < min) fail(el, `attribute ${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return v;
  };
  const time = (el: Element | undefined, what: string, attr = 'time'): number => {
    if (el === undefined) return fail(undefined, `missing ${what}`);
    const v = parseLwfTime(el.getAttribute(attr) ?? '');
    if (v === undefined) fail(el, `${attr} must be HH:MM:SS[.ss], got ${JSON.stringify(el.getAttribute(attr))}`);
    return v!;
  };
  const res = (set: Element): { cpus: number; memoryMiB: number } => {
    const r = new Map(kids(set, 'res').map((x) => [x.getAttribute('type') ?? '', attrNum(x, 'amount', 0)]));
    const cpu = r.get('CPU');
    const mem = r.get('Memory');
    if (cpu === undefined || mem === undefined) fail(set, 'a node-set needs <res type="CPU"> and <res type="Memory">');
    return { cpus: cpu! / 100, memoryMiB: mem! };
  };
  const hosts: HostCapacity[] = [];
  for (const set of kids(kid(kid(root!, 'site'), 'nodes'), 'node-set')) {
    const n = attrNum(set, 'numnodes', 1);
    const cap = res(set);
    for (let i = 0; i < n; i++) hosts.push(cap);
  }
  const leases: TraceLease[] = [];
  for (const reqEl of kids(kid(root!, 'lease-requests'), 'lease-request')) {
    const submit = time(reqEl, 'arrival', 'arrival');
    const lease = kid(reqEl, 'lease') ?? fail(reqEl, 'a lease-request needs a <lease>');
    const id = lease.getAttribute('id') ?? fail(lease, 'a lease needs an id');
    const sets = kids(kid(lease, 'nodes'), 'node-set');
    if (sets.length !== 1) fail(lease, `a lease needs exactly one <nodes><node-set>, found ${sets.length}`);
    const vms = attrNum(sets[0]!, 'numnodes', 1);
    const startEl = kid(lease, 'start') ?? fail(lease, 'a lease needs a <start> (empty for best effort)');
    const exact = kid(startEl, 'exact');
    const kind = exact !== undefined ? 'ar' : kid(startEl, 'now') !== undefined ? 'immediate' : 'be';
    const duration = time(kid(lease, 'duration'), `<duration> of lease ${id}`);
    const realEl = kid(reqEl, 'realduration');
    const img = kid(kid(lease, 'software'), 'disk-image');
    leases.push({
      id,
      kind,
      submit,
      ...(exact !== undefined ? { start: time(exact, `start of lease ${id}`) } : {}),
      duration,
      ...(realEl !== undefined ? { realDuration: time(realEl, `realduration of lease ${id}`) } : {}),
      vms,
      shape: res(sets[0]!),
      ...(img !== undefined ? { image: { id: img.getAttribute('id') ?? fail(img, 'a disk-image needs an id'), sizeMiB: attrNum(img, 'size', 0) } } : {}),
      preemptible: lease.getAttribute('preemptible') === 'true',
    });
  }
  return { hosts, leases };
}
