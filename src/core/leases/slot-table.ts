import type { VmShape } from './lease.js';

/** What a host offers. */
export interface HostCapacity {
  readonly cpus: number;
  readonly memoryMiB: number;
}

/**
 * One host's usage as a step function: `usage[i]` holds on [times[i], times[i+1]).
 * The first point is at -Infinity so that every time falls in a step.
 */
interface HostSteps {
  times: number[];
  cpu: number[];
  mem: number[];
  /** The part of the usage that belongs to preemptible leases. */
  preCpu: number[];
  preMem: number[];
  /** How many bookings hold the step (a lease's plan is one booking per host): Haizea's "leases in the node". */
  count: number[];
}

/** One booking of `vms` VMs of a shape on a host over [from, to). */
export interface Booking {
  readonly host: number;
  readonly from: number;
  readonly to: number;
  readonly vms: number;
  readonly shape: VmShape;
  readonly preemptible: boolean;
}

/**
 * The capacity of every host over time (Haizea's slot table): each host's
 * usage is a step function kept as sorted change points, so a booking costs
 * a binary search and a splice, and a question about [from, to) reads only
 * the steps inside it — never per-second arrays.
 */
export class SlotTable {
  private readonly steps: HostSteps[];

  constructor(readonly hosts: readonly HostCapacity[]) {
    this.steps = hosts.map(() => ({ times: [-Infinity], cpu: [0], mem: [0], preCpu: [0], preMem: [0], count: [0] }));
  }

  #version = 0;

  /** Bumped by every booking and release: what was worked out from the table at one version holds until the next. */
  get version(): number {
    return this.#version;
  }

  get hostCount(): number {
    return this.hosts.length;
  }

  /** Adds a booking. The caller checked that it fits; the table does not refuse (a plan may be re-added on undo). */
  book(b: Booking): void {
    this.apply(b, 1);
  }

  /** Removes a booking added before (or the part [from, to) of one). */
  release(b: Booking): void {
    this.apply(b, -1);
  }

  /** How many VMs of `shape` fit on `host` during all of [from, to); with `ignorePreemptible` preemptible usage counts as free. */
  vmsFree(host: number, from: number, to: number, shape: VmShape, ignorePreemptible = false): number {
    const s = this.steps[host]!;
    const cap = this.hosts[host]!;
    let i = this.stepAt(s, from);
    let fit = Infinity;
    do {
      const cpu = s.cpu[i]! - (ignorePreemptible ? s.preCpu[i]! : 0);
      const mem = s.mem[i]! - (ignorePreemptible ? s.preMem[i]! : 0);
      fit = Math.min(fit, Math.floor((cap.cpus - cpu) / shape.cpus + 1e-9), Math.floor((cap.memoryMiB - mem) / shape.memoryMiB + 1e-9));
      i++;
    } while (fit > 0 && i < s.times.length && s.times[i]! < to);
    return Math.max(0, fit);
  }

  /** The first time ≥ from at which `host` can no longer hold `vms` more VMs of `shape` (Infinity if never). */
  busyFrom(host: number, from: number, shape: VmShape, vms: number): number {
    const s = this.steps[host]!;
    for (let i = this.stepAt(s, from); i < s.times.length; i++) {
      if (this.fitsStep(host, i, shape) < vms) return Math.max(from, s.times[i]!);
    }
    return Infinity;
  }

  /** The earliest t ≥ from at which `host` holds `vms` VMs of `shape` during [t, t+length). */
  earliestFit(host: number, from: number, length: number, shape: VmShape, vms: number): number {
    const s = this.steps[host]!;
    let t = from;
    let i = this.stepAt(s, t);
    for (;;) {
      // Skip the steps too full to start in.
      while (i < s.times.length && this.fitsStep(host, i, shape) < vms) {
        i++;
        if (i < s.times.length) t = Math.max(from, s.times[i]!);
        else return Infinity;
      }
      let j = i + 1;
      while (j < s.times.length && s.times[j]! < t + length && this.fitsStep(host, j, shape) >= vms) j++;
      if (j >= s.times.length || s.times[j]! >= t + length) return t;
      i = j;
      t = s.times[j]!;
    }
  }

  /** From when on `host` holds VMs of `shape` for good, and how many: its last steps that have room (Infinity: never). */
  freeForGood(host: number, shape: VmShape): { from: number; vms: number } {
    const s = this.steps[host]!;
    let i = s.times.length - 1;
    const vms = this.fitsStep(host, i, shape);
    if (vms === 0) return { from: Infinity, vms: 0 };
    while (i > 0 && this.fitsStep(host, i - 1, shape) >= vms) i--;
    // A booking for good (what VMs outside leases take, to Infinity) ends in a step at Infinity: never.
    return s.times[i] === Infinity ? { from: Infinity, vms: 0 } : { from: s.times[i]!, vms };
  }

