import { ValidationError } from '../errors/validation-error.js';
import type { TraceLease } from './trace-lease.js';

const LINE = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+'([^']*)'\s+(\S+)$/;

/**
 * Reads Haizea's old one-line advance-reservation format, one AR a line:
 * `submit start duration realduration numnodes cpu memory disk 'image' imagesize`
 * (seconds from the trace start; cpu 1 = one CPU; memory and image size in MiB).
 * A malformed line is a ValidationError naming the line.
 */
export function readInjections(text: string, source = 'AR injections'): TraceLease[] {
  const out: TraceLease[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const bad = (message: string): never => {
      throw new ValidationError(source, [{ field: `line ${i + 1}`, message }]);
    };
    const m = LINE.exec(line);
    if (m === null) bad(`expected "submit start duration realduration numnodes cpu memory disk 'image' imagesize", got ${JSON.stringify(line.slice(0, 80))}`);
    const names = ['submit', 'start', 'duration', 'realduration', 'numnodes', 'cpu', 'memory', 'disk'];
    const v = names.map((name, k) => {
      const x = Number(m![k + 1]);
      if (!Number.isFinite(x) || x < 0) bad(`${name} must be a number ≥ 0, got ${JSON.stringify(m![k + 1])}`);
      return x;
    });
    const [submit, start, duration, real, nodes, cpu, memory] = v as [number, number, number, number, number, number, number];
    if (start < submit) bad(`start ${start} is before submit ${submit}`);
    if (real > duration) bad(`realduration ${real} exceeds duration ${duration}`);
    if (!Number.isInteger(nodes) || nodes < 1) bad(`numnodes must be a whole number ≥ 1, got ${nodes}`);
    const size = Number(m![10]);
    if (!Number.isFinite(size) || size < 0) bad(`imagesize must be a number ≥ 0, got ${JSON.stringify(m![10])}`);
    out.push({ id: `ar-${i + 1}`, kind: 'ar', submit, start, duration, realDuration: real, vms: nodes, shape: { cpus: cpu, memoryMiB: memory }, image: { id: m![9]!, sizeMiB: size }, preemptible: false });
  }
  return out;
}
