import type { VmSample } from './vm-sample.js';

/** The machine's CPU time counters (the `cpu` line of /proc/stat), in clock ticks. */
export interface CpuTimes {
  readonly totalTicks: number;
  /** idle + iowait: time no work ran. */
  readonly idleTicks: number;
}

/**
 * A host's use at the end of one sampling interval: its VMs' totals — sums
 * over the VMs, in the VM samples' units (percent of one CPU, bytes, bytes per
 * second) — and the machine's own CPU and memory.
 */
export interface HostSample extends Pick<VmSample, 'atMs' | 'cpuPercent' | 'vcpuPercent' | 'rssBytes' | 'memoryBytes' | 'diskReadBytesPerSec' | 'diskWriteBytesPerSec' | 'netRxBytesPerSec' | 'netTxBytesPerSec'> {
  /** VMs sampled (running or paused, with two readings). */
  readonly vms: number;
  /** The whole machine: percent of all its CPUs busy (0–100), whatever ran. */
  readonly machineCpuPercent: number;
  readonly machineCpus: number;
  readonly machineMemoryUsedBytes: number;
  readonly machineMemoryTotalBytes: number;
}

/** Parses the aggregate `cpu` line of /proc/stat. */
export function parseCpuTimes(procStat: string): CpuTimes {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu ')) ?? '';
  const t = line.trim().split(/\s+/).slice(1).map(Number).filter(Number.isFinite);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const totalTicks = t.slice(0, 8).reduce((a, b) => a + b, 0);
  return { totalTicks, idleTicks: (t[3] ?? 0) + (t[4] ?? 0) };
}

/** Percent of the machine's CPUs busy between two readings of /proc/stat; 0 when no tick passed. */
export function machineCpuPercent(prev: CpuTimes, cur: CpuTimes): number {
  const total = cur.totalTicks - prev.totalTicks;
  if (!(total > 0)) return 0;
  const idle = Math.max(0, cur.idleTicks - prev.idleTicks);
  return Math.min(100, Math.max(0, ((total - idle) * 100) / total));
}

/** Sums a host's VM samples and adds the machine's own figures. */
export function hostSampleOf(
  atMs: number,
  vms: readonly VmSample[],
  machine: { readonly cpuPercent: number; readonly cpus: number; readonly memoryUsedBytes: number; readonly memoryTotalBytes: number },
): HostSample {
  const sum = (f: (s: VmSample) => number): number => vms.reduce((a, s) => a + f(s), 0);
  return {
    atMs,
    vms: vms.length,
    cpuPercent: sum((s) => s.cpuPercent),
    vcpuPercent: sum((s) => s.vcpuPercent),
    rssBytes: sum((s) => s.rssBytes),
    memoryBytes: sum((s) => s.memoryBytes),
    diskReadBytesPerSec: sum((s) => s.diskReadBytesPerSec),
    diskWriteBytesPerSec: sum((s) => s.diskWriteBytesPerSec),
    netRxBytesPerSec: sum((s) => s.netRxBytesPerSec),
    netTxBytesPerSec: sum((s) => s.netTxBytesPerSec),
    machineCpuPercent: machine.cpuPercent,
    machineCpus: machine.cpus,
    machineMemoryUsedBytes: machine.memoryUsedBytes,
    machineMemoryTotalBytes: machine.memoryTotalBytes,
  };
}
