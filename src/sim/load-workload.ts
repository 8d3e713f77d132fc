import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { readInjections } from './read-injections.js';
import { readLwf } from './read-lwf.js';
import { readSwf } from './read-swf.js';
import type { Workload } from './trace-lease.js';

/**
 * Reads a trace file: `.swf` is the Standard Workload Format; anything else
 * is LWF XML when it starts with `<`, else the one-line AR format (the
 * paper's injection files end in .lwf too). `injections`, when given, adds
 * the ARs of a one-line file.
 */
export async function loadWorkload(trace: string, injections: string | undefined, signal: AbortSignal): Promise<Workload> {
  const read = (path: string): Promise<string> => readFile(path, { encoding: 'utf8', signal });
  const text = await read(trace);
  const name = basename(trace);
  const base: Workload = trace.endsWith('.swf') ? { leases: readSwf(text, name) } : text.trimStart().startsWith('<') ? readLwf(text, name) : { leases: readInjections(text, name) };
  if (injections === undefined) return base;
  const ars = readInjections(await read(injections), basename(injections));
  return { ...base, leases: [...base.leases, ...ars] };
}