  /** The first change point of `host` strictly after t (Infinity if none). */
  nextChange(host: number, t: number): number {
    const s = this.steps[host]!;
    const i = this.stepAt(s, t) + 1;
    return i < s.times.length ? s.times[i]! : Infinity;
  }

  /** How many bookings (leases' plans, and what VMs outside leases take) hold `host` at time t. */
  bookingsAt(host: number, t: number): number {
    const s = this.steps[host]!;
    return s.count[this.stepAt(s, t)]!;
  }

  /** Used CPU and memory of `host` at time t, for checks and reports. */
  usageAt(host: number, t: number): { cpus: number; memoryMiB: number } {
    const s = this.steps[host]!;
    const i = this.stepAt(s, t);
    return { cpus: s.cpu[i]!, memoryMiB: s.mem[i]! };
  }

  /** The change points of `host` (after the -Infinity sentinel), for tests. */
  changePoints(host: number): readonly number[] {
    return this.steps[host]!.times.slice(1);
  }

  /** Forgets the steps before t (merged into one): the past is never asked about again, and the arrays stay short. */
  forgetBefore(t: number): void {
    for (const s of this.steps) {
      const i = this.stepAt(s, t);
      if (i <= 1) continue;
      s.times.splice(1, i - 1);
      s.cpu.splice(0, i - 1);
      s.mem.splice(0, i - 1);
      s.preCpu.splice(0, i - 1);
      s.preMem.splice(0, i - 1);
      s.count.splice(0, i - 1);
      s.times[0] = -Infinity;
    }
  }

  private fitsStep(host: number, i: number, shape: VmShape): number {
    const s = this.steps[host]!;
    const cap = this.hosts[host]!;
    return Math.max(0, Math.min(Math.floor((cap.cpus - s.cpu[i]!) / shape.cpus + 1e-9), Math.floor((cap.memoryMiB - s.mem[i]!) / shape.memoryMiB + 1e-9)));
  }

  /** Index of the step that holds time t: the last i with times[i] ≤ t. */
  private stepAt(s: HostSteps, t: number): number {
    let lo = 0;
    let hi = s.times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s.times[mid]! <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Splits the step function at t (if no point is there yet) and returns the index of the step starting at t. */
  private split(s: HostSteps, t: number): number {
    const i = this.stepAt(s, t);
    if (s.times[i] === t) return i;
    s.times.splice(i + 1, 0, t);
    s.cpu.splice(i + 1, 0, s.cpu[i]!);
    s.mem.splice(i + 1, 0, s.mem[i]!);
    s.preCpu.splice(i + 1, 0, s.preCpu[i]!);
    s.preMem.splice(i + 1, 0, s.preMem[i]!);
    s.count.splice(i + 1, 0, s.count[i]!);
    return i + 1;
  }

  private apply(b: Booking, sign: 1 | -1): void {
    if (!(b.to > b.from) || b.vms === 0) return;
    this.#version++;
    const s = this.steps[b.host];
    if (s === undefined) throw new RangeError(`no host ${b.host} in the slot table`);
    const a = this.split(s, b.from);
    const z = this.split(s, b.to);
    const cpu = sign * b.vms * b.shape.cpus;
    const mem = sign * b.vms * b.shape.memoryMiB;
    for (let i = a; i < z; i++) {
      s.cpu[i]! += cpu;
      s.mem[i]! += mem;
      s.count[i]! += sign;
      if (b.preemptible) {
        s.preCpu[i]! += cpu;
        s.preMem[i]! += mem;
      }
    }
    // Merge the two ends with their neighbours when equal, so released bookings leave no dust.
    this.mergeAt(s, z);
    this.mergeAt(s, a);
  }

  private mergeAt(s: HostSteps, i: number): void {
    if (i <= 0 || i >= s.times.length) return;
    const same = s.cpu[i] === s.cpu[i - 1] && s.mem[i] === s.mem[i - 1] && s.preCpu[i] === s.preCpu[i - 1] && s.preMem[i] === s.preMem[i - 1] && s.count[i] === s.count[i - 1];
    if (!same) return;
    s.times.splice(i, 1);
    s.cpu.splice(i, 1);
    s.mem.splice(i, 1);
    s.preCpu.splice(i, 1);
    s.preMem.splice(i, 1);
    s.count.splice(i, 1);
  }
}
