import { ValidationError } from '../errors/validation-error.js';
import type { VmShape } from '../core/leases/lease.js';
import type { TraceLease } from './trace-lease.js';

/**
 * Reads a Standard Workload Format trace as Haizea did: every job a
 * best-effort lease of one VM per requested processor (field 8), submitted at
 * field 2, reserving its requested time (field 9) and really running
 * min(run time, requested time) (field 4); cancelled jobs (run time < 0) are
 * skipped. A malformed line is a ValidationError naming the line.
 */
export function readSwf(text: string, source = 'SWF trace', shape: VmShape = { cpus: 1, memoryMiB: 1024 }): TraceLease[] {
  const out: TraceLease[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith(';')) continue;
    const bad = (message: string): never => {
      throw new ValidationError(source, [{ field: `line ${i + 1}`, message }]);
    };
    const f = line.split(/\s+/);
    if (f.length !== 18) bad(`expected 18 whitespace-separated fields, found ${f.length}`);
    const num = (k: number, name: string): number => {
      const v = Number(f[k - 1]);
      if (!Number.isFinite(v)) bad(`field ${k} (${name}) is not a number: ${JSON.stringify(f[k - 1])}`);
      return v;
    };
    const id = f[0]!;
    const submit = num(2, 'submit time');
    const run = num(4, 'run time');
    const procs = num(8, 'requested processors');
    const requested = num(9, 'requested time');
    if (run < 0) continue;
    if (submit < 0) bad(`field 2 (submit time) is negative: ${submit}`);
    if (!Number.isInteger(procs) || procs < 1) bad(`field 8 (requested processors) must be a whole number ≥ 1, got ${procs}`);
    const duration = Math.max(1, requested > 0 ? requested : run);
    // Field 12 is the user (-1: unknown): the owner a quota-aware admission charges.
    const user = f[11];
    const owner = user !== undefined && user !== '-1' ? { owner: `user-${user}` } : {};
    out.push({ id: `swf-${id}`, kind: 'be', submit, duration, realDuration: Math.min(run, duration), vms: procs, shape, preemptible: true, ...owner });
  }
  return out;
}
